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
    /// Adam learning rate.
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// The learning rate is multiplied by this each time validation has not improved for
    /// `--lr-patience` epochs (1: a constant rate).
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
    /// Most epochs to train.
    #[arg(long, default_value_t = 12)]
    pub epochs: usize,
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
    match text.parse::<f64>() {
        Ok(value) if (0.0..1.0).contains(&value) => Ok(value),
        Ok(value) => Err(format!("{value} is not in [0, 1)")),
        Err(error) => Err(format!("'{text}': {error}")),
    }
}

/// Runs saved before the learning rate could decay go on with a constant one.
fn constant_learning_rate() -> f64 {
    1.0
}

fn default_lr_patience() -> usize {
    2
}

fn default_transpose() -> i32 {
    crate::batches::DEFAULT_TRANSPOSE_SEMITONES
}

impl TrainOptions {
    /// The network the options describe.
    pub fn architecture(&self) -> Architecture {
        match self.arch {
            ArchChoice::Wavenet => Architecture::WaveNet(WaveNetConfig {
                residual_channels: self.channels,
                skip_channels: self.skip,
                stacks: self.stacks,
                layers_per_stack: self.layers,
                conditioned: !self.no_conditioning,
            }),
            ArchChoice::Lstm => {
                Architecture::Lstm(LstmConfig { embedding: self.channels, hidden: self.skip, layers: self.layers })
            }
        }
    }
}
