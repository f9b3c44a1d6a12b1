//! The WaveNet in burn, shaped for a CPU backend: channels last, so every 1x1 and every dilated
//! kernel-2 convolution is one matrix product over all `batch * time` positions, and the dilated
//! convolution reads `concat[x[t - d], x[t]]` exactly as the model file stores it.

use anyhow::Result;
use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};
use burn::tensor::module::embedding;
use rand::{Rng, SeedableRng};
use continuo::engine::copy_head::{COPY_PROBABILITY_FLOOR, COPY_WINDOW_TOKENS};
use continuo::model::{names, Architecture, ModelFile, WaveNetConfig};

use crate::fused::{dense, dense_onto, gate, taps};
use crate::convert::{load_linear, load_matrix, load_plain, store_linear, store_matrix, store_plain, TensorMap};

/// One gated residual layer.
#[derive(Module, Debug)]
pub struct GatedLayer {
    /// Dilated kernel-2 convolution: `[x[t - d], x[t]]` (2C) -> `[tanh half, sigmoid half]` (2C).
    pub dilated: Linear,
    /// 1x1 back into the residual stream.
    pub residual: Linear,
    /// 1x1 into the skip sum.
    pub skip: Linear,
    /// How far back the convolution's first tap reads.
    #[module(skip)]
    pub dilation: usize,
}

/// A learned pointer over the steps before (a pointer-sentinel mixture, Merity et al. 2016):
/// each step's head state asks which earlier states resemble it and copies the token that
/// followed each, or attends to the sentinel to keep the network's own distribution. A stack of
/// dilated convolutions reads its past at fixed offsets and does not copy what it heard a few
/// bars back (BENCHMARKS.md, "Does the network copy an exact repeat?"); this head does.
#[derive(Module, Debug)]
pub struct CopyHead {
    /// Head state -> query.
    pub query: Linear,
    /// Head state -> key (of the token that followed that state).
    pub key: Linear,
    /// The sentinel's key, `[K]`.
    pub sentinel_key: Param<Tensor<1>>,
    /// The sentinel's score offset, `[1]`.
    pub sentinel_bias: Param<Tensor<1>>,
}

impl CopyHead {
    /// Log-probabilities `[B, T, vocab]`: `g * softmax(logits) + sum over earlier steps i of
    /// a_i * onehot(tokens[i + 1])`, `(a, g)` the attention over the earlier steps and the sentinel.
    fn forward(&self, hidden: Tensor<3>, logits: Tensor<3>, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [batch, time, vocab] = logits.dims();
        let device = logits.device();
        let keys = self.sentinel_key.val().dims()[0];
        let query = linear(&self.query, hidden.clone()) / (keys as f64).sqrt();
        let key = linear(&self.key, hidden);
        // Each step attends to the earlier steps of the engine's window, no others.
        let not_earlier = Tensor::<2, Bool>::tril_mask([time, time], -1, &device);
        let too_old = Tensor::<2, Bool>::triu_mask([time, time], -(COPY_WINDOW_TOKENS as i64), &device);
        let outside = not_earlier.bool_or(too_old).unsqueeze::<3>().expand([batch, time, time]);
        let scores = query.clone().matmul(key.swap_dims(1, 2)).mask_fill(outside, -1e9);
        let sentinel = query.matmul(self.sentinel_key.val().reshape([1, keys, 1]).expand([batch, keys, 1]))
            + self.sentinel_bias.val().reshape([1, 1, 1]);
        let attention = softmax(Tensor::cat(vec![scores, sentinel], 2), 2);
        let copied = attention.clone().slice([0..batch, 0..time, 0..time]);
        let keep = attention.slice([0..batch, 0..time, time..time + 1]);
        let followers = Tensor::cat(vec![tokens.clone().slice([0..batch, 1..time]), tokens.slice([0..batch, 0..1])], 1);
        let followers = followers.one_hot::<3>(vocab).float();
        // The engine's floor: keeps `log` and its gradient finite where neither part gives a token anything.
        (keep * softmax(logits, 2) + copied.matmul(followers)).add_scalar(COPY_PROBABILITY_FLOOR as f64).log()
    }
}

/// The token WaveNet (see the helper guide's contract and `continuo::model`).
#[derive(Module, Debug)]
pub struct WaveNet {
    /// Token embedding, `[vocab, C]`.
    pub embedding: Param<Tensor<2>>,
    /// Conditioning projection, `[FEATURE_COUNT, C]` (burn's `[in, out]`), when conditioned.
    pub conditioning: Option<Param<Tensor<2>>>,
    /// The dilated layers, stacks one after another.
    pub layers: Vec<GatedLayer>,
    /// Head: skip -> hidden.
    pub head_hidden: Linear,
    /// Head: hidden -> logits.
    pub head_output: Linear,
    /// The learned pointer, when the architecture has one (`copy_keys > 0`).
    pub copy: Option<CopyHead>,
    /// Dropout probability on every layer's gated output, for batches with a dropout seed
    /// (training).
    #[module(skip)]
    pub dropout: f64,
    /// The hyper-parameters (for export).
    #[module(skip)]
    pub config: WaveNetConfig,
}

/// `layer` through the fused dense op (one gemm with the bias folded in).
fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    dense(x, layer.weight.val(), bias(layer))
}

/// `sum + layer(x)` in one fused pass.
fn linear_onto<const D: usize>(layer: &Linear, sum: Tensor<D>, x: Tensor<D>) -> Tensor<D> {
    dense_onto(sum, x, layer.weight.val(), bias(layer))
}

fn bias(layer: &Linear) -> Tensor<1> {
    layer.bias.as_ref().expect("every WaveNet layer has a bias").val()
}

impl GatedLayer {
    /// Returns the new residual stream and the skip sum with this layer's contribution added
    /// (`skip` is `None` before the first layer).
    /// `keep` (`[B, T, C]`, 0 or 1/(1 - p)) is the dropout mask of the gated output.
    fn forward(&self, x: Tensor<3>, skip: Option<Tensor<3>>, keep: Option<Tensor<3>>) -> (Tensor<3>, Tensor<3>) {
        let mut z = gate(linear(&self.dilated, taps(x.clone(), self.dilation)));
        if let Some(keep) = keep {
            z = z * keep;
        }
        let skip = match skip {
            Some(sum) => linear_onto(&self.skip, sum, z.clone()),
            None => linear(&self.skip, z.clone()),
        };
        (linear_onto(&self.residual, x, z), skip)
    }
}

impl WaveNet {
    /// Logits `[B, T, vocab]` for the token after each input. `tokens` is `[B, T]`; `features`
    /// is `[B, T, FEATURE_COUNT]` (state after each token), required when conditioned.
    /// With `dropout_seed` (training batches) and a dropout probability, each layer's gated
    /// output is masked with masks drawn from that seed.
    pub fn forward(&self, tokens: Tensor<2, Int>, features: Option<Tensor<3>>, dropout_seed: Option<u64>) -> Tensor<3> {
        let [batch, time] = tokens.dims();
        let device = tokens.device();
        let mut x = embedding(self.embedding.val(), tokens.clone());
        if let Some(conditioning) = &self.conditioning {
            let features = features.expect("a conditioned WaveNet needs features");
            let count = features.dims()[2];
            let projected = features.reshape([batch * time, count]).matmul(conditioning.val());
            x = x + projected.reshape([batch, time, self.config.residual_channels]);
        }
        let mut skip: Option<Tensor<3>> = None;
        let mut masks = dropout_seed.filter(|_| self.dropout > 0.0).map(rand_pcg::Pcg64::seed_from_u64);
        for layer in &self.layers {
            let keep = masks.as_mut().map(|rng| self.dropout_mask([batch, time, self.config.residual_channels], rng, &device));
            let (next, sum) = layer.forward(x, skip, keep);
            (x, skip) = (next, Some(sum));
        }
        let skip = skip.expect("at least one layer");
        let hidden = relu(linear(&self.head_hidden, relu(skip)));
        let logits = linear(&self.head_output, hidden.clone());
        match &self.copy {
            Some(copy) => copy.forward(hidden, logits, tokens),
            None => logits,
        }
    }

    /// Builds the network from a model file's f32 tensors.
    pub fn from_model_file(config: WaveNetConfig, model: &ModelFile, device: &Device) -> Result<Self> {
        let layers = config
            .dilations()
            .enumerate()
            .map(|(index, dilation)| {
                Ok(GatedLayer {
                    dilated: load_linear(model, &names::dilated(index), device)?,
                    residual: load_linear(model, &names::residual(index), device)?,
                    skip: load_linear(model, &names::skip(index), device)?,
                    dilation,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let conditioning = match config.conditioned {
            true => Some(load_matrix(model, names::CONDITIONING, device)?),
            false => None,
        };
        Ok(Self {
            embedding: load_plain(model, names::EMBEDDING, device)?,
            conditioning,
            layers,
            head_hidden: load_linear(model, names::HEAD_HIDDEN, device)?,
            head_output: load_linear(model, names::HEAD_OUTPUT, device)?,
            copy: match config.copy_keys {
                0 => None,
                _ => Some(CopyHead {
                    query: load_linear(model, names::COPY_QUERY, device)?,
                    key: load_linear(model, names::COPY_KEY, device)?,
                    sentinel_key: load_plain(model, names::COPY_SENTINEL_KEY, device)?,
                    sentinel_bias: load_plain(model, names::COPY_SENTINEL_BIAS, device)?,
                }),
            },
            dropout: 0.0,
            // The trainer does not train the repeat pointer: it is fitted to the network after
            // training (`crate::pointer`), so a changed network drops the old fit.
            config: WaveNetConfig { repeat_pointer: false, ..config },
        })
    }

    /// The network with dropout `probability` on every gated output while training.
    pub fn with_dropout(self, probability: f64) -> Self {
        Self { dropout: probability, ..self }
    }

    /// An inverted-dropout mask: each element kept (as `1 / (1 - p)`) with probability `1 - p`.
    fn dropout_mask(&self, shape: [usize; 3], rng: &mut impl Rng, device: &Device) -> Tensor<3> {
        let keep = 1.0 - self.dropout as f32;
        let values: Vec<f32> = (0..shape.iter().product()).map(|_| if rng.random::<f32>() < keep { 1.0 / keep } else { 0.0 }).collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// The architecture, for the model file.
    pub fn architecture(&self) -> Architecture {
        Architecture::WaveNet(self.config)
    }

    /// Writes every tensor in the file's layout.
    pub fn store(&self, tensors: &mut TensorMap) {
        store_plain(tensors, names::EMBEDDING, self.embedding.val());
        if let Some(conditioning) = &self.conditioning {
            store_matrix(tensors, names::CONDITIONING, conditioning.val());
        }
        for (index, layer) in self.layers.iter().enumerate() {
            store_linear(tensors, &names::dilated(index), &layer.dilated);
            store_linear(tensors, &names::residual(index), &layer.residual);
            store_linear(tensors, &names::skip(index), &layer.skip);
        }
        store_linear(tensors, names::HEAD_HIDDEN, &self.head_hidden);
        store_linear(tensors, names::HEAD_OUTPUT, &self.head_output);
        if let Some(copy) = &self.copy {
            store_linear(tensors, names::COPY_QUERY, &copy.query);
            store_linear(tensors, names::COPY_KEY, &copy.key);
            store_plain(tensors, names::COPY_SENTINEL_KEY, copy.sentinel_key.val());
            store_plain(tensors, names::COPY_SENTINEL_BIAS, copy.sentinel_bias.val());
        }
    }
}
