#!/usr/bin/env bash
# Every test: unit and system tests against real peers (ffmpeg), the perf harness
# contract, and a short run of every fuzz target. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"

# System tests start the binaries: build them first, same profile as the tests.
cargo build --workspace --bins
cargo test --workspace

# Fuzz smoke: every target for FUZZ_SECONDS (longer runs: see docs/fuzzing.md).
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
if [[ "$FUZZ_SECONDS" != 0 ]]; then
  command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz
  ( cd fuzz
    for t in $(RUSTC_BOOTSTRAP=1 cargo fuzz list); do
      echo "fuzz: $t for ${FUZZ_SECONDS}s"
      RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" -- -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 2>&1 | tail -n 2
    done )
fi
echo "all tests passed"
