//! Command-line options of training, saved with each checkpoint so a resumed run goes on with
//! exactly the settings it started with.

use std::path::PathBuf;

use continuo::model::{Architecture, LstmConfig, WaveNetConfig};
use serde::{Deserialize, Serialize};

/// Which network to train.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArchChoice {
    /// The causal dilated-convolution WaveNet the plugin runs.
    Wavenet,
    /// The recurrent baseline.
    Lstm,
}

/// Which burn backend to train on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendChoice {
    /// burn's multi-threaded CPU backend (the fastest on CPU here).
    Flex,
    /// GPUs through wgpu (build with `--features wgpu`).
    Wgpu,
}

/// How the learning rate moves over a run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LrSchedule {
    /// Multiplied by `--lr-decay` after `--lr-patience` epochs without a better validation NLL:
    /// for runs whose length is not known in advance.
    Plateau,
    /// Half a cosine from the starting rate down to zero at the end of the `--epochs` limit,
    /// step by step: for a run of a fixed budget, whose last steps then settle the weights
    /// instead of stopping at full speed.
    Cosine,
}

/// `continuo-train train` options.
#[derive(clap::Args, Clone, Debug, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Folder of .mid files, read recursively (repeat for several; each is split on its own).
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    /// Validate on every file of these folders instead of the held-out split of --data (a
    /// benchmark's own validation split, say).
    #[arg(long)]
    #[serde(default)]
    pub valid: Vec<PathBuf>,
    /// Run folder: checkpoints, metrics.json, curves.png and the exported model.safetensors.
    #[arg(long)]
    pub out: PathBuf,
    /// Start from the weights of this model file (f32, or int8 such as the embedded default
    /// model, dequantized) instead of random ones: fine-tuning. The architecture is the file's,
    /// so the architecture options are refused with it; the learning rate and epoch limit
    /// default to values for a small corpus. A resumed run goes on from its checkpoint, never
    /// from this file again.
    #[arg(long, conflicts_with_all = ["arch", "channels", "skip", "stacks", "layers", "no_conditioning"])]
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// Network to train.
    #[arg(long, value_enum, default_value_t = ArchChoice::Wavenet)]
    pub arch: ArchChoice,
    /// WaveNet residual channels (and embedding width); LSTM embedding width.
    #[arg(long, default_value_t = 64)]
    pub channels: usize,
    /// WaveNet skip channels; LSTM hidden width.
    #[arg(long, default_value_t = 128)]
    pub skip: usize,
    /// WaveNet stacks.
    #[arg(long, default_value_t = 2)]
    pub stacks: usize,
    /// WaveNet dilated layers per stack (dilations 1..2^(layers-1)); LSTM layers.
    #[arg(long, default_value_t = 10)]
    pub layers: usize,
    /// Leave out the conditioning features (sounding notes, beat phase).
    #[arg(long)]
    pub no_conditioning: bool,
    /// Width of a copy head's queries and keys (0: none): a learned pointer from each step's
    /// head state to earlier ones, copying the token that followed them. With `--init` from a
    /// file without one, a fresh head is added to its network.
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub copy_keys: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Largest random transposition of a training window, semitones either way (0: none, for
    /// data whose test set is in one key, like JSB Chorales).
    #[arg(long, default_value_t = crate::batches::DEFAULT_TRANSPOSE_SEMITONES)]
    #[serde(default = "default_transpose")]
    pub transpose: i32,
    /// Tokens per training window.
    #[arg(long, default_value_t = 256)]
    pub seq: usize,
    /// One step in `--long-every` trains on windows this many tokens long instead, as many
    /// tokens per step (`batch x seq / long-seq` windows), so the network learns to use its whole
    /// receptive field (2,047 tokens by default) and keeps the short contexts of `--seq` (0: off).
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub long_seq: usize,
    /// How often a `--long-seq` step comes: one step in this many (2: every other step). Fewer
    /// long steps keep more of the short contexts a player's phrase gives.
    #[arg(long, default_value_t = DEFAULT_LONG_EVERY_STEPS, value_parser = clap::value_parser!(u32).range(1..))]
    #[serde(default = "default_long_every")]
    pub long_every: u32,
    /// Adam learning rate [default: 2e-3, or 5e-4 with --init].
    #[arg(long)]
    pub lr: Option<f64>,
    /// How the learning rate moves over the run.
    #[arg(long, value_enum, default_value_t = LrSchedule::Plateau)]
    #[serde(default = "plateau_schedule")]
    pub lr_schedule: LrSchedule,
    /// With `--lr-schedule plateau`: the learning rate is multiplied by this each time
    /// validation has not improved for `--lr-patience` epochs (1: a constant rate).
    #[arg(long, default_value_t = 0.5)]
    #[serde(default = "constant_learning_rate")]
    pub lr_decay: f64,
    /// Epochs without a better validation NLL before the learning rate decays.
    #[arg(long, default_value_t = 2)]
    #[serde(default = "default_lr_patience")]
    pub lr_patience: usize,
    /// Dropout probability on each WaveNet layer's gated output while training (0: none):
    /// regularises small corpora such as JSB Chorales.
    #[arg(long, default_value_t = 0.0, value_parser = unit_interval)]
    #[serde(default)]
    pub dropout: f64,
    /// Validate and export an exponential moving average of the weights with this decay per
    /// step (e.g. 0.999; 0: the last step's weights).
    #[arg(long, default_value_t = 0.0, value_parser = unit_interval)]
    #[serde(default)]
    pub average: f64,
    /// Gradients are clipped to this global norm.
    #[arg(long, default_value_t = 1.0)]
    pub clip_norm: f32,
    /// Most epochs to train [default: 12, or 20 with --init].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop at the end of the first epoch that ends after this many minutes of training
    /// (a resumed run counts its time before): a wall-clock budget instead of an epoch count.
    #[arg(long)]
    #[serde(default)]
    pub max_minutes: Option<f64>,
    /// Optimizer steps per epoch (an epoch ends with validation and a checkpoint).
    #[arg(long, default_value_t = 40)]
    pub steps_per_epoch: usize,
    /// Stop after this many epochs without a better validation NLL.
    #[arg(long, default_value_t = 3)]
    pub patience: usize,
    /// Seed of the initial weights and of every batch.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Read drum channel 10 too.
    #[arg(long)]
    pub include_drums: bool,
    /// Tokens per validation window.
    #[arg(long, default_value_t = 1024)]
    pub valid_seq: usize,
    /// Backend to train on.
    #[arg(long, value_enum, default_value_t = BackendChoice::Flex)]
    pub backend: BackendChoice,
}

/// A probability or decay: at least 0 and below 1.
fn unit_interval(text: &str) -> Result<f64, String> {
    number_where(text, |value| (0.0..1.0).contains(&value), "in [0, 1)")
}

/// `text` as a number that `accept`s, or an error saying what it should be (`expected`).
pub(crate) fn number_where<T>(text: &str, accept: impl Fn(T) -> bool, expected: &str) -> Result<T, String>
where
    T: std::str::FromStr + std::fmt::Display + Copy,
    T::Err: std::fmt::Display,
{
    match text.parse::<T>() {
        Ok(value) if accept(value) => Ok(value),
        Ok(value) => Err(format!("{value} is not {expected}")),
        Err(error) => Err(format!("'{text}': {error}")),
    }
}

/// Runs saved before the learning rate could decay go on with a constant one.
fn constant_learning_rate() -> f64 {
    1.0
}

/// Adam's learning rate from random weights.
pub const SCRATCH_LEARNING_RATE: f64 = 2e-3;
/// Adam's learning rate from `--init` weights: a quarter of the rate from scratch, so the first
/// steps on a small corpus refine what the model knows instead of washing it out (measured in
/// MODEL.md, "Fine-tuning on your own music").
pub const FINE_TUNE_LEARNING_RATE: f64 = 5e-4;
/// Epoch limit from random weights.
pub const SCRATCH_EPOCHS: usize = 12;
/// Epoch limit from `--init` weights: a few dozen files are seen many times over in 20 epochs
/// of 40 batches, and early stopping (`--patience`) ends the run once validation stops gaining.
pub const FINE_TUNE_EPOCHS: usize = 20;
/// One `--long-seq` step in this many by default: every other step (BENCHMARKS.md, "Windows of
/// both lengths").
pub const DEFAULT_LONG_EVERY_STEPS: u32 = 2;

fn plateau_schedule() -> LrSchedule {
    LrSchedule::Plateau
}

fn default_lr_patience() -> usize {
    2
}

fn default_long_every() -> u32 {
    DEFAULT_LONG_EVERY_STEPS
}

fn default_transpose() -> i32 {
    crate::batches::DEFAULT_TRANSPOSE_SEMITONES
}

impl TrainOptions {
    /// The learning rate to start with: `--lr`, or the default for a run from scratch or from
    /// `--init`.
    pub fn learning_rate(&self) -> f64 {
        self.lr.unwrap_or(if self.init.is_some() { FINE_TUNE_LEARNING_RATE } else { SCRATCH_LEARNING_RATE })
    }

    /// The most epochs to train: `--epochs`, or the default for a run from scratch or from
    /// `--init`.
    pub fn epoch_limit(&self) -> usize {
        self.epochs.unwrap_or(if self.init.is_some() { FINE_TUNE_EPOCHS } else { SCRATCH_EPOCHS })
    }

    /// The cosine schedule's rate for the optimizer step after `steps_done` steps.
    pub fn cosine_learning_rate(&self, steps_done: usize) -> f64 {
        let total_steps = (self.epoch_limit() * self.steps_per_epoch).max(1);
        let progress = (steps_done as f64 / total_steps as f64).min(1.0);
        self.learning_rate() * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }

    /// Windows per batch and tokens per window of the optimizer step after `steps_done` steps.
    pub fn batch_shape(&self, steps_done: usize) -> (usize, usize) {
        let long_every = self.long_every as usize;
        if self.long_seq > 0 && steps_done % long_every == long_every - 1 {
            ((self.batch * self.seq / self.long_seq).max(1), self.long_seq)
        } else {
            (self.batch, self.seq)
        }
    }

    /// The options with the architecture fields set to `architecture` (an `--init` file's), so
    /// the run's saved options and its model's metadata say what was trained.
    pub fn with_architecture(self, architecture: Architecture) -> Self {
        match architecture {
            Architecture::WaveNet(config) => Self {
                arch: ArchChoice::Wavenet,
                channels: config.residual_channels,
                skip: config.skip_channels,
                stacks: config.stacks,
                layers: config.layers_per_stack,
                no_conditioning: !config.conditioned,
                copy_keys: config.copy_keys,
                ..self
            },
            Architecture::Lstm(config) => Self {
                arch: ArchChoice::Lstm,
                channels: config.embedding,
                skip: config.hidden,
                layers: config.layers,
                ..self
            },
        }
    }

    /// The network the options describe.
    pub fn architecture(&self) -> Architecture {
        match self.arch {
            ArchChoice::Wavenet => Architecture::WaveNet(WaveNetConfig {
                residual_channels: self.channels,
                skip_channels: self.skip,
                stacks: self.stacks,
                layers_per_stack: self.layers,
                conditioned: !self.no_conditioning,
                repeat_pointer: false,
                copy_keys: self.copy_keys,
            }),
            ArchChoice::Lstm => {
                Architecture::Lstm(LstmConfig { embedding: self.channels, hidden: self.skip, layers: self.layers })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The options as `cargo xtask train` parses them.
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        options: TrainOptions,
    }

    fn parse(args: &[&str]) -> Result<TrainOptions, clap::Error> {
        let all = ["train", "--data", "songs", "--out", "run"].iter().chain(args);
        Cli::try_parse_from(all).map(|cli| cli.options)
    }

    #[test]
    fn init_takes_the_fine_tuning_defaults_unless_they_are_given() {
        let scratch = parse(&[]).unwrap();
        assert_eq!((scratch.learning_rate(), scratch.epoch_limit()), (SCRATCH_LEARNING_RATE, SCRATCH_EPOCHS));
        let fine_tune = parse(&["--init", "default.safetensors"]).unwrap();
        assert_eq!((fine_tune.learning_rate(), fine_tune.epoch_limit()), (FINE_TUNE_LEARNING_RATE, FINE_TUNE_EPOCHS));
        let chosen = parse(&["--init", "default.safetensors", "--lr", "1e-4", "--epochs", "3"]).unwrap();
        assert_eq!((chosen.learning_rate(), chosen.epoch_limit()), (1e-4, 3));
    }

    #[test]
    fn long_windows_take_every_other_step_with_as_many_tokens() {
        let plain = parse(&["--batch", "16", "--seq", "512"]).unwrap();
        assert!((0..4).all(|step| plain.batch_shape(step) == (16, 512)));
        let mixed = parse(&["--batch", "16", "--seq", "512", "--long-seq", "2048"]).unwrap();
        let shapes: Vec<_> = (0..4).map(|step| mixed.batch_shape(step)).collect();
        assert_eq!(shapes, [(16, 512), (4, 2048), (16, 512), (4, 2048)]);
        let longer_than_a_batch = parse(&["--batch", "2", "--seq", "256", "--long-seq", "4096"]).unwrap();
        assert_eq!(longer_than_a_batch.batch_shape(1), (1, 4096), "at least one window");
        let one_in_four = parse(&["--batch", "16", "--seq", "512", "--long-seq", "2048", "--long-every", "4"]).unwrap();
        let shapes: Vec<_> = (0..8).map(|step| one_in_four.batch_shape(step)).collect();
        assert_eq!(shapes, [(16, 512), (16, 512), (16, 512), (4, 2048), (16, 512), (16, 512), (16, 512), (4, 2048)]);
        assert!(parse(&["--long-seq", "2048", "--long-every", "0"]).is_err(), "a step in zero is refused");
    }

    #[test]
    fn init_refuses_architecture_options() {
        let architecture_flags =
            [&["--channels", "96"][..], &["--skip", "64"], &["--stacks", "3"], &["--layers", "8"], &["--arch", "lstm"]];
        for flag in architecture_flags.into_iter().chain([&["--no-conditioning"][..]]) {
            let args: Vec<&str> = ["--init", "default.safetensors"].iter().chain(flag).copied().collect();
            let error = parse(&args).err().unwrap_or_else(|| panic!("{flag:?} accepted with --init")).to_string();
            assert!(error.contains("--init") && error.contains(flag[0]), "{flag:?}: {error}");
        }
    }

    #[test]
    fn options_saved_before_init_existed_still_load() {
        let mut saved = serde_json::to_value(parse(&["--lr", "0.002", "--epochs", "60"]).unwrap()).unwrap();
        let fields = saved.as_object_mut().unwrap();
        fields.remove("init");
        fields.remove("max_minutes");
        fields.remove("lr_schedule");
        let options: TrainOptions = serde_json::from_value(saved).unwrap();
        assert_eq!((options.init.clone(), options.learning_rate(), options.epoch_limit()), (None, 2e-3, 60));
        assert_eq!(options.lr_schedule, LrSchedule::Plateau);
    }

    #[test]
    fn the_cosine_schedule_falls_from_the_rate_to_zero_over_the_epoch_limit() {
        let options = parse(&["--lr-schedule", "cosine", "--lr", "0.002", "--epochs", "10", "--steps-per-epoch", "40"]).unwrap();
        let rates: Vec<f64> = [0, 200, 400, 500].iter().map(|&step| options.cosine_learning_rate(step)).collect();
        assert!((rates[0] - 0.002).abs() < 1e-12 && (rates[1] - 0.001).abs() < 1e-12, "{rates:?}");
        assert!(rates[2] < 1e-12 && rates[3] < 1e-12, "{rates:?}");
        assert!(rates.windows(2).all(|pair| pair[1] <= pair[0]), "{rates:?}");
    }

    #[test]
    fn with_architecture_records_the_file_s_network() {
        let config = WaveNetConfig { residual_channels: 96, skip_channels: 192, stacks: 3, layers_per_stack: 9, conditioned: false, repeat_pointer: false, copy_keys: 0 };
        let options = parse(&["--init", "x.safetensors"]).unwrap().with_architecture(Architecture::WaveNet(config));
        assert_eq!(options.architecture(), Architecture::WaveNet(config));
    }
}
