//! `cargo xtask generate`: continues a MIDI phrase with a model and writes prompt + continuation.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use continuo::engine::generate::{continue_song, ContinuationRequest};
use continuo::engine::{Constraints, Engine, Generator, SamplingOptions, ScaleMode, DEFAULT_TOP_P};
use continuo::midi_file::{read_midi_file, write_midi, ReadOptions};
use continuo::model::ModelFile;
use continuo::style_memory::{StyleMemory, MEASURED_STRENGTH};
use continuo::tokens::encode_notes;

/// Continue a phrase for some bars at its tempo and meter.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask generate")]
struct Args {
    /// Model file (f32 or int8).
    #[arg(long)]
    model: PathBuf,
    /// The phrase to continue (.mid).
    #[arg(long)]
    prompt: PathBuf,
    /// Bars to add, in the prompt's time signature.
    #[arg(long, default_value_t = 8)]
    bars: u32,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Keep the k most likely tokens (0 = all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Nucleus sampling mass (1.0 = off); by default the plugin's.
    #[arg(long, default_value_t = DEFAULT_TOP_P)]
    top_p: f32,
    /// Always take the most likely token.
    #[arg(long)]
    greedy: bool,
    /// Let the model sound as many notes together as it likes (the plugin's Follow Voices
    /// off); by default it sounds at most as many together as the prompt's recent onsets did.
    #[arg(long)]
    any_voices: bool,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Key root: C, C#, Db, D, ... B.
    #[arg(long, default_value = "C")]
    key: String,
    /// chromatic, major or minor.
    #[arg(long, default_value = "chromatic")]
    scale: String,
    /// Lowest generated pitch.
    #[arg(long, default_value_t = 0)]
    low: u8,
    /// Highest generated pitch.
    #[arg(long, default_value_t = 127)]
    high: u8,
    /// A .mid file the style memory hears before the prompt, as if the player had played it in
    /// this session (repeat for several). The prompt itself is always learned.
    #[arg(long = "memory", value_name = "FILE.mid")]
    memory_files: Vec<PathBuf>,
    /// How much the style memory steers the continuation: 0 = the model alone, 0.5 = the measured
    /// best, 1 = lean on it twice as much (the plugin's Style Memory control).
    #[arg(long, default_value_t = MEASURED_STRENGTH)]
    memory_strength: f32,
    /// Output .mid.
    #[arg(short = 'o', long)]
    out: PathBuf,
}

pub fn run(args: &[String]) -> Result<()> {
    let args = Args::parse_from(std::iter::once("generate".to_string()).chain(args.iter().cloned()));
    if args.low > args.high {
        bail!("--low {} is above --high {}", args.low, args.high);
    }
    let model = ModelFile::load(&args.model)?;
    let engine = Engine::from_model(&model).map_err(|error| anyhow::anyhow!("{}: {}", args.model.display(), error.problem))?;
    let prompt = read_midi_file(&args.prompt, ReadOptions::default())?;
    let request = ContinuationRequest {
        bars: args.bars,
        options: SamplingOptions { temperature: args.temperature, top_k: args.top_k, top_p: args.top_p, greedy: args.greedy },
        constraints: Constraints {
            pitch_low: args.low,
            pitch_high: args.high,
            root: parse_key(&args.key)?,
            mode: parse_scale(&args.scale)?,
            ..Constraints::default()
        },
        memory_strength: args.memory_strength.clamp(0.0, 1.0),
        follow_voices: !args.any_voices,
        repeat_strength: None,
        copy_strength: None,
    };
    let mut memory = memory_of(&args.memory_files)?;
    let mut generator = Generator::new(engine, args.seed);
    let continuation = continue_song(&mut generator, &prompt, &request, Some(&mut memory));
    let bytes = write_midi(&continuation.notes, prompt.initial_tempo_bpm(), prompt.time_signature);
    std::fs::write(&args.out, bytes).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "{}: {} prompt notes, {} generated over {} bars of {}/{} from beat {:.2}, {:.1} bpm",
        args.out.display(),
        prompt.notes.len(),
        continuation.generated_notes,
        args.bars,
        prompt.time_signature.0,
        prompt.time_signature.1,
        continuation.prompt_end_beats,
        prompt.initial_tempo_bpm()
    );
    Ok(())
}

/// A style memory that has heard `files`, in order (their last `MEMORY_CAPACITY_TOKENS` tokens).
fn memory_of(files: &[PathBuf]) -> Result<StyleMemory> {
    let mut memory = StyleMemory::new();
    for file in files {
        let song = read_midi_file(file, ReadOptions::default())?;
        encode_notes(&song.notes).tokens.iter().for_each(|&token| memory.learn(token));
        println!("style memory: heard {} ({} notes)", file.display(), song.notes.len());
    }
    Ok(memory)
}

/// A key name to its pitch class (C = 0).
fn parse_key(name: &str) -> Result<u8> {
    const NAMES: [(&str, u8); 17] = [
        ("C", 0), ("C#", 1), ("Db", 1), ("D", 2), ("D#", 3), ("Eb", 3), ("E", 4), ("F", 5), ("F#", 6),
        ("Gb", 6), ("G", 7), ("G#", 8), ("Ab", 8), ("A", 9), ("A#", 10), ("Bb", 10), ("B", 11),
    ];
    NAMES
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|&(_, class)| class)
        .with_context(|| format!("unknown key '{name}' (use C, C#, Db, D, ... B)"))
}

fn parse_scale(name: &str) -> Result<ScaleMode> {
    match name.to_ascii_lowercase().as_str() {
        "chromatic" => Ok(ScaleMode::Chromatic),
        "major" => Ok(ScaleMode::Major),
        "minor" => Ok(ScaleMode::Minor),
        _ => bail!("unknown scale '{name}' (use chromatic, major or minor)"),
    }
}
