//! Checkpoints of a training run, written so that a run killed at any moment resumes where it
//! stopped: each checkpoint goes to a fresh folder (weights + optimizer state), and only then
//! does `state.json`, replaced atomically, point at it. A crash mid-write leaves the previous
//! checkpoint intact.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use continuo::model::{write_atomically, ModelFile};
use serde::{Deserialize, Serialize};

use crate::network::Network;
use crate::options::TrainOptions;

/// Progress of a run, saved with each checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    /// The options the run was started with (a resumed run keeps them).
    pub options: TrainOptions,
    /// Epochs finished.
    pub epochs_done: usize,
    /// Optimizer steps taken; also picks each step's batch, so a resumed run draws the same ones.
    pub steps_done: usize,
    /// Best validation NLL so far (nats per token).
    pub best_valid_nll: f64,
    /// Epochs since the best, for early stopping and the learning-rate decay.
    pub epochs_since_best: usize,
    /// The learning rate now, after its decays (`None`: the starting `--lr`).
    #[serde(default)]
    pub learning_rate: Option<f64>,
    /// Validation NLL of the `--init` weights before any step (`None`: random start), the
    /// figure a fine-tuned model must beat.
    #[serde(default)]
    pub init_valid_nll: Option<f64>,
    /// Per-epoch figures so far.
    pub history: Vec<EpochMetrics>,
    /// Folder (inside `checkpoint/`) holding this state's weights and optimizer.
    pub folder: String,
}

/// What one epoch measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub steps: usize,
    /// Mean training loss over the epoch's steps (nats per token).
    pub train_loss: f64,
    /// Validation NLL (nats per token).
    pub valid_nll: f64,
    /// Validation top-1 accuracy.
    pub valid_accuracy: f64,
    /// Training tokens per second over the epoch.
    pub tokens_per_second: f64,
    /// Wall-clock seconds since the run started (resumed runs add to it).
    pub elapsed_seconds: f64,
}

const STATE_FILE: &str = "state.json";
const WEIGHTS_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
const AVERAGE_FILE: &str = "average.safetensors";

fn checkpoint_dir(run: &Path) -> PathBuf {
    run.join("checkpoint")
}

/// Writes a checkpoint of `network` and `optimizer` with `state`, then drops older ones.
pub fn save(run: &Path, state: &mut RunState, network: &Network, optimizer: &ModuleOptimizer, average: Option<&ModelFile>) -> Result<()> {
    let root = checkpoint_dir(run);
    state.folder = format!("step-{}", state.steps_done);
    let folder = root.join(&state.folder);
    std::fs::create_dir_all(&folder).with_context(|| format!("{}: cannot create", folder.display()))?;
    network
        .to_model_file(serde_json::Value::Null, None)
        .save(&folder.join(WEIGHTS_FILE))
        .with_context(|| format!("{}: cannot write weights", folder.display()))?;
    if let Some(average) = average {
        average.save(&folder.join(AVERAGE_FILE)).with_context(|| format!("{}: cannot write the weight average", folder.display()))?;
    }
    let optimizer_bytes = optimizer.into_bytes().map_err(|error| anyhow::anyhow!("optimizer state: {error:?}"))?;
    write_atomically(&folder.join(OPTIMIZER_FILE), &optimizer_bytes)?;
    write_atomically(&root.join(STATE_FILE), serde_json::to_string_pretty(state)?.as_bytes())?;
    for entry in std::fs::read_dir(&root)? {
        let path = entry?.path();
        if path.is_dir() && path.file_name().is_some_and(|name| name != state.folder.as_str()) {
            std::fs::remove_dir_all(&path)?;
        }
    }
    Ok(())
}

/// Reads the state of a run's last checkpoint.
pub fn load_state(run: &Path) -> Result<RunState> {
    let state_path = checkpoint_dir(run).join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path)
        .with_context(|| format!("{}: no checkpoint to resume from", state_path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: unreadable checkpoint state", state_path.display()))
}

/// Reads the network and optimizer of the checkpoint `state` points at.
pub fn load_weights(
    run: &Path,
    state: &RunState,
    device: &Device,
    optimizer: ModuleOptimizer,
) -> Result<(Network, ModuleOptimizer)> {
    let folder = checkpoint_dir(run).join(&state.folder);
    let model = ModelFile::load(&folder.join(WEIGHTS_FILE))?;
    let network = Network::from_model_file(&model, device)?.with_dropout(state.options.dropout);
    let bytes = std::fs::read(folder.join(OPTIMIZER_FILE))
        .with_context(|| format!("{}: cannot read optimizer state", folder.display()))?;
    let optimizer = optimizer
        .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|error| anyhow::anyhow!("{}: optimizer state: {error:?}", folder.display()))?;
    Ok((network, optimizer))
}

/// Reads the weight average of the checkpoint `state` points at.
pub fn load_average(run: &Path, state: &RunState) -> Result<ModelFile> {
    Ok(ModelFile::load(&checkpoint_dir(run).join(&state.folder).join(AVERAGE_FILE))?)
}
