//! The preset picker: a list of the factory presets that applies the chosen one through the
//! host's gestures, one complete change per parameter, so the host's automation and undo see
//! a preset like any other edit.

use nice_plug::context::gui::GuiContext;
use nice_plug_iced::iced::widget::pick_list;
use nice_plug_iced::iced::Element;

use super::controls::{Gestures, LABEL_SIZE_PX};
use super::Message;
use crate::plugin::params::ContinuoParams;
use crate::plugin::presets::{Preset, FACTORY_PRESETS};

/// How far a parameter may be from a preset's value and still match it (normalized): the
/// round trip through a normalized value is not always exact in `f32`.
const MATCH_TOLERANCE: f32 = 1e-4;
/// The picker's padding (vertical, horizontal), in logical pixels: less than iced's default so
/// the picker is no taller than the header's title and the controls below stay where they were
/// (scripts/editor-e2e.sh clicks a slider at a fixed position).
const PICKER_PADDING_PX: [f32; 2] = [3.0, 8.0];

/// The picker, showing the preset the parameters equal now, if any.
pub fn preset_picker(params: &ContinuoParams) -> Element<'_, Message> {
    pick_list(&FACTORY_PRESETS[..], matching_preset(params), Message::ApplyPreset)
        .placeholder("Presets")
        .text_size(LABEL_SIZE_PX)
        .padding(PICKER_PADDING_PX)
        .into()
}

/// Sets each of the preset's parameters through the host, as a click would.
pub fn apply_preset(gestures: &mut Gestures, context: &GuiContext, params: &ContinuoParams, preset: &Preset) {
    for (param, normalized) in preset.normalized_settings(params) {
        gestures.set(context, param, normalized);
    }
}

/// The first preset whose every value the parameters have now.
fn matching_preset(params: &ContinuoParams) -> Option<Preset> {
    FACTORY_PRESETS.iter().copied().find(|preset| {
        preset.normalized_settings(params).into_iter().all(|(param, normalized)| {
            // SAFETY: `param` points into `params`, alive for this call.
            (unsafe { param.unmodulated_normalized_value() } - normalized).abs() < MATCH_TOLERANCE
        })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use nice_plug::plugin::ParamValue;
    use nice_plug::prelude::Params;

    use super::super::recording_host::{RecordingHost, Told};
    use super::*;

    /// Every parameter's plain value, as a saved state lists them.
    fn plain_values(params: &ContinuoParams) -> BTreeMap<String, f32> {
        // SAFETY: the pointers point into `params`, alive for this call.
        params.param_map().into_iter().map(|(id, param, _)| (id, unsafe { param.unmodulated_plain_value() })).collect()
    }

    #[test]
    fn picking_a_preset_sets_exactly_its_values_each_in_one_host_gesture() {
        for preset in &FACTORY_PRESETS {
            let params = ContinuoParams::default();
            let before = plain_values(&params);
            let host = Arc::new(RecordingHost::default());
            apply_preset(&mut Gestures::default(), &GuiContext::new(host.clone()), &params, preset);

            let mut expected = before.clone();
            for (id, value) in preset.values() {
                let plain = match value {
                    ParamValue::F32(plain) => plain,
                    ParamValue::I32(plain) => plain as f32,
                    ParamValue::Bool(on) => f32::from(u8::from(on)),
                    ParamValue::String(id) => panic!("{id}"),
                };
                expected.insert(id, plain);
            }
            let after = plain_values(&params);
            for (id, want) in &expected {
                assert!((after[id] - want).abs() < 1e-4, "{}: {id} is {} not {want}", preset.name, after[id]);
            }
            let told = host.told.lock().unwrap();
            assert_eq!(told.len(), 3 * preset.values().len(), "{}: one begin, set, end per preset value only", preset.name);
            for gesture in told.chunks(3) {
                assert!(gesture.iter().all(|(param, _)| *param == gesture[0].0), "{}: a gesture is about one parameter", preset.name);
                assert!(matches!(gesture.iter().map(|&(_, told)| told).collect::<Vec<_>>()[..], [Told::Begin, Told::Set(_), Told::End]));
            }
            assert_eq!(matching_preset(&params), Some(*preset), "the picker shows the preset applied");
        }
        assert_eq!(matching_preset(&ContinuoParams::default()), None, "the defaults are no preset");
    }
}
