#!/usr/bin/env bash
# Start the appliance on loopback with embedded defaults: mediad (media plane) and
# signal (status page, API), no configuration file, no external service.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --bins -p mediad -p signal -p control
TURN_PORT=${TURN_PORT:-3478}
echo "STUN/TURN: turn:127.0.0.1:${TURN_PORT}?transport=udp (and tcp), turns:127.0.0.1:5349  user demo  password demo  (realm mediad.local)"
echo "           turnutils_uclient -u demo -w demo -p ${TURN_PORT} -e <peer> 127.0.0.1"
exec ./target/release/signal --spawn-mediad ./target/release/mediad --http "${HTTP:-127.0.0.1:8080}" --sip "${SIP:-127.0.0.1:5060}" \
  --mediad-args --metrics 127.0.0.1:9464 --turn --turn-port "$TURN_PORT" --turn-user demo:demo "$@"
