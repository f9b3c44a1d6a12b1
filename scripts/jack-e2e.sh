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
jackd --no-realtime -n continuo-e2e -d dummy -r 48000 -p 256 >"$log/jackd.log" 2>&1 &
for _ in $(seq 50); do jack_lsp >/dev/null 2>&1 && break; sleep 0.2; done

# The phrase, looped every 10 s at 48 kHz: C D E F G as 0.25 s notes, then 8.75 s of silence
# (at the standalone's 120 BPM: one bar of notes, the 1-beat gap, a 2-bar answer, and more).
# jack_midiseq's arguments: name, loop length in samples, then (start sample, key, length).
jack_midiseq phrase 480000 0 60 11000 12000 62 11000 24000 64 11000 36000 65 11000 48000 67 11000 &
jack_midi_dump -a >"$log/midi-out.txt" 2>&1 &
sleep 1

"$app" --backend jack --connect-jack-midi-input phrase:out --connect-jack-midi-output midi-monitor:input \
    >"$log/continuo.log" 2>&1 &
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
