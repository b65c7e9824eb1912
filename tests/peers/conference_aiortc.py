"""aiortc as a conference participant through signal's WebSocket: it publishes a
generated video track and receives everyone else's, like the browser page does (a
publisher connection it offers, a subscriber connection the server offers).
Prints one JSON line: frames received per remote track, and errors.

usage: conference_aiortc.py WS_URL ROOM SECONDS
"""
import asyncio
import fractions
import json
import sys
import time

import aioice.ice
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from av import VideoFrame

# aioice drops 127.0.0.1 from its host candidates; the test runs on loopback only.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


class Pattern(VideoStreamTrack):
    """A moving gradient (a constant frame would encode to almost nothing)."""

    def __init__(self):
        super().__init__()
        self.n = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=320, height=240, format="rgb24")
        shade = (self.n * 7) % 256
        for plane in frame.planes:
            plane.update(bytes([shade]) * plane.buffer_size)
        self.n += 1
        frame.pts, frame.time_base = pts, time_base
        return frame


async def main(url, room, seconds):
    cfg = RTCConfiguration(iceServers=[])
    pub, sub = RTCPeerConnection(cfg), RTCPeerConnection(cfg)
    frames, errors = {}, []

    async def count(track):
        frames[track.id] = 0
        while True:
            try:
                await track.recv()
            except Exception:  # noqa: BLE001 - the track ended
                return
            frames[track.id] += 1

    @sub.on("track")
    def on_track(track):
        if track.kind == "video":
            asyncio.ensure_future(count(track))

    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "join", "room": room, "name": "aiortc"}))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(0.1, end - time.monotonic())))
            except asyncio.TimeoutError:
                break
            if m["type"] == "joined":
                pub.addTrack(Pattern())
                await pub.setLocalDescription(await pub.createOffer())
                await ws.send(json.dumps({"type": "publish", "sdp": pub.localDescription.sdp}))
            elif m["type"] == "answer":
                await pub.setRemoteDescription(RTCSessionDescription(m["sdp"], "answer"))
            elif m["type"] == "offer":
                await sub.setRemoteDescription(RTCSessionDescription(m["sdp"], "offer"))
                await sub.setLocalDescription(await sub.createAnswer())
                await ws.send(json.dumps({"type": "answer", "sdp": sub.localDescription.sdp}))
            elif m["type"] == "error":
                errors.append(m["message"])
        print(json.dumps({"frames": frames, "errors": errors, "publisher": pub.connectionState, "subscriber": sub.connectionState}), flush=True)
    await pub.close()
    await sub.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
