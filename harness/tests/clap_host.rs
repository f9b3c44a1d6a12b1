//! The real plugin in a real (headless) CLAP host: the dialogue, the notes' form and timing,
//! interruption, sound, parameters, and every path that must end sounding notes.

mod support;

use continuo_harness::{InputEvent, OutputNote, Playback, Recording, Transport};
use support::*;

/// The phrase starts here; it ends (last release) four beats later.
const PHRASE_START_BEATS: f64 = 0.25;
/// Host position of the first sample: off the beat, so the grid must come from the host.
const HOST_START_BEATS: f64 = 0.125;
/// Default response gap and answer length (2 bars of 4/4).
const GAP_BEATS: f64 = 1.0;
const ANSWER_BEATS: f64 = 8.0;
/// A second at 48 kHz: longer than the half beat an answer is asked for ahead of its start
/// at every tempo above 60 BPM.
const LONG_BLOCK: usize = 48_000;

fn phrase_end() -> f64 {
    PHRASE_START_BEATS + 4.0
}

/// The first answer starts on the first beat at or after the end of the gap.
fn answer_start() -> f64 {
    (phrase_end() + GAP_BEATS).ceil()
}

fn playback() -> Playback {
    Playback { start_beats: HOST_START_BEATS, ..Playback::default() }
}

fn note_ons(notes: &[OutputNote]) -> Vec<OutputNote> {
    notes.iter().filter(|note| note.on).copied().collect()
}

fn perform(offline: bool, events: &[(f64, InputEvent)], beats: f64, seed: u64) -> Recording {
    let mut plugin = load(offline, SAMPLE_RATE);
    plugin.perform(playback(), events, beats, block_sizes(seed, 1024)).expect("the plugin plays")
}

#[test]
fn a_phrase_is_answered_after_the_gap_with_well_formed_notes_on_the_hosts_grid() {
    let recording = perform(true, &phrase(PHRASE_START_BEATS), 16.0, 1);
    let ons = note_ons(&recording.notes);
    assert!(ons.len() >= 2, "an answer of two bars has notes: {:?}", recording.notes);
    assert_balanced(&recording.notes);
    let first_beat = recording.beat_of(ons[0].sample);
    assert!(first_beat >= answer_start() - 1e-6, "the answer waits for the gap: first note at beat {first_beat}");
    let sample_beats = 2.0 / SAMPLE_RATE;
    for note in &recording.notes {
        let beat = recording.beat_of(note.sample);
        assert!(beat <= answer_start() + ANSWER_BEATS + sample_beats, "note after the answer's end: {beat}");
        let ticks = beat * 24.0;
        assert!((ticks - ticks.round()).abs() * (1.0 / 24.0) <= sample_beats, "beat {beat} is off the 1/24 grid");
        assert!((36..=96).contains(&note.key), "key {} outside the default range", note.key);
        assert_eq!(note.channel, 0);
    }
    let answer_sound = recording.rms_between(answer_start(), answer_start() + ANSWER_BEATS);
    let gap_sound = recording.rms_between(PHRASE_START_BEATS, answer_start());
    assert!(answer_sound > 1e-3, "the preview voice sounds during the answer ({answer_sound})");
    assert_eq!(gap_sound, 0.0, "without thru, nothing sounds before the answer");
}

#[test]
fn an_offline_bounce_is_the_same_for_any_block_sizes() {
    let seed_parameter = |plugin: &mut continuo_harness::HostedPlugin| set_parameter(plugin, "Seed (0 = new each answer)", 77.0, 0.0, 99_999.0);
    let mut notes = vec![];
    for (sizes_seed, max_block) in [(3, 64), (4, 4096)] {
        let mut plugin = load(true, SAMPLE_RATE);
        let mut events = phrase(PHRASE_START_BEATS);
        events.push((HOST_START_BEATS, seed_parameter(&mut plugin)));
        let recording = plugin.perform(playback(), &events, 16.0, block_sizes(sizes_seed, max_block)).unwrap();
        notes.push(recording.notes.iter().map(|n| (n.sample, n.key, n.on)).collect::<Vec<_>>());
    }
    assert!(!notes[0].is_empty());
    assert_eq!(notes[0], notes[1], "the same seed gives the same answer");
}

/// Random phrases (3 to 20 notes, overlapping and repeated keys, the pedal now and then) at
/// random tempi, each bounced with blocks of up to 64, 4096 and 48,000 samples: the same notes
/// on the same samples. Failed before (here first at phrase 11; a hunt with other block sizes
/// found 11 of the first 400 phrases, the seeds listed past 100): a note on a tick between two
/// samples, or a key between two ticks, rounded either way with where its block began; an answer
/// finished at the last sample of the block its end fell in, one sample before its own
/// note-offs; and an answer asked for at the end of a block heard the keys released later in
/// that block. And with blocks longer than the half beat an answer is asked for ahead (15 of the
/// first 40 phrases with blocks of up to a second), an answer asked for at the block's end
/// started on a later beat.
#[test]
fn offline_bounces_of_random_phrases_at_random_tempi_agree_for_any_block_sizes() {
    for seed in (1..=100u64).chain([104, 154, 155, 202, 289, 297, 373, 397]) {
        let mut random = continuo_harness::workload::Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let notes = 3 + random.below(18);
        let playback = Playback { tempo_bpm: 70.0 + random.below(110) as f64, ..Playback::default() };
        let answer_bars = 1.0 + random.below(4) as f64;
        let mut events = vec![];
        for _ in 0..notes {
            let (start, length, key) = (1.0 + random.below(400) as f64 / 100.0, 0.05 + random.below(200) as f64 / 100.0, 40 + random.below(50) as u8);
            events.push((start, InputEvent::NoteOn { key, velocity: 0.1 + random.below(90) as f64 / 100.0 }));
            events.push((start + length, InputEvent::NoteOff { key }));
        }
        if random.below(3) == 0 {
            let down = 1.0 + random.below(300) as f64 / 100.0;
            events.extend([(down, InputEvent::Sustain { down: true }), (down + 1.5, InputEvent::Sustain { down: false })]);
        }
        let bounces: Vec<Vec<(u64, u8, bool)>> = [64, 4096, LONG_BLOCK]
            .map(|max_block| {
                let mut plugin = load_for_blocks_up_to(true, SAMPLE_RATE, max_block.max(MAX_BLOCK as usize) as u32);
                let mut events = events.clone();
                events.push((0.0, set_parameter(&mut plugin, "Seed (0 = new each answer)", 77.0, 0.0, 99_999.0)));
                events.push((0.0, set_parameter(&mut plugin, "Answer Length (bars)", answer_bars, 1.0, 16.0)));
                let recording = plugin.perform(playback, &events, 48.0, block_sizes(seed + max_block as u64, max_block)).unwrap();
                assert_balanced(&recording.notes);
                recording.notes.iter().map(|note| (note.sample, note.key, note.on)).collect()
            })
            .to_vec();
        assert!(!bounces[0].is_empty(), "phrase {seed} is answered");
        assert_eq!(bounces[0], bounces[1], "phrase {seed} at {} BPM", playback.tempo_bpm);
        assert_eq!(bounces[0], bounces[2], "phrase {seed} at {} BPM, blocks of up to a second", playback.tempo_bpm);
    }
}

#[test]
fn playing_during_the_answer_stops_it_with_every_note_off() {
    let interrupt_beat = answer_start() + 1.5;
    let mut events = phrase(PHRASE_START_BEATS);
    events.push((interrupt_beat, InputEvent::NoteOn { key: 72, velocity: 0.7 }));
    events.push((interrupt_beat + 0.5, InputEvent::NoteOff { key: 72 }));
    let recording = perform(true, &events, 12.0, 5);
    let interrupt_sample = recording.notes.iter().map(|n| n.sample).filter(|&s| recording.beat_of(s) <= interrupt_beat + 1e-9).max();
    let before: Vec<OutputNote> = recording.notes.iter().filter(|n| recording.beat_of(n.sample) <= interrupt_beat + 1e-6).copied().collect();
    assert!(!note_ons(&before).is_empty(), "the answer had begun");
    assert_balanced(&before);
    let resumed = recording.notes.iter().find(|n| n.on && recording.beat_of(n.sample) > interrupt_beat + 1e-6);
    if let Some(note) = resumed {
        let beat = recording.beat_of(note.sample);
        assert!(beat >= interrupt_beat + 0.5 + GAP_BEATS - 1e-6, "a new answer only after the new gap: {beat}");
    }
    assert!(interrupt_sample.is_some());
    let silent_from = interrupt_beat + 0.4; // the release of the last voice fades in 0.25 s
    let level = recording.rms_between(silent_from, interrupt_beat + 0.5);
    assert!(level < 1e-2, "the preview voice stopped ({level})");
}

#[test]
fn parameters_are_listed_and_change_the_behaviour() {
    let mut plugin = load(true, SAMPLE_RATE);
    let names: Vec<String> = plugin.parameters().into_iter().map(|p| p.name).collect();
    for expected in [
        "Temperature", "Top-p", "Answer Length (bars)", "Response Gap (beats)", "Thru", "Preview Volume (%)",
        "Seed (0 = new each answer)", "Scale Lock", "Scale Root", "Lowest Pitch (MIDI note)",
        "Highest Pitch (MIDI note)", "Tempo When Stopped (BPM)", "Continue", "Answer Over Player", "Input Channel",
        "Answer Channel", "Bypass", "Style Memory", "Forget", "Follow Voices",
    ] {
        assert!(names.iter().any(|name| name == expected), "{expected} missing from {names:?}");
    }
    let volume = plugin.parameter("Preview Volume (%)").unwrap();
    assert_eq!(volume.text, "70 %");

    let mut events = phrase(PHRASE_START_BEATS);
    events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Thru", 1.0, 0.0, 1.0)));
    events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Preview Volume (%)", 0.0, 0.0, 100.0)));
    events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Lowest Pitch (MIDI note)", 60.0, 21.0, 108.0)));
    events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Highest Pitch (MIDI note)", 67.0, 21.0, 108.0)));
    events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Answer Length (bars)", 1.0, 1.0, 16.0)));
    let recording = plugin.perform(playback(), &events, 12.0, block_sizes(9, 512)).unwrap();
    assert_eq!(plugin.parameter("Preview Volume (%)").unwrap().text, "0 %");
    let echoed = recording.notes.iter().filter(|n| recording.beat_of(n.sample) < phrase_end() + 1e-6).count();
    assert_eq!(echoed, 10, "thru passes the phrase's five notes on and off");
    let answer: Vec<&OutputNote> = recording.notes.iter().filter(|n| recording.beat_of(n.sample) >= answer_start() - 1e-6).collect();
    assert!(!answer.is_empty());
    assert!(answer.iter().all(|n| (60..=67).contains(&n.key)), "the pitch range holds: {answer:?}");
    let last = answer.iter().map(|n| recording.beat_of(n.sample)).fold(0.0, f64::max);
    assert!(last <= answer_start() + 4.0 + 1e-6, "one bar long: last event at {last}");
    assert_eq!(recording.rms_between(0.0, 12.0), 0.0, "volume 0 is silent");
    assert_balanced(&recording.notes);
}

#[test]
fn continue_answers_without_a_phrase() {
    let mut plugin = load(true, SAMPLE_RATE);
    let events = vec![(2.0, set_parameter(&mut plugin, "Continue", 1.0, 0.0, 1.0))];
    let recording = plugin.perform(playback(), &events, 12.0, block_sizes(2, 256)).unwrap();
    let first = note_ons(&recording.notes).first().map(|n| recording.beat_of(n.sample));
    assert!(first.is_some_and(|beat| beat >= 2.0), "an answer after the trigger: {first:?}");
    assert_balanced(&recording.notes);
}

/// How many answer notes are sounding at the end of a recording.
fn sounding(notes: &[OutputNote]) -> i32 {
    notes.iter().map(|note| if note.on { 1 } else { -1 }).sum()
}

/// Runs the phrase into its answer until an answer note is sounding, then does `disrupt`
/// at the next block (given the song beat it starts at) and checks that nothing is left on.
fn assert_notes_end_when(disrupt: impl Fn(&mut continuo_harness::HostedPlugin, &mut Recording, f64)) {
    let mut plugin = load(true, SAMPLE_RATE);
    let mut recording = plugin.perform(playback(), &phrase(PHRASE_START_BEATS), answer_start() - HOST_START_BEATS, block_sizes(6, 300)).unwrap();
    let mut beat = answer_start();
    while sounding(&recording.notes) == 0 {
        assert!(beat < answer_start() + ANSWER_BEATS, "no answer note ever sounded: {:?}", recording.notes);
        let more = plugin.perform(Playback { start_beats: beat, ..playback() }, &[], 0.125, || 6000).unwrap();
        recording.notes.extend(more.notes);
        beat += 0.125;
    }
    disrupt(&mut plugin, &mut recording, beat);
    assert_balanced(&recording.notes);
}

#[test]
fn a_transport_jump_stop_or_bypass_ends_every_note() {
    let block = |plugin: &mut continuo_harness::HostedPlugin, recording: &mut Recording, transport, events: &[(u32, InputEvent)]| {
        let mut audio = [vec![], vec![]];
        plugin.process(256, transport, events, &mut recording.notes, &mut audio).unwrap();
    };
    assert_notes_end_when(|plugin, recording, beat| block(plugin, recording, Transport::at(beat - 4.0, true), &[]));
    assert_notes_end_when(|plugin, recording, beat| block(plugin, recording, Transport::at(beat, false), &[]));
    assert_notes_end_when(|plugin, recording, beat| {
        let bypass = set_parameter(plugin, "Bypass", 1.0, 0.0, 1.0);
        block(plugin, recording, Transport::at(beat, true), &[(0, bypass)]);
    });
}

/// Plays `beats` with the transport stopped (every note due to end) and records the notes.
fn stop_transport(plugin: &mut continuo_harness::HostedPlugin, recording: &mut Recording, beats: f64) {
    let stopped = Playback { playing: false, ..playback() };
    recording.notes.extend(plugin.perform(stopped, &[], beats, || 4096).unwrap().notes);
}

/// Failed before the fix: reset() and deactivate() forgot the sounding notes, and nice-plug
/// resets on every start of processing, so the host never got their note-offs.
#[test]
fn a_reset_or_a_reactivation_mid_answer_ends_every_note_in_the_next_block() {
    let block = |plugin: &mut continuo_harness::HostedPlugin, recording: &mut Recording, beat: f64| {
        let transport = Transport::at(beat, true);
        plugin.process(256, transport, &[], &mut recording.notes, &mut [vec![], vec![]]).unwrap();
    };
    assert_notes_end_when(|plugin, recording, beat| {
        plugin.restart_processing().unwrap();
        block(plugin, recording, beat);
    });
    assert_notes_end_when(|plugin, recording, beat| {
        plugin.deactivate();
        plugin.activate(SAMPLE_RATE, MAX_BLOCK).unwrap();
        block(plugin, recording, beat);
    });
}

/// Failed before the fix: a note-off the host's full queue refused was dropped for good.
#[test]
fn events_the_host_refuses_are_retried_and_no_note_is_left_on() {
    let mut plugin = load(true, SAMPLE_RATE);
    plugin.set_output_capacity(Some(1));
    let mut events = phrase(PHRASE_START_BEATS);
    events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Thru", 1.0, 0.0, 1.0)));
    events.extend(phrase(PHRASE_START_BEATS + 0.01));
    let mut recording = plugin.perform(playback(), &events, answer_start() + 3.0, block_sizes(13, 8192)).unwrap();
    assert!(!note_ons(&recording.notes).is_empty());
    stop_transport(&mut plugin, &mut recording, 8.0);
    assert_balanced(&recording.notes);
}

/// Failed before the fix: the answer's note-off on a key the player held (with Thru) ended
/// the player's note at the host, and both note-ons went out.
#[test]
fn the_answer_and_the_player_on_one_key_do_not_end_each_other() {
    let mut plugin = load(true, SAMPLE_RATE);
    let (held_from, held_to) = (answer_start() + 0.5, answer_start() + 6.0);
    let mut events = phrase(PHRASE_START_BEATS);
    for (name, plain, min, max) in [
        ("Thru", 1.0, 0.0, 1.0),
        ("Answer Over Player", 1.0, 0.0, 1.0),
        ("Lowest Pitch (MIDI note)", 60.0, 21.0, 108.0),
        ("Highest Pitch (MIDI note)", 60.0, 21.0, 108.0),
    ] {
        events.push((HOST_START_BEATS, set_parameter(&mut plugin, name, plain, min, max)));
    }
    events.push((held_from, InputEvent::NoteOn { key: 60, velocity: 0.8 }));
    events.push((held_to, InputEvent::NoteOff { key: 60 }));
    let mut recording = plugin.perform(playback(), &events, answer_start() + ANSWER_BEATS + 1.0, block_sizes(14, 512)).unwrap();
    stop_transport(&mut plugin, &mut recording, 1.0);
    let answer: Vec<&OutputNote> = recording.notes.iter().filter(|n| recording.beat_of(n.sample) >= answer_start() - 1e-6).collect();
    assert!(answer.iter().any(|n| n.on), "the answer plays: {answer:?}");
    let cut = answer.iter().find(|n| !n.on && n.key == 60 && (held_from + 1e-6..held_to - 1e-6).contains(&recording.beat_of(n.sample)));
    assert!(cut.is_none(), "the player's held key was ended at {cut:?}: {answer:?}");
    assert_balanced(&recording.notes);
}

/// Failed before the fix: a repeated note-on left a held key counted forever, and Continuo
/// never answered again.
#[test]
fn a_repeated_note_on_does_not_stop_the_answers() {
    let mut events = phrase(PHRASE_START_BEATS);
    events.push((PHRASE_START_BEATS + 0.1, InputEvent::NoteOn { key: 60, velocity: 0.8 }));
    let recording = perform(true, &events, 16.0, 15);
    let first = note_ons(&recording.notes).first().map(|n| recording.beat_of(n.sample));
    assert!(first.is_some_and(|beat| beat >= answer_start() - 1e-6), "an answer after the gap: {first:?}");
    assert_balanced(&recording.notes);
}

/// The phrase as raw MIDI on `channel` (0-based).
fn phrase_on_channel(channel: u8) -> Vec<(f64, InputEvent)> {
    phrase(PHRASE_START_BEATS)
        .into_iter()
        .map(|(beat, event)| match event {
            InputEvent::NoteOn { key, velocity } => (beat, InputEvent::Midi([0x90 | channel, key, (velocity * 127.0) as u8])),
            InputEvent::NoteOff { key } => (beat, InputEvent::Midi([0x80 | channel, key, 0])),
            other => (beat, other),
        })
        .collect()
}

/// Failed before the fix: drums on channel 10 were heard (training leaves them out), and
/// neither channel could be chosen.
#[test]
fn the_input_channel_picks_what_is_heard_and_the_answer_channel_where_it_plays() {
    let drums = perform(true, &phrase_on_channel(9), 16.0, 16);
    assert!(drums.notes.is_empty(), "Omni leaves the drum channel out: {:?}", drums.notes);

    let mut plugin = load(true, SAMPLE_RATE);
    let mut events = phrase_on_channel(9);
    events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Input Channel", 10.0, 0.0, 16.0)));
    events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Answer Channel", 5.0, 1.0, 16.0)));
    let recording = plugin.perform(playback(), &events, 16.0, block_sizes(17, 512)).unwrap();
    assert!(!note_ons(&recording.notes).is_empty(), "channel 10 chosen: heard and answered");
    assert!(recording.notes.iter().all(|n| n.channel == 4), "the answer plays on channel 5: {:?}", recording.notes);
    assert_balanced(&recording.notes);

    let mut plugin = load(true, SAMPLE_RATE);
    let mut events = phrase_on_channel(1);
    events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Input Channel", 1.0, 0.0, 16.0)));
    events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Thru", 1.0, 0.0, 1.0)));
    let recording = plugin.perform(playback(), &events, 16.0, block_sizes(18, 512)).unwrap();
    assert_eq!(recording.notes.len(), 10, "channel 2 passes thru, unheard: {:?}", recording.notes);
    assert!(recording.notes.iter().all(|n| n.channel == 1));
}

/// Failed before the fix: Thru passed notes only.
#[test]
fn thru_passes_controllers_bends_pressure_and_programs_on_their_channel() {
    let messages = [[0xB2, 1, 64], [0xE2, 0, 80], [0xD2, 50, 0], [0xC2, 7, 0], [0xB2, 64, 127], [0xB2, 64, 0]];
    for thru in [true, false] {
        let mut plugin = load(true, SAMPLE_RATE);
        let mut events: Vec<(f64, InputEvent)> = messages.iter().map(|&data| (1.0, InputEvent::Midi(data))).collect();
        events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Thru", if thru { 1.0 } else { 0.0 }, 0.0, 1.0)));
        plugin.perform(playback(), &events, 2.0, block_sizes(19, 512)).unwrap();
        let passed: Vec<[u8; 3]> = plugin.take_output_midi().into_iter().map(|midi| midi.data).collect();
        let expected: Vec<[u8; 3]> = if thru { messages.to_vec() } else { vec![] };
        assert_eq!(passed, expected, "thru {thru}");
    }
}

/// Failed before the fix: there was no answer channel to change; now a change mid-answer ends
/// the notes on the old channel.
#[test]
fn changing_the_answer_channel_or_range_mid_answer_ends_its_notes() {
    let block_with = |name: &'static str, plain: f64, min: f64, max: f64| {
        move |plugin: &mut continuo_harness::HostedPlugin, recording: &mut Recording, beat: f64| {
            let change = set_parameter(plugin, name, plain, min, max);
            let transport = Transport::at(beat, true);
            plugin.process(256, transport, &[(0, change)], &mut recording.notes, &mut [vec![], vec![]]).unwrap();
            assert_eq!(sounding(&recording.notes), 0, "{name} changed: every answer note ended at once");
        }
    };
    assert_notes_end_when(block_with("Answer Channel", 2.0, 1.0, 16.0));
    assert_notes_end_when(block_with("Lowest Pitch (MIDI note)", 100.0, 21.0, 108.0));
    assert_notes_end_when(block_with("Scale Lock", 1.0, 0.0, 2.0));
    assert_notes_end_when(block_with("Follow Voices", 0.0, 0.0, 1.0));
}

/// The most notes sounding together in a recording.
fn most_sounding(notes: &[OutputNote]) -> i32 {
    notes.iter().scan(0, |sounding, note| {
        *sounding += if note.on { 1 } else { -1 };
        Some(*sounding)
    }).max().unwrap_or(0)
}

/// The default model answers the single-line phrase with chords for some seeds (so the test can
/// tell); following the player's voices, as it does by default, it answers with a single line.
#[test]
fn a_single_line_is_answered_with_a_single_line_unless_follow_voices_is_off() {
    let most_together = |seed: f64, follow: f64| {
        let mut plugin = load(true, SAMPLE_RATE);
        let mut events = phrase(PHRASE_START_BEATS);
        events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Seed (0 = new each answer)", seed, 0.0, 99_999.0)));
        events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Follow Voices", follow, 0.0, 1.0)));
        let recording = plugin.perform(playback(), &events, answer_start() + ANSWER_BEATS, block_sizes(3, 512)).unwrap();
        assert!(!recording.notes.is_empty(), "seed {seed}: an answer");
        assert_balanced(&recording.notes);
        most_sounding(&recording.notes)
    };
    let seeds = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    for seed in seeds {
        assert_eq!(most_together(seed, 1.0), 1, "seed {seed}: one note at a time");
    }
    assert!(seeds.iter().any(|&seed| most_together(seed, 0.0) > 1), "the network alone sounds notes together");
}

#[test]
fn deactivation_mid_answer_starts_clean_at_any_sample_rate() {
    for sample_rate in [22_050.0, 192_000.0] {
        let mut plugin = load(true, SAMPLE_RATE);
        let before = plugin.perform(playback(), &phrase(PHRASE_START_BEATS), answer_start() + 1.0, block_sizes(8, 512)).unwrap();
        plugin.deactivate();
        plugin.activate(sample_rate, MAX_BLOCK).unwrap();
        let recording = plugin.perform(playback(), &phrase(PHRASE_START_BEATS), 16.0, block_sizes(8, 8192)).unwrap();
        assert!(note_ons(&recording.notes).len() >= 2, "answers at {sample_rate} Hz");
        // The notes sounding at deactivation end first thing after reactivation.
        assert_balanced(&[before.notes, recording.notes.clone()].concat());
        assert!(recording.rms_between(answer_start(), answer_start() + ANSWER_BEATS) > 1e-3);
    }
}

#[test]
fn one_sample_blocks_and_a_stopped_transport_still_answer_in_time() {
    let mut plugin = load(true, 22_050.0);
    let stopped = Playback { playing: false, start_beats: 0.0, ..Playback::default() };
    let recording = plugin.perform(stopped, &phrase(0.0), 14.0, || 1).unwrap();
    let first = recording.beat_of(note_ons(&recording.notes).first().expect("an answer").sample);
    assert!((first - 5.0) >= -1e-6, "the tempo parameter (120 BPM) is the clock: first note at beat {first}");
    assert_balanced(&recording.notes);
}

#[test]
fn a_debug_build_that_aborts_on_allocation_survives_random_buffers() {
    let debug_plugin = match std::env::var_os("CONTINUO_ALLOC_CHECK_CLAP") {
        Some(path) => std::path::PathBuf::from(path),
        None => build_plugin("debug", &["--features", "assert_process_allocs"]),
    };
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_continuo-stress"))
        .arg(&debug_plugin)
        .output()
        .expect("the stress run starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the stress run failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("never allocated"), "{stdout}");
    assert!(!stderr.contains("event buffer filled up"), "nice-plug's input event queue grew on the audio thread:\n{stderr}");
}

/// Block sizes of `samples`, handed out no faster than real time (as an audio driver would).
fn real_time_blocks(samples: usize, sample_rate: f64) -> impl FnMut() -> usize {
    let started = std::time::Instant::now();
    let mut handed_out = 0usize;
    move || {
        let due = std::time::Duration::from_secs_f64(handed_out as f64 / sample_rate);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        handed_out += samples;
        samples
    }
}

#[test]
fn a_real_time_run_plays_the_same_notes_as_an_offline_bounce() {
    // A brisk tempo and a one-bar answer keep the real-time run short (about 4 seconds) while
    // the worker still gets its half-beat head start (190 ms).
    let fast = Playback { tempo_bpm: 160.0, ..playback() };
    let mut runs = vec![];
    for offline in [true, false] {
        let mut plugin = load(offline, SAMPLE_RATE);
        let mut events = phrase(PHRASE_START_BEATS);
        events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Seed (0 = new each answer)", 5.0, 0.0, 99_999.0)));
        events.push((HOST_START_BEATS, set_parameter(&mut plugin, "Answer Length (bars)", 1.0, 1.0, 16.0)));
        let blocks: Box<dyn FnMut() -> usize> =
            if offline { Box::new(block_sizes(11, 512)) } else { Box::new(real_time_blocks(512, SAMPLE_RATE)) };
        let recording = plugin.perform(fast, &events, 11.0, blocks).unwrap();
        assert_balanced(&recording.notes);
        runs.push(recording.notes.iter().map(|n| (n.sample, n.key, n.on)).collect::<Vec<_>>());
    }
    assert!(!runs[0].is_empty());
    assert_eq!(runs[0], runs[1], "offline bounce and real-time run agree");
}

#[test]
fn the_state_keeps_parameters_and_a_bad_model_path_is_refused_while_playing_on() {
    let mut plugin = load(true, SAMPLE_RATE);
    let gap = set_parameter(&mut plugin, "Response Gap (beats)", 2.0, 0.25, 8.0);
    plugin.perform(playback(), &[(HOST_START_BEATS, gap)], 0.5, || 256).unwrap();
    let saved = plugin.save_state().expect("the plugin saves its state");
    // nice-plug writes the JSON's length (8 bytes, little-endian), then the JSON.
    let mut state: serde_json::Value = serde_json::from_slice(&saved[8..]).expect("nice-plug saves JSON");
    assert!(state["fields"].get("model").is_some(), "the model path is saved: {state}");
    state["fields"]["model"] = serde_json::Value::String(serde_json::to_string("/nonexistent/model.safetensors").unwrap());

    let mut restored = load(true, SAMPLE_RATE);
    let json = serde_json::to_vec(&state).unwrap();
    let edited: Vec<u8> = (json.len() as u64).to_le_bytes().into_iter().chain(json).collect();
    restored.load_state(&edited).expect("the state loads");
    assert_eq!(restored.parameter("Response Gap (beats)").unwrap().text, "2.0 beats", "parameters come back");
    // The worker refuses the missing file (and logs why); the embedded model keeps answering.
    restored.deactivate();
    restored.activate(SAMPLE_RATE, MAX_BLOCK).unwrap();
    let recording = restored.perform(playback(), &phrase(PHRASE_START_BEATS), 18.0, block_sizes(12, 512)).unwrap();
    let first = recording.beat_of(note_ons(&recording.notes).first().expect("still answers").sample);
    assert!(first >= (phrase_end() + 2.0).ceil() - 1e-6, "with the restored 2-beat gap: first note at {first}");
    assert_balanced(&recording.notes);
}
