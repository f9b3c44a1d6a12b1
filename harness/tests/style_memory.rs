//! The style memory in the real plugin: it makes answers take up a motif the player repeated,
//! it is saved with the project, restored with it, and refused (leaving the rest of the state)
//! when the saved memory is corrupt or oversized; Forget empties it.

#[allow(dead_code)]
mod support;

use continuo::reuse::reuse;
use continuo::tokens::Note;
use continuo_harness::{HostedPlugin, InputEvent, OutputNote, Playback, Recording};
use serde_json::Value;
use support::*;

/// A lower rate than the other tests: these play long, and only the notes matter.
const MEMORY_TEST_SAMPLE_RATE: f64 = 24_000.0;
/// The motif is two bars of 4/4.
const MOTIF_BEATS: f64 = 8.0;
/// How often the player plays it before Continuo answers.
const MOTIF_REPEATS: usize = 4;
/// Answers of eight bars: the memory steers harder as its match with the answer grows, so a
/// long answer shows what it does (four bars left it to one lucky seed).
const ANSWER_BARS: f64 = 8.0;
/// Seeds each strength answers with: the comparison is of their mean, not one lucky draw.
const SEEDS: [f64; 8] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
/// Parameter ranges (plain), as `set_parameter` needs them.
const SEED_RANGE: (f64, f64) = (0.0, 99_999.0);
const BARS_RANGE: (f64, f64) = (1.0, 16.0);
const GAP_RANGE: (f64, f64) = (0.25, 8.0);
const STRENGTH_RANGE: (f64, f64) = (0.0, 1.0);

/// A two-bar motif with its own rhythm and leaps: (start beat, pitch, length in beats).
const MOTIF: [(f64, u8, f64); 13] = [
    (0.0, 60, 0.5),
    (0.5, 64, 0.5),
    (1.0, 67, 0.25),
    (1.25, 65, 0.25),
    (1.5, 64, 0.5),
    (2.0, 62, 1.0),
    (3.0, 67, 0.5),
    (3.5, 71, 0.5),
    (4.0, 72, 0.75),
    (4.75, 71, 0.25),
    (5.0, 69, 0.5),
    (5.5, 66, 1.5),
    (7.0, 62, 1.0),
];

/// The motif's notes once, as the reuse figure compares them.
fn motif_notes() -> Vec<Note> {
    let note =
        |&(start_beats, pitch, duration_beats): &(f64, u8, f64)| Note { pitch, velocity: 90, start_beats, duration_beats };
    MOTIF.iter().map(note).collect()
}

/// The motif `repeats` times from beat 0, each note released just before the next starts.
fn motif_events(repeats: usize) -> Vec<(f64, InputEvent)> {
    let mut events = vec![];
    for repeat in 0..repeats {
        let offset = repeat as f64 * MOTIF_BEATS;
        for &(start, key, length) in &MOTIF {
            events.push((offset + start, InputEvent::NoteOn { key, velocity: 0.7 }));
            events.push((offset + start + length * 0.9, InputEvent::NoteOff { key }));
        }
    }
    events
}

fn from_the_start() -> Playback {
    Playback { start_beats: 0.0, ..Playback::default() }
}

fn load_plugin() -> HostedPlugin {
    load(true, MEMORY_TEST_SAMPLE_RATE)
}

/// The notes Continuo played (every on paired with its off), in beats.
fn answer_notes(recording: &Recording) -> Vec<Note> {
    let mut started: [Option<(f64, u8)>; 128] = [None; 128];
    let mut notes = vec![];
    for &OutputNote { sample, key, on, velocity, .. } in &recording.notes {
        let beat = recording.beat_of(sample);
        if on {
            started[key as usize] = Some((beat, (velocity * 127.0).round() as u8));
        } else if let Some((start_beats, velocity)) = started[key as usize].take() {
            notes.push(Note { pitch: key, velocity, start_beats, duration_beats: beat - start_beats });
        }
    }
    notes
}

/// Plays the motif `repeats` times into `plugin` and lets it answer with `seed` and the Style
/// Memory at `strength`; returns what it played.
fn answer_after_motif(plugin: &mut HostedPlugin, repeats: usize, seed: f64, strength: f64) -> Recording {
    let mut events = motif_events(repeats);
    events.push((0.0, set_parameter(plugin, "Seed (0 = new each answer)", seed, SEED_RANGE.0, SEED_RANGE.1)));
    events.push((0.0, set_parameter(plugin, "Answer Length (bars)", ANSWER_BARS, BARS_RANGE.0, BARS_RANGE.1)));
    events.push((0.0, set_parameter(plugin, "Style Memory", strength, STRENGTH_RANGE.0, STRENGTH_RANGE.1)));
    let beats = repeats as f64 * MOTIF_BEATS + 3.0 + ANSWER_BARS * 4.0;
    let blocks = block_sizes(seed as u64, 1024);
    let recording = plugin.perform(from_the_start(), &events, beats, blocks).expect("the plugin plays");
    assert_balanced(&recording.notes);
    recording
}

/// The mean share of the answers' interval and rhythm n-grams found in the motif, over the seeds.
fn mean_reuse(strength: f64) -> f64 {
    let shares: Vec<f64> = SEEDS
        .iter()
        .map(|&seed| {
            let recording = answer_after_motif(&mut load_plugin(), MOTIF_REPEATS, seed, strength);
            let answer = answer_notes(&recording);
            assert!(answer.len() >= 4, "seed {seed}, strength {strength}: a four-bar answer has notes: {answer:?}");
            reuse(&motif_notes(), &answer).share()
        })
        .collect();
    println!("style memory {strength}: reuse shares {shares:?}");
    shares.iter().sum::<f64>() / shares.len() as f64
}

#[test]
fn with_the_memory_on_an_answer_quotes_the_players_motif_more() {
    let (with_memory, without) = (mean_reuse(1.0), mean_reuse(0.0));
    println!("mean reuse of the motif: {with_memory:.3} with the memory at 100%, {without:.3} at 0%");
    let quoted_more = with_memory > 3.0 * without && with_memory > without + 0.05;
    assert!(quoted_more, "the memory makes answers quote the motif: {with_memory:.3} vs {without:.3}");
}

/// The plugin's state as JSON (nice-plug writes its length, 8 bytes, then the JSON).
fn saved_state(plugin: &mut HostedPlugin) -> Value {
    let saved = plugin.save_state().expect("the plugin saves its state");
    serde_json::from_slice(&saved[8..]).expect("nice-plug saves JSON")
}

/// The saved memory's text (nice-plug stores a persisted field as its JSON).
fn learned(state: &Value) -> String {
    let field = state["fields"]["learned"].as_str().unwrap_or_else(|| panic!("the style memory is saved: {state}"));
    serde_json::from_str(field).expect("the field is a JSON string")
}

/// The saved memory once `ready` says the worker has published it (it does so at most once a
/// second), with the state it is in.
fn learned_when(plugin: &mut HostedPlugin, ready: impl Fn(&str) -> bool) -> (String, Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let state = saved_state(plugin);
        let memory = learned(&state);
        if ready(&memory) {
            return (memory, state);
        }
        let start = &memory[..memory.len().min(80)];
        assert!(std::time::Instant::now() < deadline, "the worker publishes the memory within seconds: {start}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// What a fresh plugin with `state` loaded, its saved memory replaced by `memory`, plays when
/// (reactivated, as a host does after loading a project) it hears the motif once and answers
/// with `seed`; and the plugin.
fn answer_after_loading(state: &Value, memory: &str, seed: f64) -> (Vec<(u64, u8, bool)>, HostedPlugin) {
    let mut state = state.clone();
    state["fields"]["learned"] = Value::String(serde_json::to_string(memory).unwrap());
    let json = serde_json::to_vec(&state).unwrap();
    let framed: Vec<u8> = (json.len() as u64).to_le_bytes().into_iter().chain(json).collect();
    let mut plugin = load_plugin();
    plugin.load_state(&framed).expect("the state loads");
    plugin.deactivate();
    plugin.activate(MEMORY_TEST_SAMPLE_RATE, MAX_BLOCK).unwrap();
    let recording = answer_after_motif(&mut plugin, 1, seed, 1.0);
    (recording.notes.iter().map(|note| (note.sample, note.key, note.on)).collect(), plugin)
}

#[test]
fn the_memory_is_saved_with_the_project_and_a_corrupt_or_oversized_one_is_refused() {
    let mut player = load_plugin();
    let gap = set_parameter(&mut player, "Response Gap (beats)", 2.0, GAP_RANGE.0, GAP_RANGE.1);
    let mut events = motif_events(MOTIF_REPEATS);
    events.push((0.0, gap));
    player.perform(from_the_start(), &events, MOTIF_REPEATS as f64 * MOTIF_BEATS + 1.0, || 512).unwrap();
    let (memory, state) = learned_when(&mut player, |memory| !memory.is_empty());

    let (empty, mut fresh) = answer_after_loading(&state, "", SEEDS[0]);
    let (learned_fresh, _) = learned_when(&mut fresh, |memory| !memory.is_empty());
    let oversized = "0000".repeat(continuo::style_memory::MEMORY_CAPACITY_TOKENS + 1);
    let bad_memories = [("00zz".into(), "not hex"), ("0001000".into(), "a partial token"), (oversized, "oversized")];
    for (bad, problem) in bad_memories {
        let (refused, mut plugin) = answer_after_loading(&state, &bad, SEEDS[0]);
        assert_eq!(refused, empty, "a saved memory that is {problem} is refused: the plugin starts with an empty one");
        let text = plugin.parameter("Response Gap (beats)").unwrap().text;
        assert_eq!(text, "2.0 beats", "the rest of the state ({problem} memory) comes back");
        let (learned_after, _) = learned_when(&mut plugin, |memory| !memory.is_empty());
        assert_eq!(learned_after, learned_fresh, "only what it heard since ({problem} memory)");
    }

    // Heard once more, the motif alone often leads the answer to the same notes whatever the
    // memory holds; the memory restored (four hearings) changes some seed's answer.
    let (restored, mut reopened) = answer_after_loading(&state, &memory, SEEDS[0]);
    let steered = restored != empty
        || SEEDS[1..].iter().any(|&seed| answer_after_loading(&state, &memory, seed).0 != answer_after_loading(&state, "", seed).0);
    assert!(steered, "the restored memory steers some answer among seeds {SEEDS:?}");
    assert_eq!(reopened.parameter("Response Gap (beats)").unwrap().text, "2.0 beats");
    let (resaved, _) = learned_when(&mut reopened, |resaved| resaved.len() > memory.len());
    assert!(resaved.starts_with(&memory), "it keeps what it learned and learns on");
}

#[test]
fn forget_empties_the_memory_and_the_project_keeps_it_empty() {
    let mut plugin = load_plugin();
    // A long gap: no answer is under way (an offline bounce holds the worker's saving back
    // until its answer is done).
    let mut events = motif_events(1);
    events.push((0.0, set_parameter(&mut plugin, "Response Gap (beats)", 8.0, GAP_RANGE.0, GAP_RANGE.1)));
    plugin.perform(from_the_start(), &events, MOTIF_BEATS, || 512).unwrap();
    learned_when(&mut plugin, |memory| !memory.is_empty());
    let forget = set_parameter(&mut plugin, "Forget", 1.0, 0.0, 1.0);
    let later = Playback { start_beats: MOTIF_BEATS, ..from_the_start() };
    let recording = plugin.perform(later, &[(MOTIF_BEATS, forget)], 0.5, || 512).unwrap();
    assert!(recording.notes.is_empty(), "Forget plays nothing: {:?}", recording.notes);
    learned_when(&mut plugin, str::is_empty);
}
