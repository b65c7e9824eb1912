#!/usr/bin/env bash
# Install what the appliance (and, with --test, the test suite) needs on Debian 12.
# Idempotent: installs only missing packages; safe to run on every start.
set -euo pipefail

runtime=(build-essential pkg-config ca-certificates)
# Real peers the tests drive: ffmpeg (RTP senders/receivers), rtpengine (perf peer),
# taskset (util-linux) to pin it, procps for process checks.
testing=(ffmpeg rtpengine-daemon util-linux procps iproute2)

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
  # The perf harness starts its own rtpengine on private ports; the packaged service
  # is not wanted on a test machine.
  if [[ " ${missing[*]} " == *" rtpengine-daemon "* ]] && command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now rtpengine-daemon >/dev/null 2>&1 || true
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
