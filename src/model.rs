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
}

impl Default for WaveNetConfig {
    fn default() -> Self {
        Self { residual_channels: 64, skip_channels: 128, stacks: 2, layers_per_stack: 10, conditioned: true }
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
    /// Reads and validates a model file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|error| ModelError { file: file.clone(), problem: format!("cannot read: {error}") })?;
        Self::from_bytes(&bytes, &file)
    }

    /// Parses and validates model bytes; `file` names them in errors.
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
        model.validate().map_err(refuse)?;
        Ok(model)
    }

    /// Serializes the model to safetensors bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let views: Vec<(String, RawView)> = self
            .tensors
            .iter()
            .map(|(name, tensor)| {
                (name.clone(), RawView { dtype: tensor.dtype(), shape: tensor.shape.clone(), bytes: tensor.bytes() })
            })
            .collect();
        let metadata = HashMap::from([
            (FORMAT_KEY.to_string(), FORMAT_NAME.to_string()),
            (META_KEY.to_string(), serde_json::to_string(&self.meta).expect("metadata serializes")),
        ]);
        safetensors::serialize(views, Some(metadata)).expect("tensors with matching shapes serialize")
    }

    /// Writes the file atomically (a temporary file beside it, then a rename), so a reader or
    /// a killed writer never leaves half a model behind.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_atomically(path, &self.to_bytes())
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

    /// Checks versions, and that every tensor the architecture needs is there with its shape,
    /// type and finite values.
    fn validate(&self) -> Result<(), String> {
        let meta = &self.meta;
        if meta.format_version != FORMAT_VERSION {
            return Err(format!(
                "model format version {} but this Continuo reads version {FORMAT_VERSION}",
                meta.format_version
            ));
        }
        if meta.vocab_version != VOCAB_VERSION || meta.vocab_size != VOCAB_SIZE {
            return Err(format!(
                "vocabulary v{} with {} tokens but this Continuo uses v{VOCAB_VERSION} with {VOCAB_SIZE}",
                meta.vocab_version, meta.vocab_size
            ));
        }
        let mut expected: Vec<(String, Vec<usize>, Dtype)> = plain_tensors(&meta.architecture, meta.vocab_size)
            .into_iter()
            .map(|(name, shape)| (name, shape, Dtype::F32))
            .collect();
        for layer in dense_layers(&meta.architecture, meta.vocab_size) {
            let matrix_type = match meta.precision {
                Precision::F32 => Dtype::F32,
                Precision::Int8 => Dtype::I8,
            };
            expected.push((names::weight(&layer.prefix), vec![layer.outputs, layer.inputs], matrix_type));
            expected.push((names::bias(&layer.prefix), vec![layer.outputs], Dtype::F32));
            if meta.precision == Precision::Int8 {
                expected.push((names::weight_scale(&layer.prefix), vec![layer.outputs], Dtype::F32));
            }
        }
        for (name, shape, dtype) in &expected {
            let tensor = self.tensors.get(name).ok_or_else(|| format!("tensor {name} is missing"))?;
            if &tensor.shape != shape || tensor.dtype() != *dtype {
                return Err(format!(
                    "tensor {name} is {:?} {:?}, expected {dtype:?} {shape:?}",
                    tensor.dtype(),
                    tensor.shape
                ));
            }
            if let TensorData::F32(values) = &tensor.data {
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(format!("tensor {name} holds NaN or infinite values"));
                }
            }
        }
        if self.tensors.len() != expected.len() {
            let unexpected = self.tensors.keys().find(|name| !expected.iter().any(|(n, ..)| n == *name));
            return Err(format!("unexpected tensor {}", unexpected.map_or("", String::as_str)));
        }
        Ok(())
    }
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

    /// A small WaveNet file with deterministic values.
    fn tiny_wavenet() -> ModelFile {
        let config = WaveNetConfig { residual_channels: 4, skip_channels: 6, stacks: 1, layers_per_stack: 2, conditioned: true };
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
}
