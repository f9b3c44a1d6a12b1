# Sourced by jack-e2e.sh and editor-e2e.sh: a dummy JACK server named $JACK_DEFAULT_SERVER, a
# looping phrase into it and a MIDI recorder out of it, then Continuo's standalone app between
# them. Logs go to the folder $log; the app's process id is left in $app_pid.
#
# The phrase, looped every 10 s at 48 kHz: C D E F G as 0.25 s notes, then 8.75 s of silence
# (at the standalone's 120 BPM: one bar of notes, the 1-beat gap, a 2-bar answer, and more).
# jack_midiseq's arguments: name, loop length in samples, then (start sample, key, length).
start_continuo_with_looping_phrase() {
    local app="$1"
    jackd --no-realtime -n "$JACK_DEFAULT_SERVER" -d dummy -r 48000 -p 256 >"$log/jackd.log" 2>&1 &
    for _ in $(seq 50); do jack_lsp >/dev/null 2>&1 && break; sleep 0.2; done
    jack_midiseq phrase 480000 0 60 11000 12000 62 11000 24000 64 11000 36000 65 11000 48000 67 11000 &
    jack_midi_dump -a >"$log/midi-out.txt" 2>&1 &
    sleep 1
    "$app" --backend jack --connect-jack-midi-input phrase:out --connect-jack-midi-output midi-monitor:input \
        >"$log/continuo.log" 2>&1 &
    app_pid=$!
}
