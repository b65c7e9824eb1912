// Simulcast through signal's page: one Chromium publishes three encodings, two
// others only receive. Once the second receiver decodes, its video (found by the
// SSRC it receives) is policed to <limit> kbit/s in this network namespace with
// iptables hashlimit, so mediad must serve it a layer that fits.
// Usage: node simulcast.mjs <base-url> <room> <seconds> <limit-kbit>
// Prints one JSON line: per receiver the frame widths and rates sampled once a second over
// the second half of the run, the publisher's encodings, and errors.
import { launch } from './chromium.mjs';
import { execFileSync } from 'node:child_process';

const [base, room, seconds, limit] = process.argv.slice(2);
// Three encodings of a 640x480 camera (Chromium keeps only two at this size by
// default): a third of the encoding work of 960x720 on a two-core test machine.
const browser = await launch(['--force-fieldtrials=WebRTC-LegacySimulcastLayerLimit/Disabled/']);
const logs = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
try {
  const open = async (name, query) => {
    const ctx = await browser.newContext({ permissions: ['camera', 'microphone'] });
    const page = await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error') logs.push(`${name}: ${m.text()}`); });
    await page.goto(`${base}/c/${room}?codec=VP8&name=${name}&autojoin=1${query}`);
    return page;
  };
  const publisher = await open('pub', '&simulcast=1&mic=0');
  const wide = await open('wide', '&publish=0');
  const narrow = await open('narrow', '&publish=0');
  const stats = (p) => p.evaluate(() => window.app.stats());
  const start = Date.now(), total = Number(seconds) * 1000;
  let policed = null;
  while (!policed && Date.now() - start < total / 2) {
    const v = (await stats(narrow)).find((x) => x.framesDecoded > 0);
    const port = v && await narrow.evaluate(() => window.app.subPort());
    if (v && port) {
      const ssrc = '0x' + (v.ssrc >>> 0).toString(16).padStart(8, '0');
      // RTP starts 8 bytes into the UDP payload's header: the SSRC is at UDP+16.
      const kbytes = Math.round(Number(limit) / 8);
      // iptables wants a burst of at least a second's worth.
      // The SSRC is the track's for every receiver: the port picks this receiver's copy.
      execFileSync('iptables', ['-A', 'OUTPUT', '-p', 'udp', '--dport', String(port), '-m', 'u32', '--u32', `0>>22&0x3C@16=${ssrc}`,
        '-m', 'hashlimit', '--hashlimit-above', `${kbytes}kb/s`, '--hashlimit-burst', `${kbytes + 1}kb`,
        '--hashlimit-name', 'narrow', '-j', 'DROP']);
      policed = { ssrc: v.ssrc, port, at_ms: Date.now() - start };
    } else {
      await sleep(250);
    }
  }
  await sleep(Math.max(0, total / 2 - (Date.now() - start)));
  const samples = { wide: [], narrow: [] }, fps = { wide: [], narrow: [] };
  while (Date.now() - start < total) {
    for (const [name, page] of [['wide', wide], ['narrow', narrow]]) {
      const v = (await stats(page))[0];
      samples[name].push(v ? v.frameWidth : 0);
      fps[name].push(v ? v.framesPerSecond : 0);
    }
    await sleep(1000);
  }
  const last = { wide: (await stats(wide))[0] || null, narrow: (await stats(narrow))[0] || null };
  const errors = await Promise.all([publisher, wide, narrow].map((p) => p.evaluate(() => window.app.errors)));
  const sent = await publisher.evaluate(() => window.app.sentLayers());
  console.log(JSON.stringify({ policed, samples, fps, last, sent, errors, console: logs.slice(0, 20) }));
} finally {
  await browser.close();
}
process.exit(0);
