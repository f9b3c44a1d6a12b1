//! The trainable network (WaveNet or LSTM) behind one type: initialization, the next-token
//! loss, and conversion to and from the model file.

use std::collections::BTreeMap;

use anyhow::Result;
use burn::prelude::*;
use continuo::engine::Score;
use continuo::model::{dense_layers, names, plain_tensors, Architecture, ModelFile, ModelMeta, StoredTensor, WaveNetConfig};
use continuo::tokens::{FEATURE_COUNT, VOCAB_SIZE};
use rand::{Rng, SeedableRng};

use crate::batches::Batch;
use crate::fused::cross_entropy;
use crate::lstm::Lstm;
use crate::wavenet::WaveNet;

/// Either architecture, trained and exported the same way.
// One network per run: the variants' difference in size (the WaveNet's copy head) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Network {
    WaveNet(WaveNet),
    Lstm(Lstm),
}

/// The copy head's sentinel score to start from: far above an earlier step whose state is
/// unlike the present one, so a new head leaves the network its distribution except where a
/// state much like the present one came before (the first validation is still worse than the
/// network's own, by 1.7-2.3 nats/token for the default model; it falls below it within two
/// epochs: BENCHMARKS.md, "A network that copies").
const INITIAL_SENTINEL_BIAS: f32 = 10.0;

/// `weights` (a WaveNet without a copy head) with a fresh copy head of `keys` wide queries and
/// keys, drawn from `seed` as [`initial_model_file`] draws it; other files unchanged.
pub fn with_fresh_copy_head(mut weights: ModelFile, keys: usize, seed: u64) -> ModelFile {
    let Architecture::WaveNet(config) = weights.meta.architecture else { return weights };
    if config.copy_keys > 0 || keys == 0 {
        return weights;
    }
    let architecture = Architecture::WaveNet(WaveNetConfig { copy_keys: keys, ..config });
    let fresh = initial_model_file(architecture, seed);
    weights.tensors.extend(fresh.tensors.into_iter().filter(|(name, _)| name.starts_with(names::COPY_PREFIX)));
    weights.meta.architecture = architecture;
    weights
}

/// A model file of the architecture with fresh random weights from `seed` (uniform within
/// ±1/sqrt(fan-in) for dense layers, unit-variance uniform embeddings), so initialization is
/// reproducible on any backend and goes through the same import path as a trained file.
pub fn initial_model_file(architecture: Architecture, seed: u64) -> ModelFile {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut uniform = |count: usize, bound: f32| -> Vec<f32> { (0..count).map(|_| rng.random_range(-bound..bound)).collect() };
    let mut tensors = BTreeMap::new();
    for (name, shape) in plain_tensors(&architecture, VOCAB_SIZE) {
        let count = shape.iter().product();
        let values = match name.as_str() {
            names::COPY_SENTINEL_BIAS => vec![INITIAL_SENTINEL_BIAS; count],
            names::CONDITIONING => uniform(count, 1.0 / (FEATURE_COUNT as f32).sqrt()),
            _ => uniform(count, 3f32.sqrt()),
        };
        tensors.insert(name, StoredTensor::f32(shape, values));
    }
    for layer in dense_layers(&architecture, VOCAB_SIZE) {
        let bound = 1.0 / (layer.inputs as f32).sqrt();
        let weight = uniform(layer.outputs * layer.inputs, bound);
        tensors.insert(names::weight(&layer.prefix), StoredTensor::f32(vec![layer.outputs, layer.inputs], weight));
        let bias = match layer.prefix.starts_with("lstm.") && layer.prefix.ends_with(".hidden") {
            true => vec![0.0; layer.outputs],
            false => uniform(layer.outputs, bound),
        };
        tensors.insert(names::bias(&layer.prefix), StoredTensor::f32(vec![layer.outputs], bias));
    }
    // A fresh copy head asks for what it would itself offer (its query projection is its key
    // projection), so from the first step a state attends most to the earlier states most like
    // it: the lookup it has to learn, in rough form, rather than an even spread to learn from.
    for part in [names::weight(names::COPY_KEY), names::bias(names::COPY_KEY)] {
        if let Some(key) = tensors.get(&part).cloned() {
            tensors.insert(part.replacen(names::COPY_KEY, names::COPY_QUERY, 1), key);
        }
    }
    ModelFile { meta: ModelMeta::new(architecture, serde_json::Value::Null), tensors }
}

impl Network {
    /// Builds the network a model file describes, on `device`.
    pub fn from_model_file(model: &ModelFile, device: &Device) -> Result<Self> {
        Ok(match model.meta.architecture {
            Architecture::WaveNet(config) => Network::WaveNet(WaveNet::from_model_file(config, model, device)?),
            Architecture::Lstm(config) => Network::Lstm(Lstm::from_model_file(config, model, device)?),
        })
    }

    /// The weights as a model file with the given metadata (architecture filled in).
    pub fn to_model_file(&self, training: serde_json::Value, valid_nll_per_token: Option<f64>) -> ModelFile {
        let mut tensors = BTreeMap::new();
        let architecture = match self {
            Network::WaveNet(net) => {
                net.store(&mut tensors);
                net.architecture()
            }
            Network::Lstm(net) => {
                net.store(&mut tensors);
                net.architecture()
            }
        };
        let mut meta = ModelMeta::new(architecture, training);
        meta.valid_nll_per_token = valid_nll_per_token;
        ModelFile { meta, tensors }
    }

    /// The network with dropout `probability` on its training forward passes (the WaveNet's
    /// gated outputs; the LSTM baseline has none).
    pub fn with_dropout(self, probability: f64) -> Self {
        match self {
            Network::WaveNet(net) => Network::WaveNet(net.with_dropout(probability)),
            lstm => lstm,
        }
    }

    /// Whether the network reads conditioning features.
    pub fn conditioned(&self) -> bool {
        matches!(self, Network::WaveNet(net) if net.config.conditioned)
    }

    /// Logits `[B, T, vocab]` for a batch's inputs.
    pub fn logits(&self, batch: &Batch, device: &Device) -> Tensor<3> {
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(batch.inputs.clone(), [batch.rows, batch.seq]), device);
        match self {
            Network::WaveNet(net) => {
                let features = batch.features.as_ref().map(|features| {
                    Tensor::<3>::from_data(
                        TensorData::new(features.clone(), [batch.rows, batch.seq, FEATURE_COUNT]),
                        device,
                    )
                });
                net.forward(tokens, features, batch.dropout_seed)
            }
            Network::Lstm(net) => net.forward(tokens),
        }
    }

    /// Mean NLL over the batch's scored positions (the training loss) and the logits
    /// `[B * T, vocab]` it came from.
    pub fn loss(&self, batch: &Batch, device: &Device) -> (Tensor<1>, Tensor<2>) {
        let positions = batch.rows * batch.seq;
        let logits = self.logits(batch, device).reshape([positions, VOCAB_SIZE]);
        let targets = Tensor::<2, Int>::from_data(TensorData::new(batch.targets.clone(), [positions, 1]), device);
        let mask = Tensor::<2>::from_data(TensorData::new(batch.mask.clone(), [positions, 1]), device);
        let loss = cross_entropy(logits.clone(), targets, mask).sum() / batch.scored().max(1) as f64;
        (loss, logits)
    }

    /// Scores a batch without gradients: summed NLL, scored tokens, top-1 hits.
    pub fn score(&self, batch: &Batch, device: &Device) -> Score {
        let (loss, logits) = self.loss(batch, device);
        let tokens = batch.scored();
        let predicted = logits.argmax(1).into_data().convert::<i64>().try_into_vec::<i64>().expect("int data");
        let correct = predicted
            .iter()
            .zip(&batch.targets)
            .zip(&batch.mask)
            .filter(|((predicted, target), &mask)| mask > 0.0 && predicted == target)
            .count();
        let mean = loss.into_scalar::<f32>() as f64;
        Score { nll_nats: mean * tokens as f64, scored_tokens: tokens, correct_top1: correct }
    }
}
