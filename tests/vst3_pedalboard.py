"""VST3 host test: Continuo.vst3 loaded as an instrument in pedalboard (JUCE's VST3 host).

Usage: python tests/vst3_pedalboard.py path/to/Continuo.vst3   (run by `cargo xtask test`)

Lists the parameters, renders a one-bar phrase followed by silence with the host transport
stopped (so the plugin's tempo parameter, 120 BPM, is the clock), and checks that the preview
voice is silent while the plugin listens and sounds during the answer window.
"""

import sys

import numpy as np
import pedalboard

SAMPLE_RATE = 48_000
SECONDS_PER_BEAT = 0.5  # the plugin's default tempo when the host transport is stopped
PHRASE = [(0.0, 60), (0.5, 62), (1.0, 64), (1.5, 65), (2.0, 67)]  # (beat, key)
EXPECTED_PARAMETERS = {
    "Temperature", "Top-p", "Answer Length (bars)", "Response Gap (beats)", "Thru",
    "Preview Volume (%)", "Seed (0 = new each answer)", "Scale Lock", "Scale Root",
    "Lowest Pitch (MIDI note)", "Highest Pitch (MIDI note)", "Tempo When Stopped (BPM)",
    "Continue", "Answer Over Player", "Bypass", "Follow Voices",
}


def phrase_messages():
    """The phrase as (MIDI bytes, seconds): eighths, then a half note ending on beat 4."""
    messages = []
    for index, (beat, key) in enumerate(PHRASE):
        length = 2.0 if index == len(PHRASE) - 1 else 0.45
        messages.append((bytes([0x90, key, 100]), beat * SECONDS_PER_BEAT))
        messages.append((bytes([0x80, key, 0]), (beat + length) * SECONDS_PER_BEAT))
    return messages


def rms(audio, from_beat, to_beat):
    start, end = (int(b * SECONDS_PER_BEAT * SAMPLE_RATE) for b in (from_beat, to_beat))
    return float(np.sqrt(np.mean(np.square(audio[:, start:end]))))


def main():
    plugin = pedalboard.load_plugin(sys.argv[1])
    assert plugin.is_instrument, "Continuo loads as an instrument"
    names = {parameter.name for parameter in plugin.parameters.values()}
    missing = EXPECTED_PARAMETERS - names
    assert not missing, f"parameters missing: {missing}"
    print(f"{len(EXPECTED_PARAMETERS)} Continuo parameters listed")

    audio = plugin(phrase_messages(), duration=14 * SECONDS_PER_BEAT, sample_rate=SAMPLE_RATE,
                   num_channels=2, buffer_size=512)
    assert audio.shape[0] == 2, audio.shape
    # The phrase ends on beat 4; after the 1-beat gap the 2-bar answer spans beats 5 to 13.
    listening, answering = rms(audio, 0.0, 4.9), rms(audio, 5.0, 13.0)
    print(f"RMS while listening {listening:.5f}, during the answer {answering:.5f}")
    assert listening == 0.0, "without thru the plugin is silent while it listens"
    assert answering > 1e-3, "the preview voice sounds in the answer window"
    print("VST3 test passed")


if __name__ == "__main__":
    main()
