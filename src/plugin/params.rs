//! Every parameter the host sees (automatable, saved with the project), and the model path, the
//! editor's size and the style memory saved beside them. Ids are short and must never change:
//! projects store them.

use std::sync::{Arc, RwLock};

use nice_plug::plugin::ParamValue;
use nice_plug::prelude::*;

use super::editor::EditorSize;
use super::phrase::PhraseSettings;
use crate::engine::DEFAULT_TOP_P;
use crate::style_memory::MEASURED_STRENGTH;

/// Key and scale lock for the answer's pitches.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleLock {
    /// Any pitch.
    #[name = "Off"]
    Chromatic,
    /// Pitches of the major scale on the root.
    #[name = "Major"]
    Major,
    /// Pitches of the natural minor scale on the root.
    #[name = "Minor"]
    Minor,
}

/// The Input Channel value that listens to every channel but the drums.
pub const OMNI_INPUT_CHANNEL: i32 = 0;
/// The General MIDI drum channel (0-based): left out in Omni, as training leaves drums out.
const DRUM_CHANNEL: u8 = 9;

/// Names of the pitch classes, for the root parameter.
const PITCH_CLASS_NAMES: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];

/// The plugin's parameters.
#[derive(Params)]
pub struct ContinuoParams {
    /// Sampling temperature: lower is safer, higher is wilder.
    #[id = "temp"]
    pub temperature: FloatParam,
    /// Nucleus sampling: only the most likely tokens that cover this probability mass.
    #[id = "topp"]
    pub top_p: FloatParam,
    /// How long each answer lasts.
    #[id = "bars"]
    pub answer_bars: IntParam,
    /// Silence after the player's last release before the answer starts.
    #[id = "gap"]
    pub response_gap_beats: FloatParam,
    /// Pass the player's notes to the MIDI output (and the preview voice) too.
    #[id = "thru"]
    pub thru: BoolParam,
    /// Level of the built-in preview voice; 0 is silent.
    #[id = "vol"]
    pub preview_volume: FloatParam,
    /// Sampling seed; 0 draws a new one for each answer.
    #[id = "seed"]
    pub seed: IntParam,
    /// Keep the answer's pitches in a key.
    #[id = "scale"]
    pub scale: EnumParam<ScaleLock>,
    /// The key's root when the scale lock is on.
    #[id = "root"]
    pub root: IntParam,
    /// Lowest pitch the answer may play.
    #[id = "low"]
    pub pitch_low: IntParam,
    /// Highest pitch the answer may play.
    #[id = "high"]
    pub pitch_high: IntParam,
    /// The clock when the host transport is stopped or absent.
    #[id = "tempo"]
    pub tempo_bpm: FloatParam,
    /// Switching it on asks for an answer now (at the next beat), whatever was played.
    #[id = "cont"]
    pub continue_now: BoolParam,
    /// Keep answering while the player plays, instead of stopping to listen.
    #[id = "over"]
    pub answer_over_player: BoolParam,
    /// The channel the model listens to: Omni (every channel but the drums) or one of 1-16.
    /// Notes on other channels pass thru (if Thru is on) but are not heard.
    #[id = "inch"]
    pub input_channel: IntParam,
    /// The channel (1-16) the answer is played on.
    #[id = "anch"]
    pub answer_channel: IntParam,
    /// Host bypass: all notes off, silence, and the player's notes passed through.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// How much the answers lean on what the player played this session (0 = the model alone;
    /// the default is the measured mix, 1 leans on the memory twice as much), so a musician
    /// decides how much Continuo takes up their own motifs.
    #[id = "memory"]
    pub style_memory: FloatParam,
    /// Switching it on empties the style memory (a new song, another player), as a momentary
    /// action like Continue; the Style Memory setting stays.
    #[id = "forget"]
    pub forget: BoolParam,
    /// Answers sound at most as many notes together as the player did at their recent onsets:
    /// the network alone answers a single line with chords as often as not (MODEL.md,
    /// "Following the player's voices"). Off lets it choose the texture.
    #[id = "voices"]
    pub follow_voices: BoolParam,
    /// A `.safetensors` model chosen by the user; empty means the embedded default. Saved with
    /// the project; the worker loads it off the audio thread.
    #[persist = "model"]
    pub model_path: Arc<RwLock<String>>,
    /// The editor's size in logical pixels: saved with the project, so the editor reopens as
    /// the user left it. Written by the editor's window, never by the audio thread.
    #[persist = "editor-size"]
    pub editor_size: Arc<RwLock<EditorSize>>,
    /// What the style memory learned, so a reopened project keeps it: hex text written and
    /// read by the worker only (see `saved_memory`), bounded by the memory's capacity.
    #[persist = "learned"]
    pub learned_memory: Arc<RwLock<String>>,
}

impl Default for ContinuoParams {
    fn default() -> Self {
        Self {
            temperature: FloatParam::new("Temperature", 1.0, FloatRange::Linear { min: 0.1, max: 2.0 })
                .with_step_size(0.01),
            top_p: FloatParam::new("Top-p", DEFAULT_TOP_P, FloatRange::Linear { min: 0.05, max: 1.0 }).with_step_size(0.01),
            answer_bars: IntParam::new("Answer Length (bars)", 2, IntRange::Linear { min: 1, max: 16 }).with_unit(" bars"),
            response_gap_beats: FloatParam::new("Response Gap (beats)", 1.0, FloatRange::Linear { min: 0.25, max: 8.0 })
                .with_step_size(0.25)
                .with_unit(" beats"),
            thru: BoolParam::new("Thru", false),
            preview_volume: FloatParam::new("Preview Volume (%)", 70.0, FloatRange::Linear { min: 0.0, max: 100.0 })
                .with_step_size(1.0)
                .with_unit(" %"),
            seed: IntParam::new("Seed (0 = new each answer)", 0, IntRange::Linear { min: 0, max: 99_999 }),
            scale: EnumParam::new("Scale Lock", ScaleLock::Chromatic),
            root: IntParam::new("Scale Root", 0, IntRange::Linear { min: 0, max: 11 })
                .with_value_to_string(Arc::new(|class| PITCH_CLASS_NAMES[class.clamp(0, 11) as usize].to_string()))
                .with_string_to_value(Arc::new(|name| {
                    PITCH_CLASS_NAMES.iter().position(|known| known.eq_ignore_ascii_case(name.trim())).map(|i| i as i32)
                })),
            pitch_low: IntParam::new("Lowest Pitch (MIDI note)", 36, IntRange::Linear { min: 21, max: 108 })
                .with_value_to_string(formatters::v2s_i32_key_formatter())
                .with_string_to_value(formatters::s2v_i32_key_formatter()),
            pitch_high: IntParam::new("Highest Pitch (MIDI note)", 96, IntRange::Linear { min: 21, max: 108 })
                .with_value_to_string(formatters::v2s_i32_key_formatter())
                .with_string_to_value(formatters::s2v_i32_key_formatter()),
            tempo_bpm: FloatParam::new("Tempo When Stopped (BPM)", 120.0, FloatRange::Linear { min: 30.0, max: 300.0 })
                .with_step_size(0.1)
                .with_unit(" BPM"),
            continue_now: BoolParam::new("Continue", false),
            answer_over_player: BoolParam::new("Answer Over Player", false),
            input_channel: IntParam::new("Input Channel", OMNI_INPUT_CHANNEL, IntRange::Linear { min: 0, max: 16 })
                .with_value_to_string(Arc::new(|channel| match channel {
                    OMNI_INPUT_CHANNEL => "Omni".to_string(),
                    channel => channel.to_string(),
                }))
                .with_string_to_value(Arc::new(|text| match text.trim() {
                    omni if omni.eq_ignore_ascii_case("omni") => Some(OMNI_INPUT_CHANNEL),
                    number => number.parse().ok().filter(|channel| (1..=16).contains(channel)),
                })),
            answer_channel: IntParam::new("Answer Channel", 1, IntRange::Linear { min: 1, max: 16 }),
            bypass: BoolParam::new("Bypass", false)
                .make_bypass()
                .with_value_to_string(formatters::v2s_bool_bypass())
                .with_string_to_value(formatters::s2v_bool_bypass()),
            style_memory: FloatParam::new("Style Memory", MEASURED_STRENGTH, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_step_size(0.01)
                .with_unit("%")
                .with_value_to_string(formatters::v2s_f32_percentage(0))
                .with_string_to_value(formatters::s2v_f32_percentage()),
            forget: BoolParam::new("Forget", false),
            follow_voices: BoolParam::new("Follow Voices", true),
            model_path: Arc::new(RwLock::new(String::new())),
            editor_size: Arc::new(RwLock::new(EditorSize::default())),
            learned_memory: Arc::new(RwLock::new(String::new())),
        }
    }
}

impl ContinuoParams {
    /// The dialogue settings, for bars of `beats_per_bar` quarter notes.
    pub fn phrase_settings(&self, beats_per_bar: f64) -> PhraseSettings {
        PhraseSettings {
            response_gap_beats: self.response_gap_beats.value() as f64,
            answer_length_beats: self.answer_bars.value() as f64 * beats_per_bar,
            answer_over_player: self.answer_over_player.value(),
        }
    }

    /// The pitch range as (low, high), in order whichever way the user set them.
    pub fn pitch_range(&self) -> (u8, u8) {
        let (a, b) = (self.pitch_low.value() as u8, self.pitch_high.value() as u8);
        (a.min(b), a.max(b))
    }

    /// Whether the model hears notes on `channel` (0-based).
    pub fn hears_channel(&self, channel: u8) -> bool {
        input_channel_hears(self.input_channel.value(), channel)
    }

    /// The answer's channel, 0-based.
    pub fn answer_channel(&self) -> u8 {
        (self.answer_channel.value() - 1) as u8
    }

    /// The preview voice's gain (0..1).
    pub fn preview_gain(&self) -> f32 {
        self.preview_volume.value() / 100.0
    }

    /// Clamps the values of a saved state (a project or preset: untrusted bytes) into these
    /// parameters' ranges. nice-plug sets saved values as they are, so without this a corrupt
    /// state could set a lowest pitch of 500 (cast to a pitch the vocabulary lacks), a tempo of
    /// 0 or an enum index past the last variant. Found by fuzzing (fuzz/regressions/plugin_state).
    pub fn clamp_state_to_ranges(&self, state: &mut PluginState) {
        for (id, param, _) in self.param_map() {
            let Some(value) = state.params.get_mut(&id) else { continue };
            // SAFETY: `param` points into `self`, alive for this call.
            let (low, high) = unsafe { (param.preview_plain(0.0), param.preview_plain(1.0)) };
            match value {
                ParamValue::F32(plain) => *plain = plain.clamp(low, high),
                ParamValue::I32(plain) => *plain = (*plain).clamp(low as i32, high as i32),
                ParamValue::Bool(_) | ParamValue::String(_) => {}
            }
        }
    }
}

/// Whether an Input Channel value (Omni, or 1-16) takes notes on `channel` (0-based).
fn input_channel_hears(input_channel: i32, channel: u8) -> bool {
    match input_channel {
        OMNI_INPUT_CHANNEL => channel != DRUM_CHANNEL,
        chosen => chosen - 1 == channel as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omni_leaves_out_the_drums_and_a_chosen_channel_is_the_only_one_heard() {
        let params = ContinuoParams::default();
        assert!(params.hears_channel(0) && params.hears_channel(15), "Omni by default");
        assert!(!params.hears_channel(9), "Omni leaves out the drum channel, as training does");
        for (chosen, heard) in [(10, 9), (3, 2)] {
            assert!(input_channel_hears(chosen, heard));
            assert_eq!((0..16).filter(|&channel| input_channel_hears(chosen, channel)).count(), 1);
        }
        assert_eq!(params.answer_channel(), 0, "channel 1 by default");
    }

    /// Failed before `clamp_state_to_ranges` (the values were kept as saved).
    #[test]
    fn a_saved_state_is_clamped_into_the_parameter_ranges() {
        let saved = r#"{"params": {"low": {"i32": 500}, "high": {"i32": -3}, "tempo": {"f32": 0.0},
            "temp": {"f32": 1e30}, "scale": {"i32": 7}, "root": {"i32": 4}, "thru": {"bool": true}}, "fields": {}}"#;
        let mut state: PluginState = serde_json::from_str(saved).unwrap();
        ContinuoParams::default().clamp_state_to_ranges(&mut state);
        let value = |id: &str| match &state.params[id] {
            ParamValue::F32(plain) => *plain,
            ParamValue::I32(plain) => *plain as f32,
            other => panic!("{id}: {other:?}"),
        };
        assert_eq!((value("low"), value("high")), (108.0, 21.0));
        assert_eq!((value("tempo"), value("temp")), (30.0, 2.0));
        assert_eq!((value("scale"), value("root")), (2.0, 4.0), "the last scale; an in-range value stays");
        assert!(matches!(state.params["thru"], ParamValue::Bool(true)));
    }
}
