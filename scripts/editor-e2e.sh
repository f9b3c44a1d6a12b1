#!/usr/bin/env bash
# The editor, for real: Continuo's standalone app on a virtual X server (Xvfb), drawing with
# iced's tiny-skia software renderer (Xvfb has no GPU), hearing a looping MIDI phrase through a
# dummy JACK server as in scripts/jack-e2e.sh. Passes if
#  - a screenshot shows the phrase's colour in the piano roll's rows of the keys played, and
#    the answer's colour in the roll;
#  - a click (xdotool) at the right end of the Answer Channel slider moves the answers Continuo
#    sends to channel 16, as the MIDI coming out of it shows.
# Saves the screenshot of the editor as docs/editor.png. Needs Debian's xvfb, xdotool and
# imagemagick, and what jack-e2e.sh needs.
# With CONTINUO_E2E_PROFILE=debug it runs a debug build that aborts if process() allocates
# (nice-plug's assert_process_allocs), so the editor's display pushes are checked with it open.
# Usage: scripts/editor-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${CONTINUO_E2E_PROFILE:-release}"
if [[ "$profile" == release ]]; then
    cargo build --release --features standalone --bin continuo-standalone
else
    cargo build --features standalone,assert_process_allocs --bin continuo-standalone
fi
app="${CARGO_TARGET_DIR:-target}/$profile/continuo-standalone"
log="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT

# Colours and layout of the editor (src/plugin/editor): the roll's background, the phrase's and
# the answer's notes; the keys the roll shows (the default answer range, 36-96, holds every note
# here); where the Answer Channel slider's right end is, from the window's top left.
roll_background="#1C1D22"
phrase_colour="#40C4FF"
answer_colour="#FF9100"
lowest_key=36
highest_key=96
answer_channel_slider_end=(812 463)

# A virtual screen; -displayfd picks a free display number.
exec 3>"$log/display"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$log/xvfb.log" 2>&1 &
for _ in $(seq 50); do [[ -s "$log/display" ]] && break; sleep 0.1; done
export DISPLAY=":$(head -n1 "$log/display")"
export ICED_BACKEND=tiny-skia

export JACK_DEFAULT_SERVER=continuo-editor-e2e
source scripts/jack-phrase.sh
start_continuo_with_looping_phrase "$app"

fail() { echo "FAILED: $1 (logs and screenshots in $log)"; cat "$log/continuo.log"; exit 1; }

window=""
for _ in $(seq 150); do
    window="$(xdotool search --name '^Continuo$' 2>/dev/null | head -n1 || true)"
    [[ -n "$window" ]] && break
    sleep 0.2
done
[[ -n "$window" ]] || fail "the editor window did not open"
eval "$(xdotool getwindowgeometry --shell "$window")"  # X, Y, WIDTH, HEIGHT

# Pixels of a colour in an image, and the box around them (WxH+X+Y).
count_colour() { convert "$1" -alpha off -fuzz 2% -fill black +opaque "$2" -fill white -opaque "$2" -format '%[fx:round(mean*w*h)]' info: 2>/dev/null; }
colour_box() { convert "$1" -alpha off -fuzz 2% -fill black +opaque "$2" -format '%@' info: 2>/dev/null; }
box_part() { # the Nth number (1 W, 2 H, 3 X, 4 Y) of WxH+X+Y
    echo "$1" | tr 'x+' '  ' | cut -d' ' -f"$2"
}

# Wait for a frame with the phrase and an answer in the roll.
shot="$log/editor.png"
roll="$log/roll.png"
for attempt in $(seq 90); do
    import -window root "$log/screen.png"
    convert "$log/screen.png" -crop "${WIDTH}x${HEIGHT}+${X}+${Y}" +repage "$shot"
    roll_box="$(colour_box "$shot" "$roll_background")"
    convert "$shot" -crop "$roll_box" +repage "$roll" 2>/dev/null || true
    phrase_pixels="$(count_colour "$roll" "$phrase_colour")"
    answer_pixels="$(count_colour "$roll" "$answer_colour")"
    [[ "$phrase_pixels" -gt 20 && "$answer_pixels" -gt 20 ]] && break
    sleep 1
done
echo "roll at $roll_box: $phrase_pixels phrase pixels, $answer_pixels answer pixels (after ${attempt} s)"
[[ "$phrase_pixels" -gt 20 ]] || fail "no phrase notes in the roll"
[[ "$answer_pixels" -gt 20 ]] || fail "no answer notes in the roll"
[[ "$(convert "$shot" -format '%[fx:standard_deviation]' info:)" != 0 ]] || fail "the screenshot is blank"

# The phrase's notes lie in the rows of keys 60 (C) to 67 (G), high keys at the top.
phrase_box="$(colour_box "$roll" "$phrase_colour")"
phrase_top="$(box_part "$phrase_box" 4)"
phrase_bottom="$((phrase_top + $(box_part "$phrase_box" 2)))"
awk -v height="$(box_part "$roll_box" 2)" -v top="$phrase_top" -v bottom="$phrase_bottom" \
    -v low="$lowest_key" -v high="$highest_key" 'BEGIN {
        row = height / (high - low + 1); top_allowed = (high - 67) * row - 1; bottom_allowed = (high - 60 + 1) * row + 1
        printf "phrase notes span y %d-%d of the roll; the rows of keys 60-67 span y %.1f-%.1f\n", top, bottom, top_allowed, bottom_allowed
        exit !(top >= top_allowed && bottom <= bottom_allowed)
    }' || fail "the phrase is not drawn in its keys' rows"
mkdir -p docs
cp "$shot" docs/editor.png

# Answers come on channel 1 until the click moves them to channel 16.
grep -q "note on .*(channel 15)" "$log/midi-out.txt" && fail "an answer on channel 16 before the click"
xdotool mousemove --window "$window" "${answer_channel_slider_end[@]}" click 1
on_16=0
for _ in $(seq 80); do
    on_16="$(grep -c "note on .*(channel 15)" "$log/midi-out.txt" || true)"
    [[ "$on_16" -ge 1 ]] && break
    sleep 0.5
done
import -window root "$log/after-click.png"
[[ "$on_16" -ge 1 ]] || fail "the click on Answer Channel did not move the answer to channel 16"
echo "after the click Continuo answered on channel 16 ($on_16 note-ons)"
kill -0 "$app_pid" 2>/dev/null || fail "the app quit (an allocation in process() aborts a debug build)"
echo "editor end-to-end passed"
