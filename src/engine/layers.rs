//! The WaveNet's layers, one small type each, with their buffers allocated once at load.

use std::sync::Arc;

use super::dense::{Activations, Dense};
use super::kernels::Kernel;
use crate::model::{names, ModelFile, Precision, WaveNetConfig};
use crate::tokens::{Token, FEATURE_COUNT};

/// The network input: `embedding[token] + sum of the conditioning columns of the active
/// features` (the features are 0/1, so the sparse sum equals the dense product).
#[derive(Clone, Debug)]
pub struct InputLayer {
    /// Residual width.
    channels: usize,
    /// `[vocab, C]` token embeddings, shared by every clone of the engine.
    embedding: Arc<[f32]>,
    /// The conditioning matrix transposed to `[FEATURE_COUNT, C]`, so each feature's column is
    /// contiguous; `None` for unconditioned models. Shared by every clone of the engine.
    conditioning_by_feature: Option<Arc<[f32]>>,
    /// The instruction set that sums the active features' columns.
    kernel: Kernel,
}

impl InputLayer {
    /// Loads the embedding and conditioning of a validated model.
    pub fn from_model(model: &ModelFile, channels: usize, kernel: Kernel) -> Self {
        let embedding = Arc::from(model.f32(names::EMBEDDING).expect("validated embedding"));
        let conditioning_by_feature = model.f32(names::CONDITIONING).map(|weight| {
            let mut transposed = vec![0.0; weight.len()];
            for (channel, row) in weight.chunks_exact(FEATURE_COUNT).enumerate() {
                for (feature, &value) in row.iter().enumerate() {
                    transposed[feature * channels + channel] = value;
                }
            }
            Arc::from(transposed)
        });
        Self { channels, embedding, conditioning_by_feature, kernel }
    }

    /// Writes the input vector for `token` given the indices of the active features of the
    /// state after it.
    pub fn forward(&self, token: Token, active_features: &[u16], out: &mut [f32]) {
        let c = self.channels;
        out.copy_from_slice(&self.embedding[token as usize * c..][..c]);
        if let Some(columns) = &self.conditioning_by_feature {
            self.kernel.add_rows(columns, active_features, out);
        }
    }
}

/// The weights of one gated residual layer and its scratch vectors:
/// `h = dilated @ [x[t-d], x[t]] + b`, `z = tanh(h[..C]) * sigmoid(h[C..])`,
/// `x += residual @ z + b`, `skip += skip @ z + b`.
#[derive(Clone, Debug)]
pub struct ResidualBlock {
    /// Residual width.
    channels: usize,
    /// The instruction set of the gate.
    kernel: Kernel,
    /// `[2C, 2C]` kernel-2 dilated convolution over `[past, now]`.
    dilated: Dense,
    /// `[C, C]` 1x1 back into the residual stream; `None` in the last layer, whose output feeds no
    /// layer (the head reads only the skip sum), so its product would be wasted.
    residual: Option<Dense>,
    /// `[S, C]` 1x1 into the skip sum.
    skip: Dense,
    /// `[x[t-d], x[t]]`: the caller writes the past half, `forward` the present one.
    window: Activations,
    /// `h`, the 2C pre-activations.
    gates: Vec<f32>,
    /// `z`, the gated output read by the residual and skip 1x1s.
    gated: Activations,
}

impl ResidualBlock {
    /// Loads layer `layer` of a validated model with architecture `config`.
    pub fn from_model(model: &ModelFile, config: &WaveNetConfig, layer: usize, kernel: Kernel) -> Self {
        let (precision, channels) = (model.meta.precision, config.residual_channels);
        let feeds_a_layer = layer + 1 < config.layer_count();
        Self {
            channels,
            kernel,
            dilated: Dense::from_model(model, &names::dilated(layer), kernel),
            residual: feeds_a_layer.then(|| Dense::from_model(model, &names::residual(layer), kernel)),
            skip: Dense::from_model(model, &names::skip(layer), kernel),
            window: Activations::new(2 * channels, precision, kernel),
            gates: vec![0.0; 2 * channels],
            gated: Activations::new(channels, precision, kernel),
        }
    }

    /// Where the caller puts `x[t - d]` (zeros before the start of the sequence).
    pub fn past_mut(&mut self) -> &mut [f32] {
        let c = self.channels;
        &mut self.window.values_mut()[..c]
    }

    /// Advances `x` (the layer's input, `x[t]`) through the layer and adds its skip output (the
    /// last layer leaves `x` as it was: nothing reads it).
    pub fn forward(&mut self, x: &mut [f32], skip: &mut [f32]) {
        let c = self.channels;
        self.window.values_mut()[c..].copy_from_slice(x);
        self.window.finish();
        self.dilated.forward(&self.window, &mut self.gates);
        let (filter, gate) = self.gates.split_at(c);
        self.kernel.gate(filter, gate, self.gated.values_mut());
        self.gated.finish();
        if let Some(residual) = &self.residual {
            residual.forward_add(&self.gated, x);
        }
        self.skip.forward_add(&self.gated, skip);
    }

    /// Bytes of weights one step reads.
    pub fn weight_bytes(&self) -> usize {
        self.dilated.weight_bytes() + self.residual.as_ref().map_or(0, Dense::weight_bytes) + self.skip.weight_bytes()
    }
}

/// The layer's inputs of the last `dilation` steps, a ring buffer (Fast WaveNet's queue), so a
/// step reads `x[t - d]` without recomputing anything.
#[derive(Clone, Debug)]
pub struct DelayLine {
    /// `dilation x C` values; slot `next` holds `x[t - d]`.
    slots: Vec<f32>,
    /// Residual width.
    channels: usize,
    /// Depth of the line in steps.
    dilation: usize,
    /// The oldest slot, read and then overwritten by this step.
    next: usize,
}

impl DelayLine {
    /// A line of `dilation` zero vectors (causal zero padding).
    pub fn new(dilation: usize, channels: usize) -> Self {
        Self { slots: vec![0.0; dilation * channels], channels, dilation, next: 0 }
    }

    /// Copies `x[t - d]` into `past` and stores `x[t]` in its place.
    pub fn exchange(&mut self, now: &[f32], past: &mut [f32]) {
        let slot = &mut self.slots[self.next * self.channels..][..self.channels];
        past.copy_from_slice(slot);
        slot.copy_from_slice(now);
        self.next = (self.next + 1) % self.dilation;
    }

    /// Back to all zeros.
    pub fn clear(&mut self) {
        self.slots.fill(0.0);
        self.next = 0;
    }
}

/// A dilated layer of the cached engine: its block and its delay line.
#[derive(Clone, Debug)]
pub struct DilatedLayer {
    /// The weights and scratch.
    block: ResidualBlock,
    /// Past inputs, `dilation` deep.
    delay: DelayLine,
}

impl DilatedLayer {
    /// Wraps a block with a delay line of `dilation` steps.
    pub fn new(block: ResidualBlock, dilation: usize) -> Self {
        let delay = DelayLine::new(dilation, block.channels);
        Self { block, delay }
    }

    /// One time step: `x` is the layer's input at `t` and becomes its output.
    pub fn step(&mut self, x: &mut [f32], skip: &mut [f32]) {
        self.delay.exchange(x, self.block.past_mut());
        self.block.forward(x, skip);
    }

    /// Forgets the past.
    pub fn clear(&mut self) {
        self.delay.clear();
    }

    /// Bytes of weights one step reads.
    pub fn weight_bytes(&self) -> usize {
        self.block.weight_bytes()
    }
}

/// The output head: `logits = output @ relu(hidden @ relu(skip) + b) + b`.
#[derive(Clone, Debug)]
pub struct Head {
    /// `[S, S]` hidden 1x1.
    hidden: Dense,
    /// `[vocab, S]` output 1x1.
    output: Dense,
    /// `relu(skip)`.
    rectified_skip: Activations,
    /// `relu(hidden @ relu(skip) + b)`.
    rectified_hidden: Activations,
}

impl Head {
    /// Loads the head of a validated model.
    pub fn from_model(model: &ModelFile, skip_channels: usize, kernel: Kernel) -> Self {
        let precision: Precision = model.meta.precision;
        Self {
            hidden: Dense::from_model(model, names::HEAD_HIDDEN, kernel),
            output: Dense::from_model(model, names::HEAD_OUTPUT, kernel),
            rectified_skip: Activations::new(skip_channels, precision, kernel),
            rectified_hidden: Activations::new(skip_channels, precision, kernel),
        }
    }

    /// Writes the logits for the skip sum.
    pub fn forward(&mut self, skip: &[f32], logits: &mut [f32]) {
        for (r, &s) in self.rectified_skip.values_mut().iter_mut().zip(skip) {
            *r = s.max(0.0);
        }
        self.rectified_skip.finish();
        let hidden = self.rectified_hidden.values_mut();
        self.hidden.forward(&self.rectified_skip, hidden);
        for h in hidden.iter_mut() {
            *h = h.max(0.0);
        }
        self.rectified_hidden.finish();
        self.output.forward(&self.rectified_hidden, logits);
    }

    /// `relu(hidden @ relu(skip) + b)` of the last forward: what the copy head reads.
    pub fn hidden(&self) -> &Activations {
        &self.rectified_hidden
    }

    /// Number of logits.
    pub fn outputs(&self) -> usize {
        self.output.outputs()
    }

    /// Bytes of weights one step reads.
    pub fn weight_bytes(&self) -> usize {
        self.hidden.weight_bytes() + self.output.weight_bytes()
    }
}
