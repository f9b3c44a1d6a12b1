//! What the fuzz targets (`fuzz/fuzz_targets/`) do with their bytes, shared with the replay
//! test (`tests/fuzz_regressions.rs`) so a crash found by the fuzzer replays in `cargo test`
//! through exactly the same code. Each function runs untrusted bytes through a loader the way
//! the product does and returns the loader's error, which must name the problem; a panic, an
//! abort or a runaway allocation is a finding.

use crate::engine::quantize::quantize;
use crate::engine::random_model::random_wavenet;
use crate::engine::{Constraints, Engine, Generator, SamplingOptions};
use crate::midi_file::{parse_midi, MidiError, ReadOptions};
use crate::model::{Architecture, ModelError, ModelFile, ModelMeta, Precision, WaveNetConfig};
use crate::tokens::{encode_notes, Event};

/// How the fuzzed bytes are named in error messages.
pub const FUZZ_INPUT_NAME: &str = "fuzz input";
/// Tokens sampled from a fuzzed model after feeding its prompt: enough to run every layer
/// with a filled cache, few enough to keep the fuzzer fast.
const SAMPLED_TOKENS: usize = 8;

/// Reads MIDI bytes as training does (`corpus::read_songs` then `tokens::encode_notes`), with
/// and without drums; returns how many tokens the song encodes to.
pub fn exercise_midi(bytes: &[u8]) -> Result<usize, MidiError> {
    let mut tokens = 0;
    for include_drums in [false, true] {
        let song = parse_midi(bytes, FUZZ_INPUT_NAME, ReadOptions { include_drums })?;
        let _ = (song.length_beats(), song.beats_per_bar(), song.seconds_at(song.length_beats()));
        tokens = encode_notes(&song.notes).tokens.len();
    }
    Ok(tokens)
}

/// Loads model bytes as the worker does (`worker::load_generator`), then feeds a short prompt
/// and samples a few tokens, as an answer would.
pub fn exercise_model(bytes: &[u8]) -> Result<(), ModelError> {
    let model = ModelFile::from_bytes(bytes, FUZZ_INPUT_NAME)?;
    let mut generator = Generator::new(Engine::from_model_file(&model, FUZZ_INPUT_NAME)?, 0);
    generator.reset();
    for event in [Event::Velocity(20), Event::NoteOn(60), Event::TimeShift(12), Event::NoteOff(60)] {
        generator.feed(event.token());
    }
    let (options, constraints) = (SamplingOptions::default(), Constraints::default());
    for _ in 0..SAMPLED_TOKENS {
        generator.sample_next(&options, &constraints, |_| {});
    }
    Ok(())
}

/// Largest model (`ModelMeta::memory_bytes`; the seeds need 80-120 KiB) the metadata target
/// builds tensors for: bigger ones slow the fuzzer down without reaching new code (the bounds
/// are judged on the metadata alone).
const METADATA_TARGET_MAX_MODEL_BYTES: u64 = 256 << 10;
/// The architecture of the model seeds (`fuzz/make_seeds.py`): whose tensors a fuzzed metadata
/// gets when it describes no small WaveNet.
const SEED_ARCHITECTURE: WaveNetConfig =
    WaveNetConfig { residual_channels: 2, skip_channels: 3, stacks: 1, layers_per_stack: 2, conditioned: true, repeat_pointer: false, copy_keys: 0 };
/// Seed of the random weights of the models the metadata target builds.
const METADATA_TARGET_WEIGHTS_SEED: u64 = 1;

/// Loads and runs, as [`exercise_model`] does, a model file whose metadata (the `continuo` JSON:
/// versions, architecture, precision) is the given bytes and whose tensors are otherwise valid:
/// so every mutation reaches the metadata checks, which random mutations of a whole file, with
/// its header length and offsets to keep consistent, almost never do.
pub fn exercise_model_metadata(meta_json: &[u8]) -> Result<(), ModelError> {
    let meta_json = String::from_utf8_lossy(meta_json);
    exercise_model(&tensors_for_metadata(&meta_json).to_bytes_with_metadata(&meta_json))
}

/// Random-weight tensors matching `meta_json` when it describes a small WaveNet (quantized if it
/// says int8), so that architectures the checks let through reach the engine; otherwise the
/// seeds' tensors, which the loader must then find mismatched or never look at.
fn tensors_for_metadata(meta_json: &str) -> ModelFile {
    let small_wavenet = serde_json::from_str::<ModelMeta>(meta_json).ok().and_then(|meta| match meta.architecture {
        Architecture::WaveNet(config)
            if meta.validate().is_ok() && meta.memory_bytes()? <= METADATA_TARGET_MAX_MODEL_BYTES =>
        {
            Some((config, meta.precision))
        }
        _ => None,
    });
    let (config, precision) = small_wavenet.unwrap_or((SEED_ARCHITECTURE, Precision::F32));
    let model = random_wavenet(config, METADATA_TARGET_WEIGHTS_SEED);
    match precision {
        Precision::F32 => model,
        Precision::Int8 => quantize(&model),
    }
}

#[cfg(feature = "plugin")]
pub use plugin_state::exercise_plugin_state;

#[cfg(feature = "plugin")]
mod plugin_state {
    use nice_plug::params::internals::ParamPtr;
    use nice_plug::params::{InternalParamMut, Params};
    use nice_plug::plugin::{ParamValue, Plugin, PluginState};

    use crate::plugin::params::ContinuoParams;
    use crate::plugin::worker::resolve_model_path;
    use crate::Continuo;

    /// Loads plugin-state bytes into fresh parameters the way nice-plug's wrappers do
    /// (`wrapper::state::deserialize_json` then `deserialize_object`, which are private to
    /// nice-plug, so their few steps are followed here through its public API), checks that
    /// every parameter ends inside its range, and returns the model path the worker would then
    /// choose (no environment, no config file). An error names the input and why it was refused.
    pub fn exercise_plugin_state(bytes: &[u8]) -> Result<String, String> {
        let mut state: PluginState = serde_json::from_slice(bytes)
            .map_err(|error| format!("{}: unreadable plugin state: {error}", super::FUZZ_INPUT_NAME))?;
        let params = ContinuoParams::default();
        apply_state(&mut state, &params);
        assert_parameters_in_range(&params);
        let _ = (params.phrase_settings(4.0), params.pitch_range(), params.preview_gain(), params.scale.value());
        let persisted = params.model_path.read().map(|path| path.clone()).unwrap_or_default();
        Ok(resolve_model_path(&persisted, None, None))
    }

    /// `nice_plug::wrapper::state::deserialize_object` for a plugin that is not activated.
    fn apply_state(state: &mut PluginState, params: &ContinuoParams) {
        Continuo::filter_state(state);
        let by_id = params.param_map();
        for (id, value) in &state.params {
            let Some((_, param, _)) = by_id.iter().find(|(known, _, _)| known == id) else { continue };
            // SAFETY: the pointers come from `params`, which outlives this loop.
            unsafe {
                match (*param, value) {
                    (ParamPtr::FloatParam(p), ParamValue::F32(v)) => _ = (*p)._internal_set_plain_value(*v),
                    (ParamPtr::IntParam(p), ParamValue::I32(v)) => _ = (*p)._internal_set_plain_value(*v),
                    (ParamPtr::BoolParam(p), ParamValue::Bool(v)) => _ = (*p)._internal_set_plain_value(*v),
                    (ParamPtr::EnumParam(p), ParamValue::I32(v)) => _ = (*p)._internal_set_plain_value(*v),
                    (ParamPtr::EnumParam(p), ParamValue::String(v)) => _ = (*p).set_from_id(v),
                    _ => {}
                }
            }
        }
        params.deserialize_fields(&state.fields);
    }

    /// Panics naming the parameter if a loaded value lies outside its declared range: the
    /// plugin relies on the ranges (pitches fit the vocabulary, the tempo is positive).
    fn assert_parameters_in_range(params: &ContinuoParams) {
        for (id, param, _) in params.param_map() {
            // SAFETY: the pointer comes from `params`, alive for this call.
            let (plain, low, high) =
                unsafe { (param.unmodulated_plain_value(), param.preview_plain(0.0), param.preview_plain(1.0)) };
            assert!((low..=high).contains(&plain), "parameter {id} loaded as {plain}, outside its range {low}..={high}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::limits;

    fn metadata(config: WaveNetConfig, precision: Precision) -> String {
        let mut meta = ModelMeta::new(Architecture::WaveNet(config), serde_json::Value::Null);
        meta.precision = precision;
        serde_json::to_string(&meta).unwrap()
    }

    /// The metadata target must reach the engine with architectures other than the seeds': a
    /// small WaveNet of any shape, f32 or int8, gets matching tensors and loads.
    #[test]
    fn small_wavenets_of_other_shapes_load_and_run_from_their_metadata_alone() {
        let config = WaveNetConfig { residual_channels: 5, skip_channels: 7, stacks: 2, layers_per_stack: 5, conditioned: false, repeat_pointer: false, copy_keys: 0 };
        for precision in [Precision::F32, Precision::Int8] {
            exercise_model_metadata(metadata(config, precision).as_bytes()).unwrap();
        }
    }

    #[test]
    fn metadata_beyond_the_limits_is_refused_naming_the_field() {
        let config = WaveNetConfig { layers_per_stack: limits::MAX_LAYERS_PER_STACK + 1, ..SEED_ARCHITECTURE };
        let error = exercise_model_metadata(metadata(config, Precision::F32).as_bytes()).unwrap_err();
        assert!(error.to_string().contains("layers_per_stack"), "{error}");
    }
}
