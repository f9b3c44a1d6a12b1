//! The model file: one safetensors file holding the weights and, in its metadata, everything
//! needed to rebuild the network (architecture, vocabulary, precision) and to judge it (training
//! data summary, validation NLL). The trainer writes it, the engine and the plugin read it; this
//! module is the one place that knows its layout.
//!
//! Weights are stored PyTorch-style, `[out, in]` row-major, the layout the engine's matrix-vector
//! products read. A dilated kernel-2 convolution is stored as one `[2C, 2C]` matrix over the
//! concatenated input `[x[t - d], x[t]]`, producing `[tanh half, sigmoid half]`. An int8 model
//! stores each matrix as `I8` with a per-output-row `f32` scale beside it (`<name>_scale`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::bounded_file::read_regular_file;
use crate::engine::copy_head::COPY_WINDOW_TOKENS;
use crate::engine::repeat_pointer::BONUS_SHAPE;
use crate::engine::{padded_len, INT8_MAX_MAGNITUDE};
use crate::tokens::{FEATURE_COUNT, VOCAB_SIZE, VOCAB_VERSION};

/// Bumped whenever the layout of the file changes.
pub const FORMAT_VERSION: u32 = 1;
/// Metadata key that marks a Continuo model file.
const FORMAT_KEY: &str = "format";
const FORMAT_NAME: &str = "continuo-model";
/// Metadata key holding [`ModelMeta`] as JSON.
const META_KEY: &str = "continuo";

/// Why a model file was refused; names the file and the problem.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct ModelError {
    /// The file (or embedded model) that was refused.
    pub file: String,
    /// What is wrong with it.
    pub problem: String,
}

/// Hyper-parameters of the WaveNet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveNetConfig {
    /// Width of the residual stream (and of the embedding).
    pub residual_channels: usize,
    /// Width of the skip stream and of the output head's hidden layer.
    pub skip_channels: usize,
    /// Number of stacks; each repeats the dilations 1, 2, 4, ...
    pub stacks: usize,
    /// Dilated layers per stack; the last has dilation 2^(layers_per_stack - 1).
    pub layers_per_stack: usize,
    /// Whether the input also gets the conditioning features of `tokens::SequenceState`
    /// (sounding notes, beat phase) through a `[C, FEATURE_COUNT]` projection.
    pub conditioned: bool,
    /// Whether the logits also get the learned bonus of the repeat pointer
    /// (`engine::repeat_pointer`), a `[LENGTH_BUCKETS, EventKind::ALL.len()]` table. Files from
    /// before it have none.
    #[serde(default)]
    pub repeat_pointer: bool,
    /// Width of the copy head's queries and keys (0: none): a learned pointer that attends from
    /// the head's hidden state to those of earlier steps and copies the token that followed them
    /// (`names::COPY_QUERY`). Files from before it have none.
    #[serde(default)]
    pub copy_keys: usize,
}

impl Default for WaveNetConfig {
    fn default() -> Self {
        Self { residual_channels: 64, skip_channels: 128, stacks: 2, layers_per_stack: 10, conditioned: true, repeat_pointer: false, copy_keys: 0 }
    }
}

impl WaveNetConfig {
    /// The dilation of every layer, in order.
    pub fn dilations(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.stacks).flat_map(move |_| (0..self.layers_per_stack).map(|layer| 1 << layer))
    }

    /// Number of dilated layers.
    pub fn layer_count(&self) -> usize {
        self.stacks * self.layers_per_stack
    }

    /// How many tokens, the current one included, can influence a prediction.
    pub fn receptive_field(&self) -> usize {
        1 + self.dilations().sum::<usize>()
    }
}

/// Hyper-parameters of the LSTM baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LstmConfig {
    /// Width of the token embedding.
    pub embedding: usize,
    /// Width of each layer's hidden state.
    pub hidden: usize,
    /// Number of stacked layers.
    pub layers: usize,
}

/// Which network the file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Architecture {
    /// The causal dilated-convolution WaveNet the engine runs.
    WaveNet(WaveNetConfig),
    /// The recurrent baseline (evaluated by the trainer only).
    Lstm(LstmConfig),
}

/// How the matrices are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Every tensor in f32.
    F32,
    /// Matrices in symmetric int8 with a per-output-row f32 scale; vectors in f32.
    Int8,
}

/// Everything the file says about itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Layout version of the file ([`FORMAT_VERSION`] when written).
    pub format_version: u32,
    /// Token vocabulary version the model was trained on.
    pub vocab_version: u32,
    /// Number of tokens the model predicts over.
    pub vocab_size: usize,
    /// The network and its hyper-parameters.
    pub architecture: Architecture,
    /// How the matrices are stored.
    pub precision: Precision,
    /// What it was trained on and how (free-form JSON from the trainer).
    pub training: serde_json::Value,
    /// Validation negative log-likelihood, nats per token, if known.
    pub valid_nll_per_token: Option<f64>,
}

impl ModelMeta {
    /// Metadata for a new model over the current vocabulary.
    pub fn new(architecture: Architecture, training: serde_json::Value) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            vocab_version: VOCAB_VERSION,
            vocab_size: VOCAB_SIZE,
            architecture,
            precision: Precision::F32,
            training,
            valid_nll_per_token: None,
        }
    }

    /// Checks the versions, every architecture field against [`limits`], and the memory the
    /// model needs: all before anything is allocated for it.
    pub fn validate(&self) -> Result<(), String> {
        if self.format_version != FORMAT_VERSION {
            return Err(format!(
                "model format version {} but this Continuo reads version {FORMAT_VERSION}",
                self.format_version
            ));
        }
        if self.vocab_version != VOCAB_VERSION || self.vocab_size != VOCAB_SIZE {
            return Err(format!(
                "vocabulary v{} with {} tokens but this Continuo uses v{VOCAB_VERSION} with {VOCAB_SIZE}",
                self.vocab_version, self.vocab_size
            ));
        }
        self.architecture.validate()?;
        match self.memory_bytes() {
            Some(bytes) if bytes <= limits::MAX_MODEL_MEMORY_BYTES => Ok(()),
            needed => Err(format!(
                "the model needs {} bytes of memory (weights and delay lines), over the limit of {}",
                needed.map_or("more than 2^64".to_string(), |bytes| bytes.to_string()),
                limits::MAX_MODEL_MEMORY_BYTES
            )),
        }
    }

    /// Bytes the engine holds for this model: every tensor (rows padded to the kernels' chunk)
    /// and the WaveNet's delay lines. `None` if an architecture field is out of its limits (the
    /// layers are not even listed then) or the sum overflows.
    pub fn memory_bytes(&self) -> Option<u64> {
        self.architecture.validate().ok()?;
        let mut total: u64 = 0;
        for ExpectedTensor { shape, dtype, .. } in expected_tensors(self) {
            let (&cols, outer) = shape.split_last()?;
            let rows = outer.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64))?;
            let cols = padded_len(cols) as u64;
            let element_bytes = if dtype == Dtype::I8 { 1 } else { 4 };
            total = total.checked_add(rows.checked_mul(cols)?.checked_mul(element_bytes)?)?;
        }
        if let Architecture::WaveNet(config) = self.architecture {
            let delay_slots = config.dilations().try_fold(0u64, |sum, dilation| sum.checked_add(dilation as u64))?;
            total = total.checked_add(delay_slots.checked_mul(config.residual_channels as u64)?.checked_mul(4)?)?;
            let copy_ring = (COPY_WINDOW_TOKENS * padded_len(config.copy_keys) * 4) as u64;
            total = total.checked_add(copy_ring)?;
        }
        Some(total)
    }
}

/// The values of one stored tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    I8(Vec<i8>),
}

/// One stored tensor: its shape (row-major) and values.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
}

impl StoredTensor {
    /// An f32 tensor; panics if the values do not fill the shape.
    pub fn f32(shape: Vec<usize>, values: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "shape {shape:?}");
        Self { shape, data: TensorData::F32(values) }
    }

    /// An int8 tensor; panics if the values do not fill the shape.
    pub fn i8(shape: Vec<usize>, values: Vec<i8>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "shape {shape:?}");
        Self { shape, data: TensorData::I8(values) }
    }

    fn dtype(&self) -> Dtype {
        match self.data {
            TensorData::F32(_) => Dtype::F32,
            TensorData::I8(_) => Dtype::I8,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match &self.data {
            TensorData::F32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            TensorData::I8(values) => values.iter().map(|&v| v as u8).collect(),
        }
    }
}

/// Tensor names, shared by the writer and the readers.
pub mod names {
    /// Token embedding, `[vocab, C]` (WaveNet) or `[vocab, E]` (LSTM).
    pub const EMBEDDING: &str = "embedding.weight";
    /// Conditioning projection, `[C, FEATURE_COUNT]`.
    pub const CONDITIONING: &str = "conditioning.weight";
    /// The repeat pointer's logit bonus by match length and event kind,
    /// `[LENGTH_BUCKETS, EventKind::ALL.len()]` (WaveNet only).
    pub const REPEAT_BONUS: &str = "repeat_pointer.bonus";
    /// What every copy-head tensor's name starts with.
    pub const COPY_PREFIX: &str = "copy.";
    /// The copy head's query 1x1 from the head's hidden state, `[K, S]` (WaveNet only).
    pub const COPY_QUERY: &str = "copy.query";
    /// The copy head's key 1x1 from the head's hidden state, `[K, S]`.
    pub const COPY_KEY: &str = "copy.key";
    /// The key of the copy head's sentinel (attending to it keeps the network's own
    /// distribution), `[K]`.
    pub const COPY_SENTINEL_KEY: &str = "copy.sentinel_key";
    /// The sentinel's score offset, `[1]`.
    pub const COPY_SENTINEL_BIAS: &str = "copy.sentinel_bias";
    /// Output head's hidden 1x1, `[S, S]` (WaveNet only).
    pub const HEAD_HIDDEN: &str = "head.hidden";
    /// Output head's last 1x1 (or linear), `[vocab, S]` (`[vocab, H]` for the LSTM).
    pub const HEAD_OUTPUT: &str = "head.output";

    /// Dilated kernel-2 convolution of layer `i`, `[2C, 2C]`.
    pub fn dilated(layer: usize) -> String {
        format!("layers.{layer}.dilated")
    }
    /// Residual 1x1 of layer `i`, `[C, C]`.
    pub fn residual(layer: usize) -> String {
        format!("layers.{layer}.residual")
    }
    /// Skip 1x1 of layer `i`, `[S, C]`.
    pub fn skip(layer: usize) -> String {
        format!("layers.{layer}.skip")
    }
    /// LSTM layer `l`'s input-to-gates matrix, `[4H, in]`, gates in the order i, f, g, o.
    pub fn lstm_input(layer: usize) -> String {
        format!("lstm.{layer}.input")
    }
    /// LSTM layer `l`'s hidden-to-gates matrix, `[4H, H]` (its bias is always zero).
    pub fn lstm_hidden(layer: usize) -> String {
        format!("lstm.{layer}.hidden")
    }
    /// `<prefix>.weight`.
    pub fn weight(prefix: &str) -> String {
        format!("{prefix}.weight")
    }
    /// `<prefix>.bias`.
    pub fn bias(prefix: &str) -> String {
        format!("{prefix}.bias")
    }
    /// `<prefix>.weight_scale`: per-row scales of an int8 matrix.
    pub fn weight_scale(prefix: &str) -> String {
        format!("{prefix}.weight_scale")
    }
}

/// A dense layer the file holds: its name prefix and `[out, in]` shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DenseLayout {
    pub prefix: String,
    pub outputs: usize,
    pub inputs: usize,
}

/// Every dense layer (weight + bias) of an architecture, in network order.
pub fn dense_layers(architecture: &Architecture, vocab_size: usize) -> Vec<DenseLayout> {
    let dense = |prefix: String, outputs, inputs| DenseLayout { prefix, outputs, inputs };
    match architecture {
        Architecture::WaveNet(config) => {
            let (c, s) = (config.residual_channels, config.skip_channels);
            let mut layers = Vec::new();
            for layer in 0..config.layer_count() {
                layers.push(dense(names::dilated(layer), 2 * c, 2 * c));
                layers.push(dense(names::residual(layer), c, c));
                layers.push(dense(names::skip(layer), s, c));
            }
            layers.push(dense(names::HEAD_HIDDEN.to_string(), s, s));
            layers.push(dense(names::HEAD_OUTPUT.to_string(), vocab_size, s));
            if config.copy_keys > 0 {
                layers.push(dense(names::COPY_QUERY.to_string(), config.copy_keys, s));
                layers.push(dense(names::COPY_KEY.to_string(), config.copy_keys, s));
            }
            layers
        }
        Architecture::Lstm(config) => {
            let mut layers = Vec::new();
            for layer in 0..config.layers {
                let inputs = if layer == 0 { config.embedding } else { config.hidden };
                layers.push(dense(names::lstm_input(layer), 4 * config.hidden, inputs));
                layers.push(dense(names::lstm_hidden(layer), 4 * config.hidden, config.hidden));
            }
            layers.push(dense(names::HEAD_OUTPUT.to_string(), vocab_size, config.hidden));
            layers
        }
    }
}

/// The f32 tensors that are not part of a dense layer: `(name, shape)`.
pub fn plain_tensors(architecture: &Architecture, vocab_size: usize) -> Vec<(String, Vec<usize>)> {
    match architecture {
        Architecture::WaveNet(config) => {
            let c = config.residual_channels;
            let mut tensors = vec![(names::EMBEDDING.to_string(), vec![vocab_size, c])];
            if config.conditioned {
                tensors.push((names::CONDITIONING.to_string(), vec![c, FEATURE_COUNT]));
            }
            if config.repeat_pointer {
                tensors.push((names::REPEAT_BONUS.to_string(), BONUS_SHAPE.to_vec()));
            }
            if config.copy_keys > 0 {
                tensors.push((names::COPY_SENTINEL_KEY.to_string(), vec![config.copy_keys]));
                tensors.push((names::COPY_SENTINEL_BIAS.to_string(), vec![1]));
            }
            tensors
        }
        Architecture::Lstm(config) => vec![(names::EMBEDDING.to_string(), vec![vocab_size, config.embedding])],
    }
}

/// A model as stored: metadata and named tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    pub meta: ModelMeta,
    pub tensors: BTreeMap<String, StoredTensor>,
}

impl ModelFile {
    /// Reads and validates a model file: a regular file (not a FIFO or a device) of at most
    /// [`limits::MAX_MODEL_FILE_BYTES`].
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let file = path.display().to_string();
        let bytes = read_regular_file(path, limits::MAX_MODEL_FILE_BYTES)
            .map_err(|error| ModelError { file: file.clone(), problem: error.to_string() })?;
        Self::from_bytes(&bytes, &file)
    }

    /// Parses and validates model bytes; `file` names them in errors. The metadata (versions,
    /// architecture, memory) is checked before any tensor is decoded.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Self, ModelError> {
        let refuse = |problem: String| ModelError { file: file.to_string(), problem };
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|error| refuse(format!("not a safetensors file: {error}")))?;
        let text = header.metadata().as_ref();
        if text.and_then(|m| m.get(FORMAT_KEY)).map(String::as_str) != Some(FORMAT_NAME) {
            return Err(refuse("not a Continuo model (no \"format\": \"continuo-model\" metadata)".into()));
        }
        let meta_json = text.and_then(|m| m.get(META_KEY)).ok_or_else(|| refuse("no model metadata".into()))?;
        let meta: ModelMeta =
            serde_json::from_str(meta_json).map_err(|error| refuse(format!("unreadable metadata: {error}")))?;
        meta.validate().map_err(refuse)?;
        let parsed =
            SafeTensors::deserialize(bytes).map_err(|error| refuse(format!("corrupt tensor data: {error}")))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in parsed.iter() {
            let shape = view.shape().to_vec();
            let data = match view.dtype() {
                Dtype::F32 => TensorData::F32(
                    view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                ),
                Dtype::I8 => TensorData::I8(view.data().iter().map(|&b| b as i8).collect()),
                other => return Err(refuse(format!("tensor {name} has unsupported type {other:?}"))),
            };
            tensors.insert(name.to_string(), StoredTensor { shape, data });
        }
        let model = Self { meta, tensors };
        model.validate_tensors().map_err(refuse)?;
        Ok(model)
    }

    /// Serializes the model to safetensors bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_with_metadata(&serde_json::to_string(&self.meta).expect("metadata serializes"))
    }

    /// Serializes the tensors with `meta_json` as the model metadata in place of `self.meta`:
    /// how the fuzzer writes metadata of its own for the loader to judge.
    pub fn to_bytes_with_metadata(&self, meta_json: &str) -> Vec<u8> {
        let views: Vec<(String, RawView)> = self
            .tensors
            .iter()
            .map(|(name, tensor)| {
                (name.clone(), RawView { dtype: tensor.dtype(), shape: tensor.shape.clone(), bytes: tensor.bytes() })
            })
            .collect();
        let metadata = HashMap::from([
            (FORMAT_KEY.to_string(), FORMAT_NAME.to_string()),
            (META_KEY.to_string(), meta_json.to_string()),
        ]);
        safetensors::serialize(views, Some(metadata)).expect("tensors with matching shapes serialize")
    }

    /// Writes the file atomically (a temporary file beside it, then a rename), so a reader or
    /// a killed writer never leaves half a model behind.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_atomically(path, &self.to_bytes())
    }

    /// The network alone: the repeat pointer and its bonus table removed (to fit a new table, or
    /// to score what the pointer adds). Other models are returned as they are.
    pub fn without_repeat_pointer(&self) -> ModelFile {
        let mut model = self.clone();
        if let Architecture::WaveNet(config) = &mut model.meta.architecture {
            config.repeat_pointer = false;
            model.tensors.remove(names::REPEAT_BONUS);
        }
        model
    }

    /// The network without its copy head: the head's tensors removed (to score what the head
    /// adds). Other models are returned as they are.
    pub fn without_copy_head(&self) -> ModelFile {
        let mut model = self.clone();
        if let Architecture::WaveNet(config) = &mut model.meta.architecture {
            config.copy_keys = 0;
            model.tensors.retain(|name, _| !name.starts_with(names::COPY_PREFIX));
        }
        model
    }

    /// The WaveNet with the repeat pointer and this bonus table (`[LENGTH_BUCKETS,
    /// EventKind::ALL.len()]` values, in place of any it had); other models unchanged.
    pub fn with_repeat_bonus(&self, bonus: Vec<f32>) -> ModelFile {
        let mut model = self.without_repeat_pointer();
        if let Architecture::WaveNet(config) = &mut model.meta.architecture {
            config.repeat_pointer = true;
            model.tensors.insert(names::REPEAT_BONUS.to_string(), StoredTensor::f32(BONUS_SHAPE.to_vec(), bonus));
        }
        model
    }

    /// An f32 tensor by name.
    pub fn f32(&self, name: &str) -> Option<&[f32]> {
        match &self.tensors.get(name)?.data {
            TensorData::F32(values) => Some(values),
            TensorData::I8(_) => None,
        }
    }

    /// An int8 tensor by name.
    pub fn i8(&self, name: &str) -> Option<&[i8]> {
        match &self.tensors.get(name)?.data {
            TensorData::I8(values) => Some(values),
            TensorData::F32(_) => None,
        }
    }

    /// Checks that every tensor the architecture needs is there with its shape and type, and
    /// that its values are finite and within range (the metadata is already checked).
    fn validate_tensors(&self) -> Result<(), String> {
        let expected = expected_tensors(&self.meta);
        for ExpectedTensor { name, shape, dtype, values } in &expected {
            let tensor = self.tensors.get(name).ok_or_else(|| format!("tensor {name} is missing"))?;
            if &tensor.shape != shape || tensor.dtype() != *dtype {
                return Err(format!(
                    "tensor {name} is {:?} {:?}, expected {dtype:?} {shape:?}",
                    tensor.dtype(),
                    tensor.shape
                ));
            }
            if let TensorData::F32(stored) = &tensor.data {
                values.check(name, stored)?;
            }
        }
        if self.tensors.len() != expected.len() {
            let unexpected = self.tensors.keys().find(|name| !expected.iter().any(|tensor| &tensor.name == *name));
            return Err(format!("unexpected tensor {}", unexpected.map_or("", String::as_str)));
        }
        Ok(())
    }
}

/// Bounds on what a model file may ask for, checked before anything is allocated: a file of a
/// few bytes must not make the plugin allocate gigabytes or loop for hours. Generous: the
/// largest models trained so far (C128 S256, about 4 MB) are far inside them.
pub mod limits {
    /// Largest model file read, in bytes (16x a C128 S256 f32 model).
    pub const MAX_MODEL_FILE_BYTES: u64 = 64 << 20;
    /// Most memory a model may need (weights and delay lines), in bytes.
    pub const MAX_MODEL_MEMORY_BYTES: u64 = 256 << 20;
    /// Widest residual stream (WaveNet) and embedding.
    pub const MAX_RESIDUAL_CHANNELS: usize = 1024;
    /// Widest skip stream and output head.
    pub const MAX_SKIP_CHANNELS: usize = 2048;
    /// Widest copy-head key.
    pub const MAX_COPY_KEYS: usize = 256;
    /// Most WaveNet stacks.
    pub const MAX_STACKS: usize = 16;
    /// Most dilated layers per stack: the deepest delay line is 2^15 steps.
    pub const MAX_LAYERS_PER_STACK: usize = 16;
    /// Widest LSTM embedding.
    pub const MAX_LSTM_EMBEDDING: usize = 4096;
    /// Widest LSTM hidden state.
    pub const MAX_LSTM_HIDDEN: usize = 4096;
    /// Most stacked LSTM layers.
    pub const MAX_LSTM_LAYERS: usize = 16;
    /// Largest magnitude of any stored f32 value (and of `int8 value * scale`): trained weights
    /// are orders of magnitude smaller, and bounded weights keep every logit finite.
    pub const MAX_WEIGHT_MAGNITUDE: f32 = 1e4;
}

impl Architecture {
    /// Checks every hyper-parameter against its limit in [`limits`].
    pub fn validate(&self) -> Result<(), String> {
        let fields = match self {
            Architecture::WaveNet(config) => vec![
                ("residual_channels", config.residual_channels, limits::MAX_RESIDUAL_CHANNELS),
                ("skip_channels", config.skip_channels, limits::MAX_SKIP_CHANNELS),
                ("stacks", config.stacks, limits::MAX_STACKS),
                ("layers_per_stack", config.layers_per_stack, limits::MAX_LAYERS_PER_STACK),
            ],
            Architecture::Lstm(config) => vec![
                ("embedding", config.embedding, limits::MAX_LSTM_EMBEDDING),
                ("hidden", config.hidden, limits::MAX_LSTM_HIDDEN),
                ("layers", config.layers, limits::MAX_LSTM_LAYERS),
            ],
        };
        for (field, value, limit) in fields {
            if !(1..=limit).contains(&value) {
                return Err(format!("architecture field {field} is {value}, outside the limits 1..={limit}"));
            }
        }
        match self {
            Architecture::WaveNet(config) if config.copy_keys > limits::MAX_COPY_KEYS => Err(format!(
                "architecture field copy_keys is {}, outside the limits 0..={}",
                config.copy_keys,
                limits::MAX_COPY_KEYS
            )),
            _ => Ok(()),
        }
    }
}

/// A tensor a model file must hold.
struct ExpectedTensor {
    /// Its name in the file.
    name: String,
    /// Its shape, row-major.
    shape: Vec<usize>,
    /// How it is stored.
    dtype: Dtype,
    /// What its f32 values may be.
    values: ValueRange,
}

/// The values an f32 tensor may hold.
#[derive(Clone, Copy)]
enum ValueRange {
    /// Weights, biases, embeddings: finite, magnitude at most `MAX_WEIGHT_MAGNITUDE`.
    Weights,
    /// Int8 row scales: finite, not negative, and `127 * scale` at most `MAX_WEIGHT_MAGNITUDE`.
    Scales,
}

impl ValueRange {
    fn check(self, name: &str, values: &[f32]) -> Result<(), String> {
        let (low, high) = match self {
            ValueRange::Weights => (-limits::MAX_WEIGHT_MAGNITUDE, limits::MAX_WEIGHT_MAGNITUDE),
            ValueRange::Scales => (0.0, limits::MAX_WEIGHT_MAGNITUDE / INT8_MAX_MAGNITUDE),
        };
        match values.iter().find(|v| !(low..=high).contains(*v)) {
            None => Ok(()),
            Some(v) if !v.is_finite() => Err(format!("tensor {name} holds NaN or infinite values ({v})")),
            Some(v) => Err(format!("tensor {name} holds {v}, outside {low}..={high}")),
        }
    }
}

/// Every tensor a model with this metadata holds, in a fixed order.
fn expected_tensors(meta: &ModelMeta) -> Vec<ExpectedTensor> {
    let expect = |name, shape, dtype, values| ExpectedTensor { name, shape, dtype, values };
    let mut expected: Vec<ExpectedTensor> = plain_tensors(&meta.architecture, meta.vocab_size)
        .into_iter()
        .map(|(name, shape)| expect(name, shape, Dtype::F32, ValueRange::Weights))
        .collect();
    let matrix_type = match meta.precision {
        Precision::F32 => Dtype::F32,
        Precision::Int8 => Dtype::I8,
    };
    for layer in dense_layers(&meta.architecture, meta.vocab_size) {
        let (rows, cols) = (layer.outputs, layer.inputs);
        expected.push(expect(names::weight(&layer.prefix), vec![rows, cols], matrix_type, ValueRange::Weights));
        expected.push(expect(names::bias(&layer.prefix), vec![rows], Dtype::F32, ValueRange::Weights));
        if meta.precision == Precision::Int8 {
            expected.push(expect(names::weight_scale(&layer.prefix), vec![rows], Dtype::F32, ValueRange::Scales));
        }
    }
    expected
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = std::path::PathBuf::from(temporary);
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)
}

/// A borrowed-bytes view for `safetensors::serialize`.
struct RawView {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for RawView {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::repeat_pointer::BONUS_COUNT;

    /// A small WaveNet file with deterministic values.
    fn tiny_wavenet() -> ModelFile {
        let config = WaveNetConfig { residual_channels: 4, skip_channels: 6, stacks: 1, layers_per_stack: 2, conditioned: true, repeat_pointer: false, copy_keys: 0 };
        let architecture = Architecture::WaveNet(config);
        let mut tensors = BTreeMap::new();
        let mut counter = 0.0f32;
        let mut values = |n: usize| {
            (0..n)
                .map(|_| {
                    counter += 0.37;
                    counter.sin()
                })
                .collect::<Vec<f32>>()
        };
        for (name, shape) in plain_tensors(&architecture, VOCAB_SIZE) {
            let n = shape.iter().product();
            tensors.insert(name, StoredTensor::f32(shape, values(n)));
        }
        for layer in dense_layers(&architecture, VOCAB_SIZE) {
            let weights = values(layer.outputs * layer.inputs);
            tensors.insert(names::weight(&layer.prefix), StoredTensor::f32(vec![layer.outputs, layer.inputs], weights));
            tensors.insert(names::bias(&layer.prefix), StoredTensor::f32(vec![layer.outputs], values(layer.outputs)));
        }
        ModelFile { meta: ModelMeta::new(architecture, serde_json::json!({"files": 1})), tensors }
    }

    #[test]
    fn a_saved_model_loads_back_identical() {
        let model = tiny_wavenet();
        let loaded = ModelFile::from_bytes(&model.to_bytes(), "tiny").unwrap();
        assert_eq!(loaded, model);
    }

    #[test]
    fn a_repeat_pointer_table_round_trips_and_its_absence_is_refused() {
        let network = tiny_wavenet();
        let bonus: Vec<f32> = (0..BONUS_COUNT).map(|cell| cell as f32 / 4.0).collect();
        let with_pointer = network.with_repeat_bonus(bonus);
        assert_eq!(ModelFile::from_bytes(&with_pointer.to_bytes(), "tiny").unwrap(), with_pointer);
        assert_eq!(with_pointer.without_repeat_pointer(), network);
        let mut missing = with_pointer.clone();
        missing.tensors.remove(names::REPEAT_BONUS);
        let refused = ModelFile::from_bytes(&missing.to_bytes(), "x.safetensors").unwrap_err().to_string();
        assert_eq!(refused, "x.safetensors: tensor repeat_pointer.bonus is missing");
    }

    #[test]
    fn receptive_field_of_the_default_spans_2047_tokens() {
        assert_eq!(WaveNetConfig::default().receptive_field(), 2047);
    }

    #[test]
    fn mismatched_or_corrupt_files_are_refused_with_the_reason() {
        let model = tiny_wavenet();
        let refused = |model: &ModelFile| ModelFile::from_bytes(&model.to_bytes(), "x.safetensors").unwrap_err().to_string();

        let mut wrong_vocab = model.clone();
        wrong_vocab.meta.vocab_version += 1;
        assert!(refused(&wrong_vocab).contains("vocabulary"), "{}", refused(&wrong_vocab));

        let mut missing = model.clone();
        missing.tensors.remove("layers.1.skip.bias");
        assert_eq!(refused(&missing), "x.safetensors: tensor layers.1.skip.bias is missing");

        let mut reshaped = model.clone();
        reshaped.tensors.insert(names::EMBEDDING.into(), StoredTensor::f32(vec![1, 4], vec![0.0; 4]));
        assert!(refused(&reshaped).contains("tensor embedding.weight is F32 [1, 4]"));

        let mut not_finite = model.clone();
        not_finite.tensors.insert("head.output.bias".into(), StoredTensor::f32(vec![VOCAB_SIZE], vec![f32::NAN; VOCAB_SIZE]));
        assert!(refused(&not_finite).contains("NaN"));

        let bytes = model.to_bytes();
        let truncated = ModelFile::from_bytes(&bytes[..bytes.len() / 2], "cut.safetensors").unwrap_err();
        assert!(truncated.to_string().starts_with("cut.safetensors: "), "{truncated}");
        let garbage = ModelFile::from_bytes(b"hello", "g.safetensors").unwrap_err();
        assert!(garbage.to_string().contains("not a safetensors file"));
    }

    /// The error for `model` with its WaveNet configuration changed by `change`.
    fn refusal_of_architecture(change: impl FnOnce(&mut WaveNetConfig)) -> String {
        let mut model = tiny_wavenet();
        let Architecture::WaveNet(config) = &mut model.meta.architecture else { unreachable!() };
        change(config);
        ModelFile::from_bytes(&model.to_bytes(), "big.safetensors").unwrap_err().to_string()
    }

    /// Failed before the limits: `layers_per_stack: 36` passed the metadata and failed only on
    /// a missing tensor, and `stacks: 2^40` listed 2^40 layers before looking at any tensor.
    #[test]
    fn every_architecture_field_beyond_its_limit_is_refused_naming_it_before_any_allocation() {
        assert_eq!(
            refusal_of_architecture(|config| config.layers_per_stack = 36),
            "big.safetensors: architecture field layers_per_stack is 36, outside the limits 1..=16"
        );
        assert!(refusal_of_architecture(|config| config.stacks = 1 << 40).contains("field stacks is 1099511627776"));
        assert!(refusal_of_architecture(|config| config.residual_channels = 0).contains("field residual_channels is 0"));
        assert!(refusal_of_architecture(|config| config.skip_channels = usize::MAX).contains("field skip_channels"));
        assert_eq!(
            refusal_of_architecture(|config| config.copy_keys = 257),
            "big.safetensors: architecture field copy_keys is 257, outside the limits 0..=256"
        );
        assert_eq!(refusal_of_architecture(|config| config.copy_keys = 8), "big.safetensors: tensor copy.sentinel_key is missing");
        let mut lstm = tiny_wavenet();
        lstm.meta.architecture = Architecture::Lstm(LstmConfig { embedding: 8, hidden: 1 << 20, layers: 1 });
        let refused = ModelFile::from_bytes(&lstm.to_bytes(), "lstm.safetensors").unwrap_err().to_string();
        assert!(refused.contains("field hidden is 1048576, outside the limits 1..=4096"), "{refused}");
    }

    #[test]
    fn a_model_within_every_field_limit_but_too_big_in_total_is_refused() {
        let refused = refusal_of_architecture(|config| {
            *config = WaveNetConfig {
                residual_channels: limits::MAX_RESIDUAL_CHANNELS,
                skip_channels: limits::MAX_SKIP_CHANNELS,
                stacks: limits::MAX_STACKS,
                layers_per_stack: limits::MAX_LAYERS_PER_STACK,
                conditioned: true,
                repeat_pointer: true,
                copy_keys: 0,
            }
        });
        assert!(refused.contains("bytes of memory (weights and delay lines), over the limit of 268435456"), "{refused}");
        let default = ModelMeta::new(Architecture::WaveNet(WaveNetConfig::default()), serde_json::Value::Null);
        let bytes = default.memory_bytes().unwrap();
        assert!((500_000..limits::MAX_MODEL_MEMORY_BYTES / 16).contains(&bytes), "the default model needs {bytes}");
    }

    /// Failed before: only NaN and infinities were refused, and int8 scales not at all.
    #[test]
    fn values_out_of_range_and_bad_int8_scales_are_refused() {
        let refused = |model: &ModelFile| ModelFile::from_bytes(&model.to_bytes(), "w.safetensors").unwrap_err().to_string();
        let mut huge = tiny_wavenet();
        huge.tensors.insert("head.output.bias".into(), StoredTensor::f32(vec![VOCAB_SIZE], vec![1e30; VOCAB_SIZE]));
        let error = refused(&huge);
        assert!(error.contains("tensor head.output.bias holds 1") && error.contains(", outside -10000..=10000"), "{error}");

        let int8 = crate::engine::quantize::quantize(&tiny_wavenet());
        ModelFile::from_bytes(&int8.to_bytes(), "int8").expect("a quantized model is valid");
        let scale_name = names::weight_scale("head.hidden");
        for (bad, expected) in [(f32::NAN, "NaN"), (-0.5, "holds -0.5"), (1e6, "holds 1000000")] {
            let mut model = int8.clone();
            model.tensors.insert(scale_name.clone(), StoredTensor::f32(vec![6], vec![bad; 6]));
            let error = refused(&model);
            assert!(error.contains(&format!("tensor {scale_name}")) && error.contains(expected), "{error}");
        }
    }

    /// Loads `path` on a thread: a load that blocks (a FIFO opened for reading waits for a
    /// writer) fails the test after a while instead of hanging it.
    fn load_within_a_minute(path: &Path) -> Result<ModelFile, ModelError> {
        let (sender, receiver) = std::sync::mpsc::channel();
        let path = path.to_path_buf();
        std::thread::spawn(move || {
            let _ = sender.send(ModelFile::load(&path));
        });
        receiver.recv_timeout(std::time::Duration::from_secs(60)).expect("the load returns instead of blocking")
    }

    /// Failed before: `/dev/zero` read until memory ran out, a FIFO blocked forever.
    #[cfg(unix)]
    #[test]
    fn devices_fifos_folders_and_oversized_files_are_refused_without_reading_them() {
        let directory = tempfile::tempdir().unwrap();
        let fifo = directory.path().join("model.fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let oversized = directory.path().join("huge.safetensors");
        std::fs::File::create(&oversized).unwrap().set_len(limits::MAX_MODEL_FILE_BYTES + 1).unwrap();
        let cases = [
            (Path::new("/dev/zero"), "not a regular file (a character device)"),
            (fifo.as_path(), "not a regular file (a FIFO)"),
            (directory.path(), "not a regular file (a directory)"),
            (oversized.as_path(), "larger than the limit of 67108864 bytes"),
        ];
        for (path, problem) in cases {
            let error = load_within_a_minute(path).unwrap_err();
            assert_eq!(error.to_string(), format!("{}: {problem}", path.display()));
        }
        let good = directory.path().join("good.safetensors");
        tiny_wavenet().save(&good).unwrap();
        assert_eq!(load_within_a_minute(&good).unwrap(), tiny_wavenet());
    }
}
