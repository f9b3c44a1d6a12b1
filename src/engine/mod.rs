//! The inference engine: a cached incremental WaveNet (Fast WaveNet: each dilated layer keeps
//! a ring buffer of its past inputs, so a step costs one pass through the layers whatever the
//! context length), f32 or int8, with a naive reference beside it, sampling with musical
//! constraints, scoring and offline generation. Pure Rust; nothing allocates after
//! [`Engine::from_model`].

pub mod copy_head;
mod dense;
pub mod generate;
mod kernels;
mod layers;
pub mod naive;
pub mod quantize;
pub mod random_model;
pub mod repeat_pointer;
pub mod sampling;
pub mod score;
pub mod timing_input;
mod voice_limit;

pub use generate::Generator;
pub use naive::NaiveEngine;
pub use sampling::{Constraints, Sampler, SamplingOptions, ScaleMode, DEFAULT_TOP_P};
pub use score::{score, score_each, score_prediction, Score};
pub use voice_limit::VoiceLimit;

pub use kernels::{Kernel, QuantizedInput, Write};
pub(crate) use kernels::{padded_len, INT8_MAX_MAGNITUDE};
use copy_head::CopyHead;
use layers::{DilatedLayer, Head, InputLayer, ResidualBlock};
use repeat_pointer::{PointerHead, RepeatPointer};

use crate::model::{Architecture, ModelError, ModelFile, Precision, WaveNetConfig};
use crate::tokens::{Event, Played, SequenceState, Token, PITCH_COUNT, VOCAB_SIZE};

/// Sparse conditioning features: the sounding pitches and the beat phase.
type ActiveFeatures = [u16; PITCH_COUNT + 1];

/// A short phrase (a chord struck, held, released, the end) every engine plays once when it is
/// built: a model whose logits are NaN or infinite on it is refused rather than sampled.
const TEST_PHRASE: [Event; 9] = [
    Event::Velocity(25),
    Event::NoteOn(60),
    Event::NoteOn(64),
    Event::NoteOn(67),
    Event::TimeShift(12),
    Event::NoteOff(60),
    Event::TimeShift(96),
    Event::NoteOff(64),
    Event::NoteOff(67),
];

/// The cached incremental WaveNet.
#[derive(Clone, Debug)]
pub struct Engine {
    /// The architecture it runs.
    config: WaveNetConfig,
    /// How its matrices are stored.
    precision: Precision,
    /// Embedding and conditioning.
    input: InputLayer,
    /// The dilated layers, each with its delay line.
    layers: Vec<DilatedLayer>,
    /// The output head.
    head: Head,
    /// The learned pointer over earlier steps, for models that have one.
    copy: Option<CopyHead>,
    /// The repeat pointer and its bonus, for models that have one.
    pointer: Option<PointerHead<RepeatPointer>>,
    /// The token stream's state, for the conditioning features (and the grammar mask outside).
    state: SequenceState,
    /// Scratch for the sparse feature indices.
    active_features: ActiveFeatures,
    /// The residual stream.
    residual: Vec<f32>,
    /// The sum of the layers' skip outputs.
    skip: Vec<f32>,
    /// The logits of the last step.
    logits: Vec<f32>,
}

/// The WaveNet configuration of a model, or why the engine cannot run it.
fn wavenet_config(model: &ModelFile) -> Result<WaveNetConfig, ModelError> {
    match model.meta.architecture {
        Architecture::WaveNet(config) => Ok(config),
        Architecture::Lstm(_) => Err(ModelError {
            file: "model".into(),
            problem: "holds an LSTM; the engine runs WaveNet models only".into(),
        }),
    }
}

impl Engine {
    /// Builds the engine for a (validated) model file, f32 or int8 as the file says, checks that
    /// it gives finite logits on a test phrase, and feeds `Start`.
    pub fn from_model(model: &ModelFile) -> Result<Engine, ModelError> {
        Self::with_kernel(model, Kernel::detect())
    }

    /// As [`Engine::from_model`] for a model read from `file`, which its error then names
    /// (the model itself does not know where it came from).
    pub fn from_model_file(model: &ModelFile, file: &str) -> Result<Engine, ModelError> {
        Self::from_model(model).map_err(|error| ModelError { file: file.to_string(), ..error })
    }

    /// As [`Engine::from_model`] with a chosen instruction set (tests and benchmarks compare
    /// them; [`Kernel::survey`] gives those this CPU runs).
    pub fn with_kernel(model: &ModelFile, kernel: Kernel) -> Result<Engine, ModelError> {
        let config = wavenet_config(model)?;
        let (c, s) = (config.residual_channels, config.skip_channels);
        let layers = config
            .dilations()
            .enumerate()
            .map(|(layer, dilation)| DilatedLayer::new(ResidualBlock::from_model(model, &config, layer, kernel), dilation))
            .collect();
        let head = Head::from_model(model, s, kernel);
        let mut engine = Engine {
            config,
            precision: model.meta.precision,
            input: InputLayer::from_model(model, c, kernel),
            layers,
            logits: vec![0.0; head.outputs()],
            head,
            copy: CopyHead::from_model(model, &config, kernel),
            pointer: PointerHead::from_model(model),
            state: SequenceState::default(),
            active_features: [0; PITCH_COUNT + 1],
            residual: vec![0.0; c],
            skip: vec![0.0; s],
        };
        engine.check_finite_logits()?;
        engine.reset();
        Ok(engine)
    }

    /// Plays [`TEST_PHRASE`] from the start; refuses the model if any logit is NaN or infinite.
    fn check_finite_logits(&mut self) -> Result<(), ModelError> {
        let non_finite = |logits: &[f32]| logits.iter().copied().find(|logit| !logit.is_finite());
        self.reset();
        let mut found = non_finite(&self.logits).map(|logit| (0, logit));
        for (step, event) in TEST_PHRASE.into_iter().enumerate() {
            if found.is_some() {
                break;
            }
            found = non_finite(self.step(event.token())).map(|logit| (step + 1, logit));
        }
        match found {
            None => Ok(()),
            Some((tokens, logit)) => Err(ModelError {
                file: "model".into(),
                problem: format!("gives a logit of {logit} after {tokens} tokens of a test phrase; refused"),
            }),
        }
    }

    /// The architecture.
    pub fn config(&self) -> &WaveNetConfig {
        &self.config
    }

    /// Whether the matrices are f32 or int8.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Clears the caches and the state, then feeds `Start`.
    pub fn reset(&mut self) {
        for layer in &mut self.layers {
            layer.clear();
        }
        if let Some(copy) = &mut self.copy {
            copy.clear();
        }
        if let Some(pointer) = &mut self.pointer {
            pointer.clear();
        }
        self.state = SequenceState::default();
        self.step(Event::Start.token());
    }

    /// Feeds one token: applies it to the state, and returns the logits (`VOCAB_SIZE`) for the
    /// next token.
    pub fn step(&mut self, token: Token) -> &[f32] {
        self.step_reporting(token, |_| {})
    }

    /// As [`Engine::step`], telling `played` about each note the token starts or ends.
    pub fn step_reporting(&mut self, token: Token, played: impl FnMut(Played)) -> &[f32] {
        assert!((token as usize) < VOCAB_SIZE, "token {token} is outside the vocabulary");
        self.state.apply_token(token, played);
        let active = self.state.active_features(&mut self.active_features);
        self.input.forward(token, &self.active_features[..active], &mut self.residual);
        self.skip.fill(0.0);
        for layer in &mut self.layers {
            layer.step(&mut self.residual, &mut self.skip);
        }
        self.head.forward(&self.skip, &mut self.logits);
        if let Some(copy) = &mut self.copy {
            copy.forward(token, self.head.hidden(), &mut self.logits);
        }
        if let Some(pointer) = &mut self.pointer {
            pointer.hear(token);
            pointer.add_bonus(&mut self.logits);
        }
        &self.logits
    }

    /// The logits of the last step.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// Makes the repeat pointer, if the model has one, add `strength` times its bonus from now
    /// on (1, the model's likelihood, when built; [`repeat_pointer::REPEAT_SAMPLING_STRENGTH`]
    /// for sampling), the last step's logits included.
    pub fn set_repeat_strength(&mut self, strength: f32) {
        if let Some(pointer) = &mut self.pointer {
            pointer.set_strength(strength, &mut self.logits);
        }
    }

    /// Makes the copy head, if the model has one, mix in `strength` of its copying from now on
    /// (1, the model's likelihood, when built; [`copy_head::COPY_SAMPLING_STRENGTH`] for
    /// sampling), the last step's logits included.
    pub fn set_copy_strength(&mut self, strength: f32) {
        if let Some(copy) = &mut self.copy {
            if copy.set_strength(strength, &mut self.logits) {
                if let Some(pointer) = &self.pointer {
                    pointer.add_last_bonus(&mut self.logits);
                }
            }
        }
    }

    /// The state of the token stream so far.
    pub fn state(&self) -> &SequenceState {
        &self.state
    }

    /// Bytes of weights one step reads (embedding and conditioning rows aside): divided by the
    /// step time, the effective weight bandwidth.
    pub fn weight_bytes_per_step(&self) -> usize {
        self.layers.iter().map(DilatedLayer::weight_bytes).sum::<usize>() + self.head.weight_bytes()
    }
}

#[cfg(test)]
pub(crate) mod tests;
