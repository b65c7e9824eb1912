// The MCU view through signal's page: three Chromium publishers whose cameras are
// solid colours (red in AV1, lime in VP8, blue in H.264) and a viewer that publishes
// yellow and asks for the composite (`?mcu=640x360`) next to its SFU tracks.
// Usage: node mcu.mjs <base-url> <room> <seconds>
// Publishers join one by one (each decoding-ready before the next), so the room's
// join order is red, lime, blue, viewer. Then red shares a screen (magenta). Prints one
// JSON line: the viewer's MCU track stats, the colours it shows on a grid of points
// (sampled several times before and after the share), its SFU tracks' stats, what each
// publisher sent, and errors.
import { launch } from './chromium.mjs';

const [base, room, seconds] = process.argv.slice(2);
const browser = await launch();
const logs = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The page's camera becomes a canvas painted one colour (repainted every 40 ms so the
// capture keeps producing frames), its screen one in magenta; the microphone stays
// Chromium's fake one.
function paintedCamera(colour) {
  const painted = (fill, w, h) => {
    const canvas = document.createElement('canvas');
    canvas.width = w; canvas.height = h;
    const g = canvas.getContext('2d');
    const paint = () => { g.fillStyle = fill; g.fillRect(0, 0, w, h); };
    paint();
    setInterval(paint, 40);
    return canvas.captureStream(25).getVideoTracks()[0];
  };
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (want) => {
    const audio = want && want.audio ? await original({ audio: want.audio }) : new MediaStream();
    return new MediaStream([...audio.getAudioTracks(), painted(colour, 320, 240)]);
  };
  navigator.mediaDevices.getDisplayMedia = async () => new MediaStream([painted('#ff00ff', 640, 360)]);
}

try {
  const open = async (name, colour, query) => {
    const ctx = await browser.newContext({ permissions: ['camera', 'microphone'] });
    const page = await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error') logs.push(`${name}: ${m.text()}`); });
    await page.addInitScript(paintedCamera, colour);
    await page.goto(`${base}/c/${room}?name=${name}&autojoin=1&mic=0${query}`);
    // In the room's order: wait until this one's camera is being sent.
    const until = Date.now() + 15000;
    while (Date.now() < until && !((await page.evaluate(() => window.app.sentFrames())) > 0)) await sleep(200);
    return page;
  };
  const publishers = [
    ['red', '#ff0000', '&codec=AV1'],
    ['lime', '#00ff00', '&codec=VP8'],
    ['blue', '#0000ff', '&codec=H264'],
  ];
  const pages = [];
  for (const [name, colour, query] of publishers) pages.push(await open(name, colour, query));
  const viewer = await open('viewer', '#ffff00', '&codec=VP8&mcu=640x360');
  // Thirds of the run: settle, five shots of a 16x9 grid of points ([r, g, b] each),
  // red shares its screen, settle, five shots.
  const third = Number(seconds) * 1000 / 3;
  const grid = async () => {
    const out = [];
    for (let i = 0; i < 5; i++) {
      out.push(await viewer.evaluate(() => window.app.mcuPixels(16, 9)));
      await sleep(third / 10);
    }
    return out;
  };
  await sleep(third);
  const shots = await grid();
  await pages[0].evaluate(() => window.app.share());
  await sleep(third / 2);
  const shared = await grid();
  const mcu = await viewer.evaluate(() => window.app.mcuStats());
  const sfu = await viewer.evaluate(() => window.app.stats());
  const sent = await Promise.all(pages.map((p) => p.evaluate(() => window.app.sentLayers())));
  const errors = await Promise.all([...pages, viewer].map((p) => p.evaluate(() => window.app.errors)));
  console.log(JSON.stringify({ mcu, shots, shared, sfu, sent, errors, console: logs.slice(0, 20) }));
} finally {
  await browser.close();
}
process.exit(0);
