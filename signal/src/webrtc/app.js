// The conference page: preview, join by conference id (and PIN), publish camera and
// microphone on one peer connection, receive everyone else on a second one that the
// server offers (and re-offers as people come and go). No external code.
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// Hear the room as one mixed stream from the server instead of a track per speaker.
const mixMode = params.get('audio') === 'mix';
// `?mcu=1` (1280x720) or `?mcu=640x360`: also take the server's composed picture of
// the conference (the MCU view), next to the participants' own tracks.
function mcuAsked() {
  const v = params.get('mcu');
  if (!v || v === '0') return undefined;
  const m = /^(\d+)x(\d+)$/.exec(v);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : true;
}
const app = { id: null, joined: false, names: {}, errors: [], pub: null, sub: null, ws: null, local: null, speaking: null };
window.app = app;

// `?relay=1` forces the TURN path (for tests and for checking a TURN deployment).
function pcConfig() {
  return { bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require', iceServers: app.iceServers || [],
    iceTransportPolicy: params.get('relay') === '1' ? 'relay' : 'all' };
}

function setStatus(s) { $('status').textContent = s; }

function send(msg) { if (app.ws && app.ws.readyState === 1) app.ws.send(JSON.stringify(msg)); }

function tile(pid) {
  let t = $('tile-' + pid);
  if (!t) {
    t = document.createElement('div');
    t.className = 'tile';
    t.id = 'tile-' + pid;
    const v = document.createElement('video');
    v.autoplay = true; v.playsInline = true;
    const n = document.createElement('span');
    n.className = 'name';
    t.append(v, n);
    $('grid').append(t);
  }
  const screen = String(pid).endsWith('-screen'), who = screen ? String(pid).slice(0, -7) : pid;
  t.querySelector('.name').textContent = (app.names[who] || ('participant ' + who)) + (screen ? ' (screen)' : '');
  return t;
}

// One capture for the page: the preview at load and the publisher share it (two
// concurrent getUserMedia calls would leave the buttons driving the wrong tracks).
let capture = null;
function preview() {
  const width = Number(params.get('width') || 640), height = Math.round(width * 3 / 4);
  // `?aproc=0`: no echo cancellation, noise suppression or gain control (a test tone
  // would be treated as noise).
  const audio = params.get('aproc') === '0' ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false } : true;
  capture = capture || navigator.mediaDevices.getUserMedia({ audio, video: { width, height } }).then((s) => {
    app.local = s;
    $('preview').srcObject = s;
    return s;
  });
  return capture;
}

// `?codec=VP8|H264|AV1|VP9` puts that codec first (the server takes the first it forwards).
function preferCodec(transceiver, kind) {
  const want = (params.get('codec') || '').toLowerCase();
  if (kind !== 'video' || !want || !RTCRtpSender.getCapabilities) return;
  const caps = RTCRtpSender.getCapabilities('video').codecs;
  const first = caps.filter((c) => c.mimeType.toLowerCase() === 'video/' + want &&
    (want !== 'h264' || (c.sdpFmtpLine || '').includes('packetization-mode=1')));
  const rest = caps.filter((c) => !first.includes(c));
  if (first.length) transceiver.setCodecPreferences(first.concat(rest));
}

const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 100000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 300000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 900000 },
];

async function publish() {
  const stream = await preview();
  // `?mic=0`: join muted (the track sends silence, so audio levels say so).
  if (params.get('mic') === '0') toggle('audio', $('mic'), 'Mute mic', 'Unmute mic');
  app.pub = new RTCPeerConnection(pcConfig());
  for (const track of stream.getTracks()) {
    // `?audio=mix`: the microphone's transceiver also receives the room's mix.
    const init = { direction: track.kind === 'audio' && mixMode ? 'sendrecv' : 'sendonly', streams: [stream] };
    // `?simulcast=1`: three encodings, leanest first (the server serves each receiver
    // the one its bandwidth allows).
    if (track.kind === 'video' && params.get('simulcast') === '1') init.sendEncodings = SIMULCAST;
    const tr = app.pub.addTransceiver(track, init);
    preferCodec(tr, track.kind);
  }
  app.pub.ontrack = (e) => {
    if (e.track.kind !== 'audio') return;
    app.mix = new MediaStream([e.track]);
    $('mix').srcObject = app.mix;
  };
  app.pub.onconnectionstatechange = () => setStatus('publishing: ' + app.pub.connectionState);
  const offer = await app.pub.createOffer();
  await app.pub.setLocalDescription(offer);
  send({ type: 'publish', sdp: app.pub.localDescription.sdp });
}

// Share a screen on a third connection: the others get it as a track, and where the
// server composes the conference it fills the layout's content tile.
async function share() {
  if (app.screen) { unshare(); return; }
  const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  const track = stream.getVideoTracks()[0];
  app.screen = new RTCPeerConnection(pcConfig());
  preferCodec(app.screen.addTransceiver(track, { direction: 'sendonly', streams: [stream] }), 'video');
  track.onended = unshare;
  await app.screen.setLocalDescription(await app.screen.createOffer());
  send({ type: 'share', sdp: app.screen.localDescription.sdp });
  $('share').textContent = 'Stop sharing';
}
function unshare() {
  if (!app.screen) return;
  if (app.screen.remoteDescription) send({ type: 'unshare' });
  app.screen.getSenders().forEach((s) => s.track && s.track.stop());
  app.screen.close();
  app.screen = null;
  $('share').textContent = 'Share screen';
}
app.share = share;

async function onOffer(sdp) {
  if (!app.sub) {
    app.sub = new RTCPeerConnection(pcConfig());
    app.sub.ontrack = (e) => {
      const pid = e.streams[0] ? e.streams[0].id : 'unknown';
      if (pid === 'mcu') {
        app.mcu = e.track;
        app.mcuMid = e.transceiver && e.transceiver.mid;
        $('mcu').srcObject = new MediaStream([e.track]);
        $('tile-mcu').hidden = false;
        return;
      }
      const v = tile(pid).querySelector('video');
      if (!v.srcObject) v.srcObject = new MediaStream();
      v.srcObject.addTrack(e.track);
      e.track.onended = () => v.srcObject && v.srcObject.removeTrack(e.track);
    };
  }
  await app.sub.setRemoteDescription({ type: 'offer', sdp });
  const answer = await app.sub.createAnswer();
  await app.sub.setLocalDescription(answer);
  send({ type: 'answer', sdp: app.sub.localDescription.sdp });
}

function onMessage(m) {
  switch (m.type) {
    case 'joined':
      app.id = m.id; app.joined = true;
      for (const p of m.participants) { app.names[p.id] = p.name; }
      if (m.speaker !== null && m.speaker !== undefined) app.speaking = m.speaker;
      app.iceServers = m.ice_servers || [];
      setStatus('joined ' + m.room + ' as #' + m.id);
      ['mic', 'cam', 'share', 'leave'].forEach((b) => { $(b).disabled = false; });
      if (params.get('publish') !== '0') publish().catch((e) => fail(e));
      break;
    case 'answer': app.pub.setRemoteDescription({ type: 'answer', sdp: m.sdp }).catch(fail); break;
    case 'share_answer': if (app.screen) app.screen.setRemoteDescription({ type: 'answer', sdp: m.sdp }).catch(fail); break;
    case 'offer': onOffer(m.sdp).catch(fail); break;
    case 'participant_joined': app.names[m.id] = m.name; break;
    case 'track_published': tile(m.id); break;
    case 'participant_left': ['', '-screen'].forEach((s) => { const t = $('tile-' + m.id + s); if (t) t.remove(); }); break;
    case 'active_speaker':
      document.querySelectorAll('.tile.speaking').forEach((t) => t.classList.remove('speaking'));
      app.speaking = m.id;
      if ($('tile-' + m.id)) $('tile-' + m.id).classList.add('speaking');
      break;
    case 'error':
      // A refused share (someone else is sharing) leaves no half-open connection.
      if (app.screen && !app.screen.remoteDescription) unshare();
      fail(new Error(m.message));
      break;
  }
}

function fail(e) { app.errors.push(String(e && e.message || e)); setStatus('error: ' + (e && e.message || e)); console.error(e); }

function join() {
  const room = $('room').value.trim();
  if (!room) { setStatus('enter a conference ID'); return; }
  history.replaceState(null, '', '/c/' + encodeURIComponent(room) + location.search);
  app.ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  app.ws.onopen = () => send({ type: 'join', room, name: $('name').value.trim(), pin: $('pin').value.trim() || undefined,
    publish: params.get('publish') !== '0', audio: mixMode ? 'mix' : undefined, mcu: mcuAsked() });
  app.ws.onmessage = (e) => onMessage(JSON.parse(e.data));
  app.ws.onclose = () => { setStatus('disconnected'); app.joined = false; };
  $('join').disabled = true;
}

function leave() {
  unshare();
  send({ type: 'leave' });
  for (const pc of [app.pub, app.sub]) if (pc) pc.close();
  app.pub = app.sub = null;
  if (app.ws) app.ws.close();
  document.querySelectorAll('.tile:not(#tile-self):not(#tile-mcu)').forEach((t) => t.remove());
  // The MCU view's tile stays for the next join, empty and hidden.
  $('mcu').srcObject = null;
  $('tile-mcu').hidden = true;
  app.mcu = null;
  ['mic', 'cam', 'share', 'leave'].forEach((b) => { $(b).disabled = true; });
  $('join').disabled = false;
}

function toggle(kind, button, on, off) {
  if (!app.local) return;
  for (const t of app.local.getTracks().filter((t) => t.kind === kind)) t.enabled = !t.enabled;
  const enabled = app.local.getTracks().some((t) => t.kind === kind && t.enabled);
  button.textContent = enabled ? on : off;
  button.classList.toggle('off', !enabled);
}

// What the tests read: per received video track (the MCU view apart), frames decoded
// and packets lost.
function videoStats(s, report) {
  const codec = s.codecId && report.get(s.codecId);
  return { ssrc: s.ssrc, framesDecoded: s.framesDecoded || 0, packetsLost: s.packetsLost || 0,
    packetsReceived: s.packetsReceived || 0, nackCount: s.nackCount || 0, pliCount: s.pliCount || 0,
    frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0, bytesReceived: s.bytesReceived || 0,
    framesPerSecond: s.framesPerSecond || 0, codec: codec ? codec.mimeType : null };
}
app.stats = async () => {
  const out = [];
  if (!app.sub) return out;
  const report = await app.sub.getStats();
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video' && !isMcu(s)) out.push(videoStats(s, report));
  });
  return out;
};
function isMcu(s) { return !!app.mcu && (s.trackIdentifier === app.mcu.id || (app.mcuMid !== undefined && s.mid === app.mcuMid)); }

// The MCU view: its inbound-rtp stats, and the colours it shows on a `cols` x `rows`
// grid of points (centres of equal cells), each [r, g, b], as the page draws it.
app.mcuStats = async () => {
  let out = null;
  if (!app.sub || !app.mcu) return out;
  const report = await app.sub.getStats();
  report.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video' && isMcu(s)) out = videoStats(s, report); });
  return out;
};
app.mcuPixels = (cols, rows) => {
  const v = $('mcu');
  if (!app.mcu || !v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(v, 0, 0);
  const out = [];
  for (let y = 0; y < rows; y++) {
    const row = [];
    for (let x = 0; x < cols; x++) {
      const d = g.getImageData(Math.floor((x + 0.5) * c.width / cols), Math.floor((y + 0.5) * c.height / rows), 1, 1).data;
      row.push([d[0], d[1], d[2]]);
    }
    out.push(row);
  }
  return { width: c.width, height: c.height, points: out };
};

// `?audio=mix`: what the mix brought so far, and `ms` of it as heard (mono samples at
// the audio context's rate, −1..1) for tone analysis. WebAudio reads the same stream
// the page's <audio> element plays.
app.mixStats = async () => {
  let out = null;
  if (!app.pub) return out;
  (await app.pub.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out = { ssrc: s.ssrc, packetsReceived: s.packetsReceived || 0, packetsLost: s.packetsLost || 0,
        audioLevel: s.audioLevel || 0, totalAudioEnergy: s.totalAudioEnergy || 0 };
    }
  });
  return out;
};
app.recordMix = (ms) => new Promise((resolve, reject) => {
  if (!app.mix) { reject(new Error('no mix track')); return; }
  const ctx = new AudioContext();
  const src = ctx.createMediaStreamSource(app.mix);
  const proc = ctx.createScriptProcessor(4096, 1, 1);
  const want = Math.round(ctx.sampleRate * ms / 1000), samples = [];
  proc.onaudioprocess = (e) => {
    if (samples.length >= want) return;
    for (const v of e.inputBuffer.getChannelData(0)) samples.push(v);
    if (samples.length >= want) {
      src.disconnect(); proc.disconnect(); ctx.close();
      resolve({ rate: ctx.sampleRate, samples: samples.slice(0, want).map((v) => Math.round(v * 32767)) });
    }
  };
  src.connect(proc);
  proc.connect(ctx.destination);
});

// The local port of the receiving connection's selected pair (tests police it).
app.subPort = async () => {
  if (!app.sub) return null;
  let port = null;
  const report = await app.sub.getStats();
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = report.get(s.selectedCandidatePairId);
      const local = pair && report.get(pair.localCandidateId);
      if (local) port = local.port;
    }
  });
  return port;
};

// What our camera sends per encoding (simulcast: one entry per RID).
app.sentLayers = async () => {
  const out = [];
  if (!app.pub) return out;
  (await app.pub.getStats()).forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') {
      out.push({ rid: s.rid || null, frameWidth: s.frameWidth || 0, framesEncoded: s.framesEncoded || 0,
        bytesSent: s.bytesSent || 0, limitation: s.qualityLimitationReason || null });
    }
  });
  return out;
};

// Frames our camera track has encoded so far (what receivers can at best decode).
app.sentFrames = async () => {
  let n = 0;
  if (!app.pub) return n;
  (await app.pub.getStats()).forEach((s) => { if (s.type === 'outbound-rtp' && s.kind === 'video') n += s.framesEncoded || 0; });
  return n;
};

$('join').onclick = join;
$('leave').onclick = leave;
$('mic').onclick = () => toggle('audio', $('mic'), 'Mute mic', 'Unmute mic');
$('cam').onclick = () => toggle('video', $('cam'), 'Stop camera', 'Start camera');
$('share').onclick = () => share().catch(fail);
const fromPath = location.pathname.startsWith('/c/') ? decodeURIComponent(location.pathname.slice(3)) : '';
$('room').value = fromPath || params.get('room') || '';
$('name').value = params.get('name') || '';
$('pin').value = params.get('pin') || '';
preview().catch(() => { capture = null; setStatus('no camera/microphone: you can still join'); });
if (params.get('autojoin') === '1' && $('room').value) join();
