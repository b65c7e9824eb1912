// Headless Chromium participants in one conference through signal's page.
// Usage: node conference.mjs <base-url> <room> <codec> <participants> <seconds> [window]
// Prints one JSON line: per participant, its received video tracks' stats and errors;
// with a window, also what changed over the last <window> seconds (frames decoded per
// received track, frames its own camera encoded), sampled in all pages at once.
import { launch } from './chromium.mjs';

const [base, room, codec, count, seconds, window] = process.argv.slice(2);
const n = Number(count || 3);
// MUTED=1,2 joins those participants (by index) with the microphone off.
const muted = (process.env.MUTED || '').split(',').filter((x) => x !== '').map(Number);
const browser = await launch();
const logs = [];
try {
  const pages = [];
  for (let i = 0; i < n; i++) {
    const ctx = await browser.newContext({ permissions: ['camera', 'microphone'] });
    const page = await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error') logs.push(`p${i}: ${m.text()}`); });
    await page.goto(`${base}/c/${room}?codec=${codec}&name=p${i}&autojoin=1&mic=${muted.includes(i) ? 0 : 1}${process.env.QUERY || ''}`);
    pages.push(page);
  }
  const sample = () => Promise.all(pages.map((p) => p.evaluate(async () =>
    ({ id: window.app.id, errors: window.app.errors, video: await window.app.stats(), sent: await window.app.sentFrames(),
      speaking: window.app.speaking }))));
  const total = Number(seconds || 10) * 1000, win = Number(window || 0) * 1000;
  await new Promise((r) => setTimeout(r, total - win));
  const before = win ? await sample() : null;
  if (win) await new Promise((r) => setTimeout(r, win));
  const result = await sample();
  if (before) {
    result.forEach((p, i) => {
      p.window = { sent: p.sent - before[i].sent, decoded: p.video.map((v) => {
        const b = before[i].video.find((x) => x.ssrc === v.ssrc);
        return v.framesDecoded - (b ? b.framesDecoded : 0);
      }) };
    });
  }
  console.log(JSON.stringify({ participants: result, console: logs.slice(0, 20) }));
} finally {
  await browser.close();
}
process.exit(0);
