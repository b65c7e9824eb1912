"""Two aiortc peers that may only use TURN relay candidates (iceTransportPolicy=relay)
connect through the TURN server given on the command line and exchange data-channel
messages. Prints one JSON line: messages echoed and the nominated candidate types.

usage: webrtc_relay_only.py PORT USER PASSWORD [MESSAGES]
"""
import asyncio
import json
import sys

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy


def config(port, user, password):
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=f"turn:127.0.0.1:{port}?transport=udp", username=user, credential=password)],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


def nominated_types(pc):
    # aiortc keeps the aioice connection private; read the nominated pair if we can.
    try:
        conn = pc.sctp.transport.transport._connection
        pair = next(iter(conn._nominated.values()))
        return pair.local_candidate.type, pair.remote_candidate.type
    except Exception as e:  # noqa: BLE001 - report rather than fail on an aiortc internal change
        return f"unknown ({e})", "unknown"


async def main(port, user, password, count):
    a = RTCPeerConnection(config(port, user, password))
    b = RTCPeerConnection(config(port, user, password))
    received = []
    done = asyncio.Event()

    @b.on("datachannel")
    def on_channel(channel):
        @channel.on("message")
        def on_message(message):
            channel.send(message)  # echo

    channel = a.createDataChannel("probe")

    @channel.on("message")
    def on_echo(message):
        received.append(message)
        if len(received) == count:
            done.set()

    opened = asyncio.Event()
    channel.on("open", opened.set)

    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    for sdp in (a.localDescription.sdp, b.localDescription.sdp):
        if "typ host" in sdp or "typ srflx" in sdp:
            raise SystemExit("relay policy offered non-relay candidates")

    await asyncio.wait_for(opened.wait(), 30)
    for i in range(count):
        channel.send(f"message {i}")
    await asyncio.wait_for(done.wait(), 30)
    local, remote = nominated_types(a)
    print(json.dumps({"messages": len(received), "in_order": received == [f"message {i}" for i in range(count)],
                      "local_type": local, "remote_type": remote}))
    await a.close()
    await b.close()


if __name__ == "__main__":
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    asyncio.run(main(port, user, password, count))
