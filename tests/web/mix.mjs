// One headless Chromium taking a conference's audio mix (`?audio=mix`), its
// microphone a WAV file. Usage: node mix.mjs <base-url> <room> <wav> <seconds>
// Waits <seconds>, then records 2 s of the mix as the page hears it (WebAudio) and
// prints one JSON line: the mix's inbound-rtp stats, the samples and their rate, errors.
import { launch } from './chromium.mjs';

const [base, room, wav, seconds] = process.argv.slice(2);
const browser = await launch([`--use-file-for-fake-audio-capture=${wav}`]);
const logs = [];
try {
  const ctx = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await ctx.newPage();
  page.on('console', (m) => { if (m.type() === 'error') logs.push(m.text()); });
  await page.goto(`${base}/c/${room}?name=web&autojoin=1&audio=mix&aproc=0`);
  await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
  const result = await page.evaluate(async () => {
    const stats = await window.app.mixStats();
    const heard = window.app.mix ? await window.app.recordMix(2000) : null;
    return { id: window.app.id, errors: window.app.errors, stats, heard };
  });
  console.log(JSON.stringify({ ...result, console: logs.slice(0, 20) }));
} finally {
  await browser.close();
}
process.exit(0);
