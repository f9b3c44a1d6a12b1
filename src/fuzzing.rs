//! What the fuzz targets (`fuzz/fuzz_targets/`) do with their bytes, shared with the replay
//! test (`tests/fuzz_regressions.rs`) so a crash found by the fuzzer replays in `cargo test`
//! through exactly the same code. Each function runs untrusted bytes through a loader the way
//! the product does and returns the loader's error, which must name the problem; a panic, an
//! abort or a runaway allocation is a finding.

use crate::engine::{Constraints, Engine, Generator, SamplingOptions};
use crate::midi_file::{parse_midi, MidiError, ReadOptions};
use crate::model::{ModelError, ModelFile};
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
