//! `quality`: continuations of held-out phrases by the model (and the Markov baseline)
//! compared with the real ones, as a markdown table, JSON and piano rolls.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use continuo::corpus::Split;
use continuo::engine::generate::ContinuationRequest;
use continuo::engine::{Constraints, Engine, Generator, SamplingOptions, DEFAULT_TOP_P};
use continuo::midi_file::write_midi;
use continuo::model::ModelFile;
use continuo::style_memory::{StyleMemory, MEASURED_STRENGTH};
use continuo::tokens::Note;
use continuo_analysis::dataset::{read_pieces, Piece, Selection};
use continuo_analysis::markov::{MarkovModel, Smoothing};
use continuo_analysis::phrases::{pick_phrases, HeldOutPhrase, PhraseShape};
use continuo_analysis::pianoroll::{Continuation, PianoRoll};
use continuo_analysis::quality::{
    markdown_table, markov_continuation, network_continuation, paired_markdown_table, quality_table, seeds_markdown_table,
    Candidate, QualityRow,
};
use continuo_analysis::stats::Phrase;
use serde_json::json;

/// Examples written (piano roll and MIDI): the first phrases.
const EXAMPLES: usize = 3;

#[derive(clap::Args)]
pub struct QualityArgs {
    /// A model file (.safetensors) to continue the phrases with; repeat to compare models (e.g.
    /// f32 and int8, or a new model and the shipped one). The piano rolls show the first; with
    /// `--seeds`, quality.md adds the first's paired differences from each other.
    #[arg(long = "model", required = true)]
    models: Vec<PathBuf>,
    /// Folder of .mid files (repeatable): phrases come from its validation split, the Markov
    /// baseline learns from its train split.
    #[arg(long = "data", required = true)]
    data: Vec<PathBuf>,
    /// Number of held-out phrases (at most one per piece).
    #[arg(long, default_value_t = 50)]
    phrases: usize,
    /// Bars of prompt.
    #[arg(long, default_value_t = 4)]
    prompt_bars: u32,
    /// Bars to generate (and of real continuation to compare with).
    #[arg(long, default_value_t = 4)]
    bars: u32,
    /// Seed of the phrase choice and of the sampling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs, with seeds `seed`, `seed + 1`, ...: each draws other phrases and samples, and the
    /// table gives each overlap's mean and standard deviation over them (one run's overlaps move
    /// by about 0.05 from seed to seed). The piano rolls show the first run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Nucleus sampling: only the most likely tokens covering this probability (1.0: off); by
    /// default the plugin's.
    #[arg(long, default_value_t = DEFAULT_TOP_P)]
    top_p: f32,
    /// Context length of the Markov baseline generator (0 = leave the baseline out). Longer
    /// than the order validation NLL picks (3): short contexts lose track of held notes and
    /// the key, and the Continuator itself plays from the longest match.
    #[arg(long, default_value_t = 8)]
    markov_order: usize,
    /// The Style Memory setting of a second run of each model, whose memory hears each prompt
    /// before continuing it, as the plugin's hears the player (0 = leave that run out).
    #[arg(long, default_value_t = MEASURED_STRENGTH)]
    memory_strength: f32,
    /// The share of a model's repeat pointer bonus to sample with (1: the model's likelihood);
    /// by default the plugin's, which fades out as the style memory comes in. Models without a
    /// pointer ignore it.
    #[arg(long)]
    repeat_strength: Option<f32>,
    /// The share of a model's copy head's copying to sample with (1: the model's likelihood); by
    /// default the plugin's. Models without a copy head ignore it.
    #[arg(long)]
    copy_strength: Option<f32>,
    /// Let the network sound as many notes together as it likes, as the plugin does with
    /// Follow Voices off (by default a continuation sounds at most as many notes together as
    /// the prompt's recent onsets did).
    #[arg(long)]
    any_voices: bool,
    /// The collection was never trained on: take the phrases from every file, not only its
    /// validation split (four times the phrases of a small collection). The Markov baseline,
    /// which learns from the train split, would then have heard the phrases: it is left out.
    #[arg(long)]
    every_file: bool,
    /// Folder for quality.md, quality.json and the piano rolls.
    #[arg(long)]
    out: PathBuf,
}

impl QualityArgs {
    /// Whether each model also runs with a style memory: `network_candidates` then gives each
    /// model two candidates in a row, which `paired_table` relies on.
    fn runs_with_memory(&self) -> bool {
        self.memory_strength > 0.0
    }
}

pub fn run(args: &QualityArgs) -> Result<()> {
    let selection = if args.every_file { Selection::All } else { Selection::Side(Split::Validation) };
    let held_out = read_pieces(&args.data, selection)?;
    let request = ContinuationRequest {
        bars: args.bars,
        options: SamplingOptions { temperature: args.temperature, top_p: args.top_p, ..SamplingOptions::default() },
        constraints: Constraints::default(),
        memory_strength: 0.0,
        follow_voices: !args.any_voices,
        repeat_strength: args.repeat_strength,
        copy_strength: args.copy_strength,
    };
    let models = load_models(&args.models)?;
    let markov = if args.markov_order > 0 && !args.every_file { Some(train_markov(args)?) } else { None };
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}: cannot create folder", args.out.display()))?;
    let (mut tables, mut runs) = (Vec::new(), Vec::new());
    for seed in args.seed..args.seed + args.seeds {
        let phrases = pick_phrases_for(args, &held_out, seed)?;
        let mut candidates = network_candidates(args, &models, &phrases, &request, seed);
        candidates.extend(markov.as_ref().map(|model| markov_candidate(model, args.markov_order, &phrases, &request, seed)));
        let real: Vec<Phrase> = phrases.iter().map(|phrase| phrase.real.clone()).collect();
        if runs.is_empty() {
            write_examples(&args.out, &candidates[0].name, &phrases, &candidates[0].continuations)?;
        }
        let rows = quality_table(&real, &candidates);
        let names: Vec<&String> = phrases.iter().map(|phrase| &phrase.name).collect();
        runs.push(json!({ "seed": seed, "phrases": names, "rows": rows }));
        tables.push(rows);
    }
    let table =
        if args.seeds == 1 { markdown_table(&tables[0]) } else { seeds_markdown_table(&tables) + &paired_table(args, &tables) };
    print!("{table}");
    std::fs::write(args.out.join("quality.md"), &table)?;
    let mut report = json!({
        "models": args.models, "data": args.data, "prompt_bars": args.prompt_bars, "bars": args.bars,
        "temperature": as_written(args.temperature), "top_p": as_written(args.top_p), "markov_order": args.markov_order,
        "memory_strength": as_written(args.memory_strength), "follow_voices": !args.any_voices,
        "repeat_strength": args.repeat_strength.map(as_written),
        "copy_strength": args.copy_strength.map(as_written),
    });
    merge(&mut report, if args.seeds == 1 { runs.remove(0) } else { json!({ "runs": runs }) });
    std::fs::write(args.out.join("quality.json"), serde_json::to_string_pretty(&report)?)?;
    Ok(())
}

/// With several models and runs, the first model's overlaps minus each later model's, run by run
/// (with the style memory against with it): what decides whether a new model is at least as good
/// as the one it would replace.
fn paired_table(args: &QualityArgs, tables: &[Vec<QualityRow>]) -> String {
    let runs_per_model = if args.runs_with_memory() { 2 } else { 1 };
    let pairs: Vec<(usize, usize)> = (1..args.models.len())
        .flat_map(|model| (0..runs_per_model).map(move |run| (run, model * runs_per_model + run)))
        .collect();
    if pairs.is_empty() {
        return String::new();
    }
    "\n".to_string() + &paired_markdown_table(tables, &pairs)
}

/// An option's value as the user wrote it (0.95, not the f32's 0.949999988079071 widened to f64).
fn as_written(value: f32) -> f64 {
    value.to_string().parse().expect("an f32's shortest decimal form parses as f64")
}

/// Adds `fields`' entries to the object `report`.
fn merge(report: &mut serde_json::Value, fields: serde_json::Value) {
    if let (Some(report), serde_json::Value::Object(fields)) = (report.as_object_mut(), fields) {
        report.extend(fields);
    }
}

/// The held-out phrases of one run.
fn pick_phrases_for(args: &QualityArgs, held_out: &[Piece], seed: u64) -> Result<Vec<HeldOutPhrase>> {
    let shape = PhraseShape { prompt_bars: args.prompt_bars, continuation_bars: args.bars };
    let phrases = pick_phrases(held_out, args.phrases, shape, seed);
    if phrases.len() < 2 {
        bail!("only {} pieces are long enough for {} + {} bars", phrases.len(), args.prompt_bars, args.bars);
    }
    // Every seed cuts as many phrases (the pieces long enough), so the first one tells.
    if phrases.len() < args.phrases && seed == args.seed {
        eprintln!("warning: only {} of the {} phrases asked for could be cut", phrases.len(), args.phrases);
    }
    Ok(phrases)
}

/// Each model file's name (its stem) and engine, loaded once for every run.
fn load_models(paths: &[PathBuf]) -> Result<Vec<(String, Engine)>> {
    paths
        .iter()
        .map(|path| {
            let stem = path.file_stem().map_or("model".to_string(), |stem| stem.to_string_lossy().into_owned());
            Ok((stem, Engine::from_model(&ModelFile::load(path)?)?))
        })
        .collect()
}

/// Each model's continuations, and with the style memory where it is asked for.
fn network_candidates(
    args: &QualityArgs,
    models: &[(String, Engine)],
    phrases: &[HeldOutPhrase],
    request: &ContinuationRequest,
    seed: u64,
) -> Vec<Candidate> {
    let mut candidates = Vec::new();
    for (name, engine) in models {
        candidates.push(network_candidate(name, engine, phrases, request, seed, None));
        if args.runs_with_memory() {
            let with_memory = ContinuationRequest { memory_strength: args.memory_strength.min(1.0), ..*request };
            candidates.push(network_candidate(name, engine, phrases, &with_memory, seed, Some(&mut StyleMemory::new())));
        }
    }
    candidates
}

/// A model's continuations of the phrases, the sampler reseeded per phrase, with or without a
/// style memory. The engine is cloned fresh (its weights are shared, not copied).
fn network_candidate(
    name: &str,
    engine: &Engine,
    phrases: &[HeldOutPhrase],
    request: &ContinuationRequest,
    seed: u64,
    mut memory: Option<&mut StyleMemory>,
) -> Candidate {
    let mut generator = Generator::new(engine.clone(), seed);
    let continuations = phrases
        .iter()
        .enumerate()
        .map(|(index, phrase)| {
            network_continuation(&mut generator, memory.as_deref_mut(), phrase, request, seed + index as u64)
        })
        .collect();
    let name = if memory.is_some() { format!("{name} + memory {}", request.memory_strength) } else { name.to_string() };
    Candidate { name, continuations }
}

/// The Markov baseline, trained on the train split.
fn train_markov(args: &QualityArgs) -> Result<MarkovModel> {
    let train = read_pieces(&args.data, Selection::Side(Split::Train))?;
    let sequences: Vec<_> = train.into_iter().map(|piece| piece.tokens).collect();
    Ok(MarkovModel::train(&sequences, args.markov_order, Smoothing::ModifiedDiscount))
}

/// The Markov baseline continuing the same phrases.
fn markov_candidate(
    model: &MarkovModel,
    order: usize,
    phrases: &[HeldOutPhrase],
    request: &ContinuationRequest,
    seed: u64,
) -> Candidate {
    let continuations = phrases
        .iter()
        .enumerate()
        .map(|(index, phrase)| markov_continuation(model, order, phrase, request, seed + index as u64))
        .collect();
    Candidate { name: format!("Markov order {order}"), continuations }
}

fn lane<'a>(label: &'a str, phrase: &'a Phrase) -> Continuation<'a> {
    Continuation { label, notes: &phrase.continuation, start_beats: phrase.continuation_start_beats }
}

/// `example_N.png`: the prompt with the generated continuation (top) and the real one (bottom);
/// `example_N.mid`: the prompt and the generated continuation, to listen to.
fn write_examples(out: &Path, model_name: &str, phrases: &[HeldOutPhrase], generated: &[Phrase]) -> Result<()> {
    let generated_label = format!("continued by {model_name}");
    for (index, (phrase, continuation)) in phrases.iter().zip(generated).take(EXAMPLES).enumerate() {
        // The name without its folders: "piece.mid bar 5".
        let title = phrase.name.rsplit('/').next().unwrap_or(&phrase.name);
        let roll = PianoRoll {
            title,
            prompt: &phrase.real.prompt,
            continuations: vec![lane(&generated_label, continuation), lane("the real continuation", &phrase.real)],
            prompt_beats: phrase.prompt_beats,
            continuation_beats: phrase.real.continuation_beats,
            beats_per_bar: phrase.prompt.beats_per_bar(),
            first_bar: phrase.first_bar,
        };
        let picture = out.join(format!("example_{}.png", index + 1));
        roll.save_png(&picture)?;
        let answer = continuation
            .continuation
            .iter()
            .map(|note| Note { start_beats: note.start_beats + continuation.continuation_start_beats, ..*note });
        let notes: Vec<Note> = phrase.real.prompt.iter().copied().chain(answer).collect();
        let midi = out.join(format!("example_{}.mid", index + 1));
        std::fs::write(&midi, write_midi(&notes, phrase.prompt.initial_tempo_bpm(), phrase.prompt.time_signature))
            .with_context(|| format!("{}: cannot write", midi.display()))?;
        eprintln!("{} and .mid: {} (generated above, real below)", picture.display(), phrase.name);
    }
    Ok(())
}
