//! `continuo-train eval`: scores a model on a folder of MIDI files, every token of every file
//! from the start state. WaveNet files (f32 or int8) are scored by the inference engine, so the
//! figure is that of exactly what the plugin runs; the LSTM baseline is scored with burn.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::*;
use continuo::engine::{score_each, score_prediction, Engine, Score};
use continuo::model::{Architecture, ModelFile};
use continuo::style_memory::score::{fit_weights, score_with_memory, MemoryScore};
use continuo::style_memory::{StyleMemory, MEASURED_STRENGTH, MEMORY_CAPACITY_TOKENS, MEMORY_MAX_ORDER};
use continuo::tokens::{beats_to_ticks, decode_tokens, encode_notes, Event, EventKind, Note, SequenceState};
use serde::Serialize;

use crate::batches::{transpose_pitch, transpose_token, transposition_range, Batch};
use crate::corpus::{is_validation, read_corpora, Piece};
use crate::network::Network;
use crate::options::number_where;

/// Which files of the folder to score.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SplitChoice {
    /// Every file (a separate test folder).
    All,
    /// The validation side of the shared split (the files training held out).
    Validation,
    /// The training side of the shared split (for fitting the style memory's weights).
    Training,
}

impl SplitChoice {
    /// Whether `piece` is on this side.
    pub fn includes(self, piece: &Piece) -> bool {
        match self {
            SplitChoice::All => true,
            SplitChoice::Validation => is_validation(&piece.name),
            SplitChoice::Training => !is_validation(&piece.name),
        }
    }
}

/// `continuo-train eval` options.
#[derive(clap::Args, Clone, Debug)]
pub struct EvalOptions {
    /// The model file (.safetensors, f32 or int8).
    #[arg(long)]
    pub model: PathBuf,
    /// Folder of .mid files, read recursively (repeat for several; each is split on its own).
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    /// Which files to score.
    #[arg(long, value_enum, default_value_t = SplitChoice::All)]
    pub split: SplitChoice,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also report NLL per grid frame (total nats / number of frames of `--frame-beats`).
    #[arg(long)]
    pub frames: bool,
    /// Length of one frame, in quarter-note beats (JSB Chorales: 1).
    #[arg(long, default_value_t = 1.0)]
    pub frame_beats: f64,
    /// Renormalize each prediction over the events the grammar allows.
    #[arg(long)]
    pub grammar_mask: bool,
    /// Read drum channel 10 too.
    #[arg(long)]
    pub include_drums: bool,
    /// Score every token twice: by the network alone and steered by a style memory that has
    /// heard every earlier token of the same file (as the plugin's would have heard the player);
    /// report both, per data folder and overall.
    #[arg(long)]
    pub memory: bool,
    /// The Style Memory setting for `--memory` (0.5: the measured weights).
    #[arg(long, default_value_t = MEASURED_STRENGTH)]
    pub memory_strength: f32,
    /// With `--memory`: the most tokens the memory holds (the plugin's: 20,000); e.g. the
    /// network's receptive field, to see how much of the memory's gain lies within it.
    #[arg(long, default_value_t = MEMORY_CAPACITY_TOKENS, value_parser = memory_capacity)]
    pub memory_capacity: usize,
    /// With `--memory`: fit the memory's mixing weight per matched context length on these files
    /// (maximum likelihood) and print them.
    #[arg(long)]
    pub fit_memory: bool,
    /// Move every piece by this many semitones before scoring (negative: down), to see what the
    /// model gives a player in another key; pieces a note of which would leave the vocabulary's
    /// range are left out and counted.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub transpose: i32,
    /// Also split the figure by kind of event (note-on, note-off, velocity, time shift, end), to
    /// see where a model loses (WaveNet models; with `--memory`, each kind with and without it,
    /// to see where a piece's own past helps).
    #[arg(long)]
    pub by_kind: bool,
    /// Instead of each piece, score a passage of this many beats from the bar nearest a third of
    /// the way in, played twice in a row, and report each hearing's NLL: does the model copy
    /// what it has just heard? (WaveNet models, the network alone.)
    #[arg(long, conflicts_with_all = ["memory", "fit_memory", "by_kind"], value_parser = positive_beats)]
    pub repeat_beats: Option<f64>,
    /// Score a model's copy head mixed in at this share (0 to 1) instead of its whole mixture:
    /// the distribution the plugin samples at 0.75 (WaveNet models; others have no head).
    #[arg(long, value_parser = share)]
    pub copy_strength: Option<f32>,
}

/// A style memory's size: 1 to [`MEMORY_CAPACITY_TOKENS`] tokens.
fn memory_capacity(text: &str) -> Result<usize, String> {
    let expected = format!("a whole number of tokens from 1 to {MEMORY_CAPACITY_TOKENS}");
    number_where(text, |tokens| (1..=MEMORY_CAPACITY_TOKENS).contains(&tokens), &expected)
}

/// A share: a number from 0 to 1.
fn share(text: &str) -> Result<f32, String> {
    number_where(text, |share: f32| (0.0..=1.0).contains(&share), "a number from 0 to 1")
}

/// A passage length: a positive, finite number of beats.
fn positive_beats(text: &str) -> Result<f64, String> {
    number_where(text, |beats: f64| beats > 0.0 && beats.is_finite(), "a positive number of beats")
}

impl EvalOptions {
    /// Per-token scoring of `model` on the `split` of `data`, without the style memory or the
    /// grammar mask: the figure training and the size comparison report.
    pub fn per_token(model: &Path, data: Vec<PathBuf>, split: SplitChoice) -> Self {
        EvalOptions {
            model: model.to_path_buf(),
            data,
            split,
            json: None,
            frames: false,
            frame_beats: 1.0,
            grammar_mask: false,
            include_drums: false,
            memory: false,
            memory_strength: MEASURED_STRENGTH,
            memory_capacity: MEMORY_CAPACITY_TOKENS,
            fit_memory: false,
            transpose: 0,
            by_kind: false,
            repeat_beats: None,
            copy_strength: None,
        }
    }
}

/// What evaluation found.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub model: String,
    pub data: String,
    pub files: usize,
    pub skipped_files: usize,
    pub grammar_mask: bool,
    /// Sum of -ln p over every scored token, nats.
    pub total_nll_nats: f64,
    pub tokens: usize,
    pub nll_per_token: f64,
    pub top1_accuracy: f64,
    /// Frames of `frame_beats` over all files, with `--frames`.
    pub frames: Option<usize>,
    pub nll_per_frame: Option<f64>,
    /// With `--memory`: the network alone (`nll_per_token` is then with the memory).
    pub nll_per_token_without_memory: Option<f64>,
    /// With `--memory`: 1 - with / without.
    pub memory_gain: Option<f64>,
    /// With `--memory`: the figures of each data folder.
    pub collections: Vec<CollectionReport>,
    /// With `--fit-memory`: the fitted weight per matched context length (0..=max order).
    pub fitted_memory_weights: Option<Vec<f64>>,
    /// Semitones every piece was moved by (`--transpose`).
    pub transpose: i32,
    /// Pieces of the split left out because the transposition would move a note out of range.
    pub out_of_range_files: usize,
    /// With `--by-kind`: the figures of each kind of event, in [`EventKind::ALL`] order.
    pub by_kind: Vec<KindReport>,
    /// With `--repeat-beats`: the two hearings of the passages.
    pub repeat: Option<RepeatReport>,
}

/// How a model scores a passage the second time it hears it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RepeatReport {
    /// The passage's length.
    pub beats: f64,
    /// Events of the first hearings, the passages' openings included.
    pub first_tokens: usize,
    /// What the first hearings cost: the model predicting the passage from its own opening.
    pub first_nll_per_token: f64,
    /// The second hearings' events (the `End`s left out).
    pub second_tokens: usize,
    /// What the second hearings cost: a model that copies takes it towards zero.
    pub second_nll_per_token: f64,
}

/// One kind of event's figures.
#[derive(Clone, Debug, Serialize)]
pub struct KindReport {
    pub kind: &'static str,
    pub tokens: usize,
    pub nll_per_token: f64,
    pub top1_accuracy: f64,
    /// Its part of the total NLL.
    pub share_of_nll: f64,
    /// With `--memory`: the network alone (`nll_per_token` is then with the memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nll_per_token_without_memory: Option<f64>,
    /// With `--memory`: 1 - with / without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_gain: Option<f64>,
}

/// One data folder's figures with and without the style memory.
#[derive(Clone, Debug, Serialize)]
pub struct CollectionReport {
    pub data: String,
    pub files: usize,
    pub tokens: usize,
    pub nll_per_token: f64,
    pub nll_per_token_without_memory: f64,
    pub memory_gain: f64,
}

/// Scores the model on the folder and prints (and optionally writes) the report.
pub fn eval(options: &EvalOptions) -> Result<EvalReport> {
    let model = ModelFile::load(&options.model)?;
    let corpus = read_corpora(&options.data, options.include_drums, |warning| eprintln!("{warning}"))?;
    let in_split: Vec<Piece> = corpus.pieces.into_iter().filter(|piece| options.split.includes(piece)).collect();
    let (pieces, out_of_range_files) = transposed(in_split, options.transpose);
    let pieces = match options.repeat_beats {
        Some(beats) => {
            let passages: Vec<Piece> = pieces.iter().filter_map(|piece| heard_twice(piece, beats)).collect();
            if passages.is_empty() {
                anyhow::bail!("{}: no piece holds notes in {beats} beats from a third of the way in", corpus.summary.folder);
            }
            passages
        }
        None => pieces,
    };
    let mut memory_figures = None;
    let mut by_kind = Vec::new();
    let mut repeat = None;
    let total = match model.meta.architecture {
        Architecture::WaveNet(_) if options.memory || options.fit_memory => {
            let mut engine = scoring_engine(&model, options)?;
            let figures = score_collections_with_memory(&mut engine, &pieces, options);
            let total = figures.total.with_memory;
            if options.by_kind {
                let without_memory = figures.kinds.map(|kind| kind.without_memory);
                by_kind = kind_reports(&figures.kinds.map(|kind| kind.with_memory), Some(&without_memory), total.nll_nats);
            }
            memory_figures = Some(figures);
            total
        }
        Architecture::WaveNet(_) if options.repeat_beats.is_some() => {
            let mut engine = scoring_engine(&model, options)?;
            let beats = options.repeat_beats.expect("matched on it");
            let (total, hearings) = score_hearings(&mut engine, &pieces, beats, options.grammar_mask);
            repeat = Some(RepeatReport {
                beats,
                first_tokens: hearings[0].scored_tokens,
                first_nll_per_token: hearings[0].nll_per_token(),
                second_tokens: hearings[1].scored_tokens,
                second_nll_per_token: hearings[1].nll_per_token(),
            });
            total
        }
        Architecture::WaveNet(_) => {
            let mut engine = scoring_engine(&model, options)?;
            let kinds = score_pieces_by_kind(&mut engine, &pieces, options.grammar_mask);
            let total: Score = kinds.iter().copied().sum();
            if options.by_kind {
                by_kind = kind_reports(&kinds, None, total.nll_nats);
            }
            total
        }
        Architecture::Lstm(_) if options.by_kind || options.repeat_beats.is_some() => {
            anyhow::bail!(
                "{}: --by-kind and --repeat-beats score with the inference engine, which runs WaveNet models only",
                options.model.display()
            )
        }
        Architecture::Lstm(_) => {
            let device = Device::flex();
            let network = Network::from_model_file(&model, &device)?;
            pieces.iter().map(|piece| score_with_burn(&network, &piece.tokens, options.grammar_mask, &device)).sum()
        }
    };
    let frames = options
        .frames
        .then(|| pieces.iter().map(|piece| (piece.length_beats / options.frame_beats).round() as usize).sum::<usize>());
    let report = EvalReport {
        model: options.model.display().to_string(),
        data: corpus.summary.folder.clone(),
        files: pieces.len(),
        skipped_files: corpus.summary.skipped_files,
        grammar_mask: options.grammar_mask,
        total_nll_nats: total.nll_nats,
        tokens: total.scored_tokens,
        nll_per_token: total.nll_per_token(),
        top1_accuracy: total.accuracy(),
        frames,
        nll_per_frame: frames.map(|frames| total.nll_nats / frames.max(1) as f64),
        nll_per_token_without_memory: memory_figures.as_ref().map(|figures| figures.total.without_memory.nll_per_token()),
        memory_gain: memory_figures.as_ref().map(|figures| gain(&figures.total)),
        collections: memory_figures.as_ref().map(|figures| figures.collections.clone()).unwrap_or_default(),
        fitted_memory_weights: memory_figures.and_then(|figures| figures.fitted_weights),
        transpose: options.transpose,
        out_of_range_files,
        by_kind,
        repeat,
    };
    if let Some(path) = &options.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(report)
}

/// The pieces moved by `semitones`, and how many were left out because one of their notes would
/// leave the vocabulary's range.
fn transposed(pieces: Vec<Piece>, semitones: i32) -> (Vec<Piece>, usize) {
    let count = pieces.len();
    let fitting: Vec<Piece> = pieces
        .into_iter()
        .filter(|piece| {
            let (down, up) = transposition_range(piece.pitch_range, semitones.abs());
            (down..=up).contains(&semitones)
        })
        .map(|piece| Piece {
            tokens: piece.tokens.iter().map(|&token| transpose_token(token, semitones)).collect(),
            pitch_range: (transpose_pitch(piece.pitch_range.0, semitones), transpose_pitch(piece.pitch_range.1, semitones)),
            ..piece
        })
        .collect();
    let left_out = count - fitting.len();
    (fitting, left_out)
}

/// The passage of `beats` beats from the whole bar (4 beats) nearest a third of the way into
/// `piece` (notes cut at its end), played twice in a row from beat 0, as a piece of its own;
/// `None` for a piece too short or with no note there.
fn heard_twice(piece: &Piece, beats: f64) -> Option<Piece> {
    let notes = decode_tokens(&piece.tokens);
    let length_beats = notes.iter().map(Note::end_beats).fold(0.0, f64::max);
    let start = (length_beats / 3.0 / 4.0).round() * 4.0;
    if start + beats > length_beats {
        return None;
    }
    let passage: Vec<Note> = notes
        .iter()
        .filter(|note| (start..start + beats).contains(&note.start_beats))
        .map(|note| Note { start_beats: note.start_beats - start, duration_beats: note.duration_beats.min(start + beats - note.start_beats), ..*note })
        .collect();
    if passage.is_empty() {
        return None;
    }
    let twice: Vec<Note> = [0.0, beats]
        .into_iter()
        .flat_map(|offset| passage.iter().map(move |note| Note { start_beats: note.start_beats + offset, ..*note }))
        .collect();
    Some(Piece {
        name: format!("{} (beats {start}-{}, twice)", piece.name, start + beats),
        tokens: encode_notes(&twice).tokens,
        length_beats: 2.0 * beats,
        ..piece.clone()
    })
}

/// The engine that scores `model`, its copy head (if it has one) at `--copy-strength`.
fn scoring_engine(model: &ModelFile, options: &EvalOptions) -> Result<Engine> {
    let mut engine = Engine::from_model(model).with_context(|| options.model.display().to_string())?;
    if let Some(strength) = options.copy_strength {
        engine.set_copy_strength(strength);
    }
    Ok(engine)
}

/// The engine's score over every token of passages played twice (see [`heard_twice`]), and
/// apart the first hearing's and the second's (its `End` left out: it is not part of the copy).
fn score_hearings(engine: &mut Engine, pieces: &[Piece], beats: f64, grammar_mask: bool) -> (Score, [Score; 2]) {
    let second_from_tick = beats_to_ticks(beats);
    let (mut total, mut hearings) = (Score::default(), [Score::default(); 2]);
    for piece in pieces {
        score_each(engine, &piece.tokens, grammar_mask, |token, before, scored| {
            total.add(scored);
            if token != Event::End.token() {
                hearings[usize::from(before.tick() >= second_from_tick)].add(scored);
            }
        });
    }
    (total, hearings)
}

/// The engine's score over every token of the pieces.
pub fn score_pieces(engine: &mut Engine, pieces: &[Piece], grammar_mask: bool) -> Score {
    score_pieces_by_kind(engine, pieces, grammar_mask).into_iter().sum()
}

/// The engine's score over every token of the pieces, per kind of event ([`EventKind::ALL`]).
fn score_pieces_by_kind(engine: &mut Engine, pieces: &[Piece], grammar_mask: bool) -> [Score; EventKind::ALL.len()] {
    let mut kinds = [Score::default(); EventKind::ALL.len()];
    for piece in pieces {
        score_each(engine, &piece.tokens, grammar_mask, |token, _, scored| kinds[EventKind::of(token).index()].add(scored));
    }
    kinds
}

/// The report lines of the kinds' scores, each kind's share of `total_nll_nats`, and beside them
/// the same kinds scored without the memory, if given.
fn kind_reports(kinds: &[Score], without_memory: Option<&[Score]>, total_nll_nats: f64) -> Vec<KindReport> {
    EventKind::ALL
        .iter()
        .zip(kinds)
        .enumerate()
        .map(|(index, (kind, &score))| {
            let without = without_memory.map(|scores| MemoryScore { with_memory: score, without_memory: scores[index] });
            KindReport {
                kind: kind.name(),
                tokens: score.scored_tokens,
                nll_per_token: score.nll_per_token(),
                top1_accuracy: score.accuracy(),
                share_of_nll: score.nll_nats / total_nll_nats.max(f64::MIN_POSITIVE),
                nll_per_token_without_memory: without.map(|both| both.without_memory.nll_per_token()),
                memory_gain: without.as_ref().map(gain),
            }
        })
        .collect()
}

/// What scoring with the style memory found.
struct MemoryFigures {
    total: MemoryScore,
    /// The scores of each kind of event, in [`EventKind::ALL`] order.
    kinds: [MemoryScore; EventKind::ALL.len()],
    collections: Vec<CollectionReport>,
    fitted_weights: Option<Vec<f64>>,
}

/// Scores every piece with and without a fresh style memory, per data folder (a piece's folder
/// is the `--data` it came from, in order).
fn score_collections_with_memory(engine: &mut Engine, pieces: &[Piece], options: &EvalOptions) -> MemoryFigures {
    let mut memory = StyleMemory::with_capacity(options.memory_capacity);
    let mut predictions = Vec::new();
    let mut total = MemoryScore::default();
    let mut kinds = [MemoryScore::default(); EventKind::ALL.len()];
    let mut collections = Vec::new();
    for folder in &options.data {
        let data = folder.display().to_string();
        let in_folder: Vec<&Piece> = pieces.iter().filter(|piece| piece.folder == data).collect();
        let mut collection = MemoryScore::default();
        for piece in &in_folder {
            let observe = |target, scored, prediction| {
                kinds[EventKind::of(target).index()].add(scored);
                if options.fit_memory {
                    predictions.push(prediction)
                }
            };
            collection.add(score_with_memory(engine, &mut memory, &piece.tokens, options.grammar_mask, options.memory_strength, observe));
        }
        total.add(collection);
        collections.push(CollectionReport {
            data,
            files: in_folder.len(),
            tokens: collection.with_memory.scored_tokens,
            nll_per_token: collection.with_memory.nll_per_token(),
            nll_per_token_without_memory: collection.without_memory.nll_per_token(),
            memory_gain: gain(&collection),
        });
    }
    let fitted_weights = options.fit_memory.then(|| fit_weights(&predictions, MEMORY_MAX_ORDER));
    MemoryFigures { total, kinds, collections, fitted_weights }
}

/// Relative NLL reduction the memory brings.
fn gain(score: &MemoryScore) -> f64 {
    1.0 - score.with_memory.nll_per_token() / score.without_memory.nll_per_token()
}

/// Scores one piece with a burn network, from its logits over the whole piece at once.
fn score_with_burn(network: &Network, tokens: &[u16], grammar_mask: bool, device: &Device) -> Score {
    let inputs: Vec<i64> = tokens[..tokens.len() - 1].iter().map(|&t| t as i64).collect();
    let seq = inputs.len();
    let batch = Batch { rows: 1, seq, targets: vec![0; seq], mask: vec![1.0; seq], inputs, features: None, dropout_seed: None };
    let logits: Vec<f32> = network.logits(&batch, device).into_data().convert::<f32>().try_into_vec().expect("float logits");
    let mut state = SequenceState::default();
    let mut total = Score::default();
    for (position, row) in logits.chunks_exact(continuo::tokens::VOCAB_SIZE).enumerate() {
        state.apply_token(tokens[position], |_| {});
        total.add(score_prediction(row, &state, tokens[position + 1], grammar_mask));
    }
    total
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "model {}  data {} ({} files, {} skipped)", self.model, self.data, self.files, self.skipped_files)?;
        if self.transpose != 0 {
            writeln!(f, "transposed     {:+} semitones ({} files left out: out of range)", self.transpose, self.out_of_range_files)?;
        }
        writeln!(f, "total NLL      {:.1} nats{}", self.total_nll_nats, if self.grammar_mask { " (grammar mask)" } else { "" })?;
        writeln!(f, "tokens         {}", self.tokens)?;
        writeln!(f, "NLL per token  {:.4} nats", self.nll_per_token)?;
        write!(f, "top-1 accuracy {:.2}%", 100.0 * self.top1_accuracy)?;
        if let (Some(frames), Some(per_frame)) = (self.frames, self.nll_per_frame) {
            write!(f, "\nframes         {frames}\nNLL per frame  {per_frame:.3} nats")?;
        }
        if let (Some(without), Some(gain)) = (self.nll_per_token_without_memory, self.memory_gain) {
            write!(f, "\nwithout memory {without:.4} nats per token; the style memory gains {:.2}%", 100.0 * gain)?;
            for collection in &self.collections {
                write!(
                    f,
                    "\n  {}: {} files, {} tokens, {:.4} with / {:.4} without, gain {:.2}%",
                    collection.data,
                    collection.files,
                    collection.tokens,
                    collection.nll_per_token,
                    collection.nll_per_token_without_memory,
                    100.0 * collection.memory_gain
                )?;
            }
        }
        for kind in &self.by_kind {
            write!(
                f,
                "\n  {:<10} {:>8} tokens ({:4.1}%)  {:.4} nats/token  top-1 {:5.1}%  {:4.1}% of the NLL",
                kind.kind,
                kind.tokens,
                100.0 * kind.tokens as f64 / self.tokens.max(1) as f64,
                kind.nll_per_token,
                100.0 * kind.top1_accuracy,
                100.0 * kind.share_of_nll
            )?;
            if let (Some(without), Some(gain)) = (kind.nll_per_token_without_memory, kind.memory_gain) {
                write!(f, "  ({without:.4} without the memory, gain {:.1}%)", 100.0 * gain)?;
            }
        }
        if let Some(repeat) = &self.repeat {
            write!(
                f,
                "\npassage of {} beats heard twice: first {:.4} nats/token ({} tokens), second {:.4} ({} tokens): {:.1}% of the first",
                repeat.beats,
                repeat.first_nll_per_token,
                repeat.first_tokens,
                repeat.second_nll_per_token,
                repeat.second_tokens,
                100.0 * repeat.second_nll_per_token / repeat.first_nll_per_token
            )?;
        }
        if let Some(weights) = &self.fitted_memory_weights {
            let listed: Vec<String> = weights.iter().map(|weight| format!("{weight:.3}")).collect();
            write!(f, "\nfitted memory weights per matched length 0..={MEMORY_MAX_ORDER}: [{}]", listed.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use continuo::tokens::{Event, PITCH_MAX};

    fn piece(name: &str, pitches: &[u8]) -> Piece {
        let notes = pitches.iter().map(|&pitch| Event::NoteOn(pitch).token());
        let low = *pitches.iter().min().unwrap();
        let high = *pitches.iter().max().unwrap();
        Piece { name: name.into(), folder: "data".into(), tokens: notes.collect(), length_beats: 1.0, pitch_range: (low, high) }
    }

    #[test]
    fn a_passage_heard_twice_is_the_bar_nearest_a_third_of_the_way_in_played_again() {
        // Twelve quarter notes rising from C4: a third of the way in is beat 4.
        let notes: Vec<Note> =
            (0..12).map(|beat| Note { pitch: 60 + beat as u8, velocity: 80, start_beats: beat as f64, duration_beats: 0.5 }).collect();
        let rising = Piece { tokens: encode_notes(&notes).tokens, ..piece("rising", &[60, 71]) };
        let twice = heard_twice(&rising, 4.0).expect("beats 4-8 hold notes");
        let heard = decode_tokens(&twice.tokens);
        assert_eq!(heard.iter().map(|note| note.pitch).collect::<Vec<_>>(), [64, 65, 66, 67].repeat(2));
        assert_eq!(heard.iter().map(|note| note.start_beats).collect::<Vec<_>>(), (0..8).map(f64::from).collect::<Vec<_>>());
        assert_eq!(twice.length_beats, 8.0);
        assert!(heard_twice(&rising, 16.0).is_none(), "longer than what is left of the piece");
    }

    #[test]
    fn transposing_moves_every_note_and_leaves_out_the_pieces_it_would_push_out_of_range() {
        let pieces = vec![piece("middle", &[60, 64, 67]), piece("top", &[PITCH_MAX - 1, PITCH_MAX])];
        let (up, left_out) = transposed(pieces.clone(), 2);
        assert_eq!(left_out, 1);
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].name, "middle");
        assert_eq!(up[0].tokens, piece("", &[62, 66, 69]).tokens);
        assert_eq!(up[0].pitch_range, (62, 69));
        let (down, left_out) = transposed(pieces.clone(), -3);
        assert_eq!(left_out, 0);
        assert_eq!(down[1].tokens, piece("", &[PITCH_MAX - 4, PITCH_MAX - 3]).tokens);
        let (unmoved, left_out) = transposed(pieces.clone(), 0);
        assert_eq!((unmoved.len(), left_out), (2, 0));
        assert_eq!(unmoved[1].tokens, pieces[1].tokens);
    }
}
