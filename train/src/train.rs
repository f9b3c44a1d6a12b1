//! The training loop: Adam with gradient clipping on random windows, validation each epoch,
//! the best weights kept, early stopping, checkpoints for resume, metrics and curves, and the
//! export of the model file.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use continuo::engine::Score;
use continuo::engine::quantize::dequantize;
use continuo::model::{write_atomically, ModelFile};
use continuo::tokens::{Token, VOCAB_SIZE};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;

use crate::average::WeightAverage;
use crate::batches::{random_batch, validation_batches};
use crate::checkpoint::{self, EpochMetrics, RunState};
use crate::corpus::{read_corpora, split, CorpusSummary, Piece};
use crate::network::{initial_model_file, with_fresh_copy_head, Network};
use crate::options::{BackendChoice, LrSchedule, TrainOptions};
use crate::plot::{plot_curves, Baselines};

/// File names inside a run folder.
pub const MODEL_FILE: &str = "model.safetensors";
const BEST_FILE: &str = "best.safetensors";
const METRICS_FILE: &str = "metrics.json";
const CURVES_FILE: &str = "curves.png";

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// Best validation NLL of the network, nats per token.
    pub valid_nll: f64,
    /// Validation NLL of the unigram baseline (train-split token frequencies, add-one).
    pub unigram_nll: f64,
    /// Every epoch's figures.
    pub history: Vec<EpochMetrics>,
}

/// The device of a backend choice (plain; training wraps it in autodiff).
pub fn device_for(backend: BackendChoice) -> Result<Device> {
    match backend {
        BackendChoice::Flex => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        BackendChoice::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(not(feature = "wgpu"))]
        BackendChoice::Wgpu => bail!("this build has no wgpu backend: build with `--features wgpu`"),
    }
}

fn new_optimizer(options: &TrainOptions) -> ModuleOptimizer {
    AdamConfig::new().with_grad_clipping(Some(GradientClippingConfig::Norm(options.clip_norm))).init()
}

/// How a training run starts.
// Built once per run and moved straight into `train`: boxing the options would only add noise
// at every call site.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Start {
    /// A new run with these options.
    New(TrainOptions),
    /// The run in `run`, from its last checkpoint, with its own options; `until_epoch` moves its
    /// epoch limit and `until_minutes` its wall-clock budget (to train a finished run on).
    Resume { run: std::path::PathBuf, until_epoch: Option<usize>, until_minutes: Option<f64> },
}

/// Trains a new run or resumes one. `log` hears each line worth printing (progress bars go to
/// the terminal directly).
pub fn train(start: Start, mut log: impl FnMut(String)) -> Result<TrainOutcome> {
    let (mut state, mut network, mut optimizer, device) = match start {
        Start::Resume { run, until_epoch, until_minutes } => {
            let mut state = checkpoint::load_state(&run)?;
            if let Some(epochs) = until_epoch {
                state.options.epochs = Some(epochs);
            }
            if let Some(minutes) = until_minutes {
                state.options.max_minutes = Some(minutes);
            }
            let device = device_for(state.options.backend)?.autodiff();
            let (network, optimizer) = checkpoint::load_weights(&run, &state, &device, new_optimizer(&state.options))?;
            log(format!("resuming {} after epoch {} (step {})", run.display(), state.epochs_done, state.steps_done));
            (state, network, optimizer, device)
        }
        Start::New(options) => {
            let device = device_for(options.backend)?.autodiff();
            std::fs::create_dir_all(&options.out).with_context(|| format!("{}: cannot create", options.out.display()))?;
            let (options, start_weights) = starting_weights(options, &mut log)?;
            let network = Network::from_model_file(&start_weights, &device)?.with_dropout(options.dropout);
            let optimizer = new_optimizer(&options);
            let state = RunState::new(options);
            (state, network, optimizer, device)
        }
    };
    let options = state.options.clone();
    let mut average = match (options.average > 0.0, state.steps_done) {
        (false, _) => None,
        (true, 0) => Some(WeightAverage::new(options.average, &network, 0)),
        (true, steps) => Some(WeightAverage::resume(options.average, checkpoint::load_average(&options.out, &state)?, steps as u64)),
    };
    let corpus = read_corpora(&options.data, options.include_drums, &mut log)?;
    let summary = corpus.summary.clone();
    let (train_pieces, valid_pieces) = match options.valid.is_empty() {
        true => split(corpus.pieces),
        false => (corpus.pieces, read_corpora(&options.valid, options.include_drums, &mut log)?.pieces),
    };
    if train_pieces.is_empty() || valid_pieces.is_empty() {
        bail!("{}: needs at least two readable pieces (one to train, one to validate)", summary.folder);
    }
    log(describe_data(&summary, &train_pieces, &valid_pieces));
    let unigram_nll = unigram_nll(&train_pieces, &valid_pieces);
    log(format!("unigram baseline: validation NLL {unigram_nll:.4} nats/token"));

    let plain = device_for(options.backend)?;
    let conditioned = network.conditioned();
    let valid_batches = validation_batches(&valid_pieces, options.batch, options.valid_seq, conditioned);
    if options.init.is_some() && state.steps_done == 0 {
        measure_init(&mut state, &network.valid(), &valid_batches, &plain, &mut log)?;
    }
    let started = Instant::now();
    let elapsed_before = training_seconds(&state);
    while state.epochs_done < options.epoch_limit() && state.epochs_since_best < options.patience {
        let epoch = state.epochs_done + 1;
        let progress = progress_bar(epoch, options.steps_per_epoch);
        let epoch_started = Instant::now();
        let (mut loss_sum, mut tokens_trained) = (0.0, 0);
        let plateau_rate = state.learning_rate.unwrap_or(options.learning_rate());
        for _ in 0..options.steps_per_epoch {
            let learning_rate = match options.lr_schedule {
                LrSchedule::Plateau => plateau_rate,
                LrSchedule::Cosine => options.cosine_learning_rate(state.steps_done),
            };
            let mut rng = rand_pcg::Pcg64::seed_from_u64(batch_seed(options.seed, state.steps_done));
            let (windows, seq) = options.batch_shape(state.steps_done);
            let batch = random_batch(&train_pieces, windows, seq, conditioned, options.transpose, &mut rng);
            let (loss, _) = network.loss(&batch, &device);
            let loss_value = loss.clone().into_scalar::<f32>() as f64;
            let gradients = GradientsParams::from_grads(loss.backward(), &network);
            network = optimizer.step(learning_rate, network, gradients);
            if let Some(average) = &mut average {
                average.update(&network);
            }
            state.steps_done += 1;
            loss_sum += loss_value;
            tokens_trained += windows * seq;
            let tokens_per_second = tokens_trained as f64 / epoch_started.elapsed().as_secs_f64();
            progress.set_message(format!("loss {loss_value:.3}  {tokens_per_second:.0} tok/s"));
            progress.inc(1);
        }
        progress.finish_and_clear();
        let train_seconds = epoch_started.elapsed().as_secs_f64();
        let evaluated = match &average {
            Some(average) => average.network(&plain)?,
            None => network.valid(),
        };
        let valid = validate(&evaluated, &valid_batches, &plain);
        let metrics = EpochMetrics {
            epoch,
            steps: state.steps_done,
            train_loss: loss_sum / options.steps_per_epoch as f64,
            valid_nll: valid.nll_per_token(),
            valid_accuracy: valid.accuracy(),
            tokens_per_second: tokens_trained as f64 / train_seconds,
            elapsed_seconds: elapsed_before + started.elapsed().as_secs_f64(),
        };
        log(format!(
            "epoch {epoch}: train loss {:.4}  valid NLL {:.4} nats/token (unigram {unigram_nll:.4})  top-1 {:.1}%  {:.0} tok/s",
            metrics.train_loss,
            metrics.valid_nll,
            100.0 * metrics.valid_accuracy,
            metrics.tokens_per_second
        ));
        state.epochs_done = epoch;
        if metrics.valid_nll < state.best_valid_nll {
            state.best_valid_nll = metrics.valid_nll;
            state.epochs_since_best = 0;
            evaluated.to_model_file(serde_json::Value::Null, None).save(&options.out.join(BEST_FILE))?;
        } else {
            state.epochs_since_best += 1;
            let plateau_reached = state.epochs_since_best.is_multiple_of(options.lr_patience.max(1));
            if options.lr_schedule == LrSchedule::Plateau && plateau_reached && options.lr_decay != 1.0 {
                state.learning_rate = Some(plateau_rate * options.lr_decay);
                log(format!("learning rate {plateau_rate:.2e} -> {:.2e}", plateau_rate * options.lr_decay));
            }
        }
        state.history.push(metrics);
        checkpoint::save(&options.out, &mut state, &network, &optimizer, average.as_ref().map(WeightAverage::model))?;
        write_reports(&options.out, &state, unigram_nll)?;
        if let Some(minutes) = options.max_minutes.filter(|&minutes| training_seconds(&state) >= minutes * 60.0) {
            log(format!("stopped after epoch {epoch}: the {minutes} minute budget is spent"));
            break;
        }
    }
    if state.epochs_since_best >= options.patience {
        log(format!("stopped early: no better validation NLL for {} epochs", options.patience));
    }
    if state.init_valid_nll == Some(state.best_valid_nll) {
        log("no epoch beat the --init model on validation: the exported model is its weights".to_string());
    }
    export(&options, &state, &summary, unigram_nll)?;
    log(format!(
        "best validation NLL {:.4} nats/token vs unigram {unigram_nll:.4}; wrote {}",
        state.best_valid_nll,
        options.out.join(MODEL_FILE).display()
    ));
    Ok(TrainOutcome { valid_nll: state.best_valid_nll, unigram_nll, history: state.history })
}

impl RunState {
    fn new(options: TrainOptions) -> Self {
        Self {
            options,
            epochs_done: 0,
            steps_done: 0,
            best_valid_nll: f64::INFINITY,
            epochs_since_best: 0,
            learning_rate: None,
            init_valid_nll: None,
            history: Vec::new(),
            folder: String::new(),
        }
    }
}

/// Wall-clock seconds of training so far, over every part of a resumed run.
fn training_seconds(state: &RunState) -> f64 {
    state.history.last().map_or(0.0, |last| last.elapsed_seconds)
}

/// The options and weights a new run starts from: random weights of the options' architecture,
/// or the `--init` file's weights (int8 dequantized) with its architecture.
fn starting_weights(options: TrainOptions, log: &mut impl FnMut(String)) -> Result<(TrainOptions, ModelFile)> {
    let Some(path) = &options.init else {
        let weights = initial_model_file(options.architecture(), options.seed);
        return Ok((options, weights));
    };
    let file = ModelFile::load(path).with_context(|| format!("--init {}: cannot start from it", path.display()))?;
    log(format!("starting from {} ({:?}, {:?} weights)", path.display(), file.meta.architecture, file.meta.precision));
    let weights = with_fresh_copy_head(dequantize(&file), options.copy_keys, options.seed);
    Ok((options.with_architecture(weights.meta.architecture), weights))
}

/// Validates the `--init` weights before any step: their NLL is the figure to beat, and they are
/// the best weights until an epoch does better, so a fine-tuned model is never worse on
/// validation than the one it started from.
fn measure_init(
    state: &mut RunState,
    network: &Network,
    batches: &[crate::batches::Batch],
    device: &Device,
    log: &mut impl FnMut(String),
) -> Result<()> {
    let nll = validate(network, batches, device).nll_per_token();
    log(format!("--init model: validation NLL {nll:.4} nats/token before training"));
    state.init_valid_nll = Some(nll);
    state.best_valid_nll = nll;
    network.to_model_file(serde_json::Value::Null, None).save(&state.options.out.join(BEST_FILE))?;
    Ok(())
}

/// The seed of step `step`'s batch: a run resumed at any step draws the batches it would have.
fn batch_seed(seed: u64, step: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step as u64
}

fn progress_bar(epoch: usize, steps: usize) -> ProgressBar {
    let progress = ProgressBar::new(steps as u64);
    progress.set_style(
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    progress.set_prefix(epoch.to_string());
    progress
}

/// Scores every validation batch.
pub fn validate(network: &Network, batches: &[crate::batches::Batch], device: &Device) -> Score {
    batches.iter().map(|batch| network.score(batch, device)).sum()
}

fn describe_data(summary: &CorpusSummary, train: &[Piece], valid: &[Piece]) -> String {
    let tokens = |pieces: &[Piece]| pieces.iter().map(|piece| piece.tokens.len()).sum::<usize>();
    format!(
        "{}: {} files read, {} skipped; {} train pieces ({} tokens), {} validation pieces ({} tokens); {} notes folded into range",
        summary.folder,
        summary.files,
        summary.skipped_files,
        train.len(),
        tokens(train),
        valid.len(),
        tokens(valid),
        summary.octave_folded_notes
    )
}

/// Validation NLL (nats per token, every token after `Start`) of token frequencies counted on
/// the train split, add-one smoothed: the floor any sequence model must beat.
pub fn unigram_nll(train: &[Piece], valid: &[Piece]) -> f64 {
    let mut counts = vec![1.0f64; VOCAB_SIZE];
    for piece in train {
        for &token in &piece.tokens[1..] {
            counts[token as usize] += 1.0;
        }
    }
    let total: f64 = counts.iter().sum();
    let scored: Vec<Token> = valid.iter().flat_map(|piece| piece.tokens[1..].iter().copied()).collect();
    scored.iter().map(|&token| -(counts[token as usize] / total).ln()).sum::<f64>() / scored.len().max(1) as f64
}

/// Writes `metrics.json` and `curves.png`.
fn write_reports(run: &Path, state: &RunState, unigram_nll: f64) -> Result<()> {
    let metrics = serde_json::json!({
        "unigram_valid_nll": unigram_nll,
        "init_valid_nll": state.init_valid_nll,
        "best_valid_nll": state.best_valid_nll,
        "epochs": state.history,
    });
    write_atomically(&run.join(METRICS_FILE), serde_json::to_string_pretty(&metrics)?.as_bytes())?;
    let references = Baselines { unigram_nll, init_nll: state.init_valid_nll };
    plot_curves(&run.join(CURVES_FILE), &state.history, &references)
}

/// Writes the best weights as `model.safetensors`, with what they were trained on.
fn export(options: &TrainOptions, state: &RunState, summary: &CorpusSummary, unigram_nll: f64) -> Result<()> {
    let best = ModelFile::load(&options.out.join(BEST_FILE))?;
    let mut model = best;
    model.meta.training = serde_json::json!({
        "data": summary,
        "options": options,
        "epochs": state.epochs_done,
        "steps": state.steps_done,
        "unigram_valid_nll": unigram_nll,
        "init_valid_nll": state.init_valid_nll,
        "trainer": concat!("continuo-train ", env!("CARGO_PKG_VERSION")),
    });
    model.meta.valid_nll_per_token = Some(state.best_valid_nll);
    model.save(&options.out.join(MODEL_FILE)).with_context(|| format!("{}: cannot write", options.out.display()))
}
