//! Factory presets: combinations of the musical parameters that show what Continuo can do. This
//! table is the one source of truth for the editor's preset picker and for the state files in
//! `presets/` (a test checks the committed files equal what the table generates).
//!
//! nice-plug 0.4.2 offers neither CLAP preset discovery (`clap.preset-discovery-factory`) nor
//! VST3 programs, so the presets reach the host two ways: the editor's picker, which sets each
//! value through the host's gestures (automation and undo see it), and `presets/*.json`, the
//! state JSON nice-plug reads and writes (a VST3 host's component state as is; the CLAP state
//! stream frames it with its length as 8 little-endian bytes).
//!
//! A preset sets only the musical character (sampling, answer length and gap, key and range,
//! how much the style memory steers; never what it learned):
//! channels, Thru, volume, tempo, seed and the model stay as the user set them. Every preset
//! uses the embedded default model, so none names a model file.

use std::collections::BTreeMap;

use nice_plug::plugin::{ParamValue, PluginState};
use nice_plug::prelude::{ParamPtr, Params};

use super::params::{ContinuoParams, ScaleLock};
use crate::style_memory::MEASURED_STRENGTH;

/// The folder of the preset files, relative to the repository root.
pub const PRESETS_FOLDER: &str = "presets";

/// One factory preset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preset {
    /// The name the picker shows.
    pub name: &'static str,
    /// The file's name in [`PRESETS_FOLDER`], without `.json`.
    pub file_stem: &'static str,
    /// Sampling temperature: low for safe, stepwise answers, high for surprises.
    pub temperature: f32,
    /// Nucleus mass: below 1 leaves out the unlikely tokens.
    pub top_p: f32,
    /// Answer length in bars.
    pub answer_bars: i32,
    /// Silence before the answer, in beats.
    pub response_gap_beats: f32,
    /// Whether the answer goes on while the player plays.
    pub answer_over_player: bool,
    /// Key lock of the answer's pitches.
    pub scale: ScaleLock,
    /// The key's root (pitch class, 0 = C).
    pub root: i32,
    /// Lowest pitch of the answer (MIDI note).
    pub pitch_low: i32,
    /// Highest pitch of the answer (MIDI note).
    pub pitch_high: i32,
    /// How much the answers take up what the player played (the Style Memory control, 0..=1).
    pub style_memory: f32,
    /// Whether the answers keep to as many notes together as the player plays.
    pub follow_voices: bool,
}

/// The factory presets, in the picker's order.
pub static FACTORY_PRESETS: [Preset; 4] = [
    // Four-part writing: in key, voices within a tenth of middle C, calm choices, 2-bar answers,
    // the measured style memory, and chords even to a single line.
    Preset {
        name: "Chorale",
        file_stem: "chorale",
        temperature: 0.6,
        top_p: 0.85,
        answer_bars: 2,
        response_gap_beats: 1.0,
        answer_over_player: false,
        scale: ScaleLock::Major,
        root: 0,
        pitch_low: 48,
        pitch_high: 76,
        style_memory: MEASURED_STRENGTH,
        follow_voices: false,
    },
    // A reel in D on the fiddle's range (G3 to E6): quick turn-taking, 4-bar answers, and a
    // strong style memory: tunes are built from repeated figures, so the answers take them up.
    Preset {
        name: "Fiddle reel",
        file_stem: "fiddle-reel",
        temperature: 0.9,
        top_p: 0.92,
        answer_bars: 4,
        response_gap_beats: 0.5,
        answer_over_player: false,
        scale: ScaleLock::Major,
        root: 2,
        pitch_low: 55,
        pitch_high: 88,
        style_memory: 0.75,
        follow_voices: true,
    },
    // Room to breathe: a long gap and one-bar replies over the piano's middle, any key, the
    // measured style memory.
    Preset {
        name: "Piano, sparse",
        file_stem: "piano-sparse",
        temperature: 0.8,
        top_p: 0.9,
        answer_bars: 1,
        response_gap_beats: 2.0,
        answer_over_player: false,
        scale: ScaleLock::Chromatic,
        root: 0,
        pitch_low: 36,
        pitch_high: 96,
        style_memory: MEASURED_STRENGTH,
        follow_voices: true,
    },
    // Everything the model dares: hot sampling, the whole nucleus, the whole keyboard, a light
    // style memory so it strays from the player, and it keeps playing over the player.
    Preset {
        name: "Wild",
        file_stem: "wild",
        temperature: 1.6,
        top_p: 1.0,
        answer_bars: 4,
        response_gap_beats: 0.5,
        answer_over_player: true,
        scale: ScaleLock::Chromatic,
        root: 0,
        pitch_low: 21,
        pitch_high: 108,
        style_memory: 0.2,
        follow_voices: false,
    },
];

/// The picker shows a preset by its name.
impl std::fmt::Display for Preset {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name)
    }
}

impl Preset {
    /// The preset's plain values by parameter id (the ids of [`ContinuoParams`]).
    pub fn values(&self) -> BTreeMap<String, ParamValue> {
        [
            ("temp", ParamValue::F32(self.temperature)),
            ("topp", ParamValue::F32(self.top_p)),
            ("bars", ParamValue::I32(self.answer_bars)),
            ("gap", ParamValue::F32(self.response_gap_beats)),
            ("over", ParamValue::Bool(self.answer_over_player)),
            ("scale", ParamValue::I32(self.scale as i32)),
            ("root", ParamValue::I32(self.root)),
            ("low", ParamValue::I32(self.pitch_low)),
            ("high", ParamValue::I32(self.pitch_high)),
            ("memory", ParamValue::F32(self.style_memory)),
            ("voices", ParamValue::Bool(self.follow_voices)),
        ]
        .into_iter()
        .map(|(id, value)| (id.to_string(), value))
        .collect()
    }

    /// The preset as a plugin state: its parameters and no fields, so loading it leaves the
    /// model alone. No version: a preset fits every version with these parameter ids.
    pub fn state(&self) -> PluginState {
        PluginState { version: String::new(), params: self.values(), fields: BTreeMap::new() }
    }

    /// The preset file's contents: the state as pretty JSON with a final newline.
    pub fn file_contents(&self) -> String {
        let json = serde_json::to_string_pretty(&self.state()).expect("a preset state is plain JSON");
        format!("{json}\n")
    }

    /// Each parameter the preset sets, with its normalized value, for the host's gestures.
    pub fn normalized_settings(&self, params: &ContinuoParams) -> Vec<(ParamPtr, f32)> {
        let by_id = params.param_map();
        self.values()
            .into_iter()
            .map(|(id, value)| {
                let (_, param, _) = by_id.iter().find(|(known, _, _)| *known == id).expect("a preset names only known parameters");
                // SAFETY: `param` points into `params`, alive for this call.
                (*param, unsafe { param.preview_normalized(plain_of(&value)) })
            })
            .collect()
    }
}

/// A saved value as the plain number nice-plug's parameters take.
fn plain_of(value: &ParamValue) -> f32 {
    match value {
        ParamValue::F32(plain) => *plain,
        ParamValue::I32(plain) => *plain as f32,
        ParamValue::Bool(on) => f32::from(u8::from(*on)),
        ParamValue::String(id) => unreachable!("presets store enums by index, not by id {id:?}"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Set this to rewrite `presets/*.json` from the table (then review and commit the diff).
    const BLESS_VARIABLE: &str = "CONTINUO_BLESS_PRESETS";

    #[test]
    fn the_committed_preset_files_are_what_the_table_generates() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join(PRESETS_FOLDER);
        let bless = std::env::var_os(BLESS_VARIABLE).is_some();
        for preset in FACTORY_PRESETS {
            let path = folder.join(format!("{}.json", preset.file_stem));
            if bless {
                std::fs::write(&path, preset.file_contents()).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            assert_eq!(committed, preset.file_contents(), "{} differs from the table: rerun with {BLESS_VARIABLE}=1", path.display());
        }
        let files = std::fs::read_dir(&folder).unwrap().count();
        assert_eq!(files, FACTORY_PRESETS.len(), "{}: a file no preset generates", folder.display());
    }

    #[test]
    fn every_preset_is_inside_the_parameter_ranges_and_names_only_known_parameters() {
        let params = ContinuoParams::default();
        for preset in FACTORY_PRESETS {
            let mut clamped = preset.state();
            params.clamp_state_to_ranges(&mut clamped);
            assert_eq!(format!("{:?}", clamped.params), format!("{:?}", preset.values()), "{}: out of range", preset.name);
            assert_eq!(preset.normalized_settings(&params).len(), preset.values().len(), "{}", preset.name);
            assert!(preset.pitch_low < preset.pitch_high, "{}: the range is in order", preset.name);
        }
        let mut names: Vec<_> = FACTORY_PRESETS.iter().map(|preset| preset.file_stem).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FACTORY_PRESETS.len(), "file names are unique");
    }
}
