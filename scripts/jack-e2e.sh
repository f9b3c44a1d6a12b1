#!/usr/bin/env bash
# End to end through JACK: a dummy JACK server, Continuo's standalone app, a looping MIDI
# phrase in (jack_midiseq) and a MIDI recorder out (jack_midi_dump). Passes if Continuo sends
# note-ons back after the phrase. Needs Debian's jackd2 (servers and example clients) and
# the ALSA headers the standalone's audio backend links:
#   sudo apt-get install jackd2 libjack-jackd2-dev libasound2-dev pkg-config
# Usage: scripts/jack-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --features standalone --bin continuo-standalone
app="${CARGO_TARGET_DIR:-target}/release/continuo-standalone"
log="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT

export JACK_DEFAULT_SERVER=continuo-e2e
source scripts/jack-phrase.sh
start_continuo_with_looping_phrase "$app"
# The first answer comes a few seconds in; allow a slow machine 60 s.
ons=0
for _ in $(seq 120); do
    ons=$(grep -c "note on" "$log/midi-out.txt" || true)
    [[ "$ons" -ge 1 ]] && break
    sleep 0.5
done
echo "Continuo sent $ons note-on messages (logs in $log)"
jack_lsp -c >"$log/ports.txt" 2>&1 || true
if [[ "$ons" -lt 1 ]]; then
    echo "FAILED: no answer came back"; cat "$log/continuo.log" "$log/ports.txt"; exit 1
fi
echo "jack end-to-end passed"
