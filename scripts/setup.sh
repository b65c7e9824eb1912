#!/usr/bin/env bash
# Install what the appliance (and, with --test, the test suite) needs on Debian 12.
# Idempotent: installs only missing packages; safe to run on every start.
set -euo pipefail

# The audio MCU links libopus, spandsp (G.722) and bcg729 (G.729). The video MCU builds
# openh264 from source (nasm for its assembly) and links libvpx and libdav1d; its compositor
# compiles its shaders with glslc, runs them through the Vulkan loader on a GPU or on
# Mesa's lavapipe (mesa-vulkan-drivers), and draws names in DejaVu Sans Mono.
runtime=(build-essential pkg-config ca-certificates libssl-dev libopus-dev libspandsp-dev libbcg729-dev nasm libvpx-dev libdav1d-dev glslc libvulkan1 mesa-vulkan-drivers fonts-dejavu-core)
# Real peers the tests drive: ffmpeg (RTP senders/receivers), rtpengine (perf peer),
# coturn (its turnutils are the TURN test clients), openssl (s_client as a DTLS peer),
# taskset (util-linux) to pin, procps for process checks, iptables (packet loss in
# the NACK test), Chromium and Node.js
# (Playwright drives headless Chromium through the conference page), Janus (the SFU
# peer of `perf sfu`), sipp (Debian's sip-tester: RFC 2833 pcaps, SIP scenarios and
# `perf sip-calls`), baresip (a softphone dialling into a conference with Chromium),
# tshark (reads the RFC 4733 events mediad sends).
testing=(sip-tester baresip baresip-core tshark ffmpeg rtpengine-daemon coturn openssl util-linux procps iproute2 iptables python3 python3-venv chromium nodejs janus)

want=("${runtime[@]}")
[[ "${1:-}" == "--test" ]] && want+=("${testing[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Tests start their own rtpengine and use only coturn's client tools; the packaged
  # services are not wanted on a test machine (and coturn's would hold port 3478).
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    for unit in rtpengine-daemon coturn janus; do
      [[ " ${missing[*]} " == *" ${unit} "* ]] && $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
  fi
fi

# aiortc (a WebRTC peer) from PyPI, in a venv under target/ (Debian's Python refuses
# system-wide pip installs).
if [[ "${1:-}" == "--test" ]]; then
  venv="$(dirname "$0")/../target/peers-venv"
  if [[ ! -x "$venv/bin/python3" ]] || ! "$venv/bin/python3" -c "import aiortc, websockets" 2>/dev/null; then
    echo "setup: installing aiortc into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check aiortc websockets
  fi
fi

# playwright-core (drives the Chromium above; no browser download) from npm, pinned
# by tests/web/package-lock.json.
if [[ "${1:-}" == "--test" ]]; then
  web="$(dirname "$0")/../tests/web"
  if [[ ! -d "$web/node_modules/playwright-core" ]]; then
    if ! command -v npm >/dev/null; then
      # Debian's nodejs comes without npm (nodesource's includes it).
      SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
    fi
    echo "setup: installing playwright-core into $web/node_modules"
    (cd "$web" && npm ci --no-audit --no-fund --silent)
  fi
fi

if ! command -v cargo >/dev/null; then
  if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: a Rust toolchain (stable, 1.85 or newer) is required: https://rustup.rs" >&2
    exit 1
  fi
fi
