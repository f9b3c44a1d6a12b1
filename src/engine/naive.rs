//! The naive reference: for every new token it recomputes every layer over the whole receptive
//! field from the stored network inputs, with no cache. Its cost grows with the receptive
//! field; it exists to check the cached engine and to measure what the cache saves.

use super::copy_head::NaiveCopyHead;
use super::kernels::Kernel;
use super::layers::{Head, InputLayer, ResidualBlock};
use super::repeat_pointer::{NaiveRepeatPointer, PointerHead};
use super::{wavenet_config, ActiveFeatures};
use crate::model::{ModelError, ModelFile};
use crate::tokens::{Event, SequenceState, Token, PITCH_COUNT};

/// A WaveNet evaluated from scratch at every step (same layer types, no delay lines).
#[derive(Clone, Debug)]
pub struct NaiveEngine {
    /// Residual width.
    channels: usize,
    /// Embedding and conditioning.
    input: InputLayer,
    /// The dilated layers' weights, in order.
    blocks: Vec<ResidualBlock>,
    /// Each layer's dilation.
    dilations: Vec<usize>,
    /// The output head.
    head: Head,
    /// The copy head's reference, for models that have one.
    copy: Option<NaiveCopyHead>,
    /// The repeat pointer's brute-force reference and its bonus, for models that have one.
    pointer: Option<PointerHead<NaiveRepeatPointer>>,
    /// The token stream's state.
    state: SequenceState,
    /// The last token fed (the copy head hears it).
    newest_token: Token,
    /// Scratch for the sparse feature indices.
    active_features: ActiveFeatures,
    /// The network input of every step so far, `C` values each.
    inputs: Vec<f32>,
    /// One layer's inputs over the window being recomputed.
    layer_inputs: Vec<f32>,
    /// The same layer's outputs over the window.
    layer_outputs: Vec<f32>,
    /// The skip sum at the newest step.
    skip: Vec<f32>,
    /// Skip outputs of older steps, which do not reach the newest prediction.
    discarded_skip: Vec<f32>,
    /// The logits of the last step.
    logits: Vec<f32>,
}

impl NaiveEngine {
    /// Builds the reference for a model file and feeds `Start`.
    pub fn from_model(model: &ModelFile) -> Result<NaiveEngine, ModelError> {
        let config = wavenet_config(model)?;
        let (c, s) = (config.residual_channels, config.skip_channels);
        let kernel = Kernel::detect();
        let head = Head::from_model(model, s, kernel);
        let mut engine = NaiveEngine {
            channels: c,
            input: InputLayer::from_model(model, c, kernel),
            blocks: (0..config.layer_count()).map(|layer| ResidualBlock::from_model(model, &config, layer, kernel)).collect(),
            dilations: config.dilations().collect(),
            logits: vec![0.0; head.outputs()],
            head,
            copy: NaiveCopyHead::from_model(model, &config, kernel),
            pointer: PointerHead::from_model(model),
            state: SequenceState::default(),
            newest_token: Event::Start.token(),
            active_features: [0; PITCH_COUNT + 1],
            inputs: Vec::new(),
            layer_inputs: Vec::new(),
            layer_outputs: Vec::new(),
            skip: vec![0.0; s],
            discarded_skip: vec![0.0; s],
        };
        engine.step(Event::Start.token());
        Ok(engine)
    }

    /// Records a token's network input without computing a prediction (to fill a long
    /// history quickly before measuring), except for a model with a copy head, which needs
    /// every step's head state.
    pub fn push(&mut self, token: Token) {
        self.record(token);
        if self.copy.is_some() {
            self.recompute();
        }
    }

    /// Feeds a token and recomputes the prediction from the stored inputs.
    pub fn step(&mut self, token: Token) -> &[f32] {
        self.record(token);
        self.recompute();
        &self.logits
    }

    /// Applies a token to the state and stores its network input.
    fn record(&mut self, token: Token) {
        self.newest_token = token;
        self.state.apply_token(token, |_| {});
        let active = self.state.active_features(&mut self.active_features);
        let start = self.inputs.len();
        self.inputs.resize(start + self.channels, 0.0);
        self.input.forward(token, &self.active_features[..active], &mut self.inputs[start..]);
        if let Some(pointer) = &mut self.pointer {
            pointer.hear(token);
        }
    }

    /// The logits of the last step.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// The state of the token stream so far.
    pub fn state(&self) -> &SequenceState {
        &self.state
    }

    /// Runs every layer over the positions that reach the newest one: layer `i` needs the
    /// positions `t - (sum of the later layers' dilations) ..= t`, clipped at 0.
    fn recompute(&mut self) {
        let c = self.channels;
        let newest = self.inputs.len() / c - 1;
        let mut reach_after: usize = self.dilations.iter().sum();
        let mut first = newest.saturating_sub(reach_after);
        self.layer_inputs.clear();
        self.layer_inputs.extend_from_slice(&self.inputs[first * c..]);
        self.skip.fill(0.0);
        for (block, &dilation) in self.blocks.iter_mut().zip(&self.dilations) {
            reach_after -= dilation;
            let first_out = newest.saturating_sub(reach_after);
            self.layer_outputs.clear();
            for position in first_out..=newest {
                let past = block.past_mut();
                match position.checked_sub(dilation) {
                    Some(earlier) => past.copy_from_slice(&self.layer_inputs[(earlier - first) * c..][..c]),
                    None => past.fill(0.0),
                }
                let at = self.layer_outputs.len();
                self.layer_outputs.extend_from_slice(&self.layer_inputs[(position - first) * c..][..c]);
                let skip = if position == newest { &mut self.skip } else { &mut self.discarded_skip };
                block.forward(&mut self.layer_outputs[at..], skip);
            }
            std::mem::swap(&mut self.layer_inputs, &mut self.layer_outputs);
            first = first_out;
        }
        self.head.forward(&self.skip, &mut self.logits);
        if let Some(copy) = &mut self.copy {
            copy.forward(self.newest_token, self.head.hidden(), &mut self.logits);
        }
        if let Some(pointer) = &mut self.pointer {
            pointer.add_bonus(&mut self.logits);
        }
    }
}
