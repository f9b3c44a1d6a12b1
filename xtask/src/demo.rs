//! `cargo xtask demo [--seed N]`: builds the release plugin, loads the real Continuo.clap in
//! the headless host, plays a two-bar phrase, lets Continuo answer, and writes what came out:
//! demo/answer.mid (the phrase, passed through, then the answer) and demo/answer.wav (the
//! preview voice). Prints the answer's notes.

use std::path::Path;

use anyhow::{bail, Context, Result};
use continuo::midi_file::write_midi;
use continuo::tokens::Note;
use continuo_harness::{HostedPlugin, InputEvent, OutputNote, Playback, Recording};

/// The phrase: (beat, MIDI key, length in beats), a two-bar line in C major.
const PHRASE: [(f64, u8, f64); 10] = [
    (0.0, 64, 0.9), (1.0, 64, 0.9), (2.0, 65, 0.9), (3.0, 67, 0.9),
    (4.0, 67, 0.9), (5.0, 65, 0.9), (6.0, 64, 0.9), (7.0, 62, 0.45),
    (7.5, 60, 0.45), (8.0, 62, 0.9),
];
/// Where the phrase's last note ends.
const PHRASE_END_BEATS: f64 = 8.9;
/// Everything the demo records: the phrase, the gap and a two-bar answer, with room to spare.
const LENGTH_BEATS: f64 = 20.0;
const SAMPLE_RATE: f64 = 48_000.0;
const TEMPO_BPM: f64 = 120.0;
const BLOCK_SAMPLES: usize = 256;

/// Runs the demo.
pub fn demo(args: &[String]) -> Result<()> {
    let seed: u32 = match args {
        [] => 1,
        [flag, value] if flag == "--seed" => value.parse().context("--seed takes a number 0..=99999")?,
        _ => bail!("usage: cargo xtask demo [--seed N]"),
    };
    let bundles = crate::host_tests::bundle_release()?;
    let mut plugin = HostedPlugin::load(&bundles.join("Continuo.clap"))?;
    plugin.set_offline(true)?;
    plugin.activate(SAMPLE_RATE, BLOCK_SAMPLES as u32)?;
    let mut events = vec![
        (0.0, parameter(&mut plugin, "Thru", 1.0)?),
        (0.0, parameter(&mut plugin, "Seed (0 = new each answer)", seed as f64)?),
    ];
    for (beat, key, length) in PHRASE {
        events.push((beat, InputEvent::NoteOn { key, velocity: 0.75 }));
        events.push((beat + length, InputEvent::NoteOff { key }));
    }
    let recording = plugin.perform(Playback { tempo_bpm: TEMPO_BPM, ..Playback::default() }, &events, LENGTH_BEATS, || BLOCK_SAMPLES)?;
    let notes = notes_in_beats(&recording);
    std::fs::create_dir_all("demo")?;
    std::fs::write("demo/answer.mid", write_midi(&notes, TEMPO_BPM, (4, 4))).context("writing demo/answer.mid")?;
    write_wav(Path::new("demo/answer.wav"), &recording)?;
    print_answer(&notes);
    println!("wrote demo/answer.mid and demo/answer.wav");
    Ok(())
}

/// A parameter change to a plain value (integers count steps from their minimum).
fn parameter(plugin: &mut HostedPlugin, name: &str, plain: f64) -> Result<InputEvent> {
    let parameter = plugin.parameter(name).with_context(|| format!("the plugin has no parameter {name}"))?;
    Ok(InputEvent::Param { id: parameter.id, value: plain.min(parameter.max) })
}

/// Pairs the recorded note-ons and note-offs into notes.
fn notes_in_beats(recording: &Recording) -> Vec<Note> {
    let mut open: Vec<OutputNote> = vec![];
    let mut notes = vec![];
    for event in &recording.notes {
        if event.on {
            open.push(*event);
        } else if let Some(index) = open.iter().position(|on| on.key == event.key && on.channel == event.channel) {
            let on = open.remove(index);
            let start_beats = recording.beat_of(on.sample);
            notes.push(Note {
                pitch: on.key,
                velocity: (on.velocity * 127.0).round().clamp(1.0, 127.0) as u8,
                start_beats,
                duration_beats: recording.beat_of(event.sample) - start_beats,
            });
        }
    }
    notes.sort_by(|a, b| a.start_beats.total_cmp(&b.start_beats));
    notes
}

fn print_answer(notes: &[Note]) {
    const NAMES: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
    let answer: Vec<&Note> = notes.iter().filter(|note| note.start_beats > PHRASE_END_BEATS).collect();
    println!("played a {}-note phrase; Continuo answered with {} notes:", PHRASE.len(), answer.len());
    for note in &answer {
        let name = format!("{}{}", NAMES[note.pitch as usize % 12], note.pitch as i32 / 12 - 1);
        println!("  beat {:6.3}  {name:4} velocity {:3}  {:.3} beats", note.start_beats, note.velocity, note.duration_beats);
    }
    println!("{}", texture(&answer));
}

/// How the answer's texture reads (MODEL.md, "Following the player's voices"): notes per onset,
/// and the widest leap between successive onsets' top notes.
fn texture(answer: &[&Note]) -> String {
    let mut tops: Vec<(f64, u8)> = vec![];
    for note in answer {
        match tops.last_mut() {
            Some((beat, top)) if *beat == note.start_beats => *top = (*top).max(note.pitch),
            _ => tops.push((note.start_beats, note.pitch)),
        }
    }
    let widest = tops.windows(2).map(|pair| pair[0].1.abs_diff(pair[1].1)).max().unwrap_or(0);
    let per_onset = answer.len() as f64 / tops.len().max(1) as f64;
    format!("texture: {per_onset:.2} notes per onset, widest leap of the top line {widest} semitones")
}

fn write_wav(path: &Path, recording: &Recording) -> Result<()> {
    let spec = hound::WavSpec { channels: 2, sample_rate: SAMPLE_RATE as u32, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut writer = hound::WavWriter::create(path, spec).with_context(|| format!("cannot write {}", path.display()))?;
    for (left, right) in recording.audio[0].iter().zip(&recording.audio[1]) {
        for sample in [left, right] {
            writer.write_sample((sample.clamp(-1.0, 1.0) * i16::MAX as f32) as i16)?;
        }
    }
    writer.finalize()?;
    Ok(())
}
