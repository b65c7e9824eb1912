#!/usr/bin/env bash
# Regenerate the spoken prompts in prompts/en (committed; run only to change a text).
# espeak-ng speaks, ffmpeg makes 16 kHz mono 16-bit PCM WAV (what mediad's prompt
# player reads; 16 kHz keeps G.722 callers' prompts wideband).
set -euo pipefail
cd "$(dirname "$0")/../prompts/en"
say() {
  espeak-ng -v en-us -s 150 -w /tmp/prompt-$$.wav "$2"
  ffmpeg -loglevel error -y -i /tmp/prompt-$$.wav -ar 16000 -ac 1 -c:a pcm_s16le "$1.wav"
  rm -f /tmp/prompt-$$.wav
}
say enter-pin "Please enter the conference PIN, followed by the pound key."
say wrong-pin "That PIN is not correct. Please try again."
say pin-failed "That PIN is not correct. Goodbye."
say welcome "You are now joining the conference."
