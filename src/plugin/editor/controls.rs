//! A control for each kind of parameter, and the gestures that set it through the host (so
//! its automation and undo see every change): sliders for numbers and choices, check boxes
//! for switches.

use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::{BoolParam, Param, ParamPtr};
use nice_plug_iced::iced::widget::{checkbox, column, row, slider, text};
use nice_plug_iced::iced::{Element, Fill};

use super::Message;

/// Text size of control labels, in logical pixels.
pub const LABEL_SIZE_PX: f32 = 13.0;
/// A slider's step for continuous parameters, as a fraction of its range.
const CONTINUOUS_STEP: f32 = 0.001;

/// A parameter's name, value and slider (over its normalized range, stepped like the parameter).
pub fn param_slider<P: Param>(param: &P) -> Element<'_, Message> {
    let ptr = param.as_ptr();
    let step = param.step_count().map_or(CONTINUOUS_STEP, |steps| 1.0 / steps as f32);
    let normalized = param.unmodulated_normalized_value();
    let value = param.normalized_value_to_string(normalized, true);
    column![
        row![text(param.name()).size(LABEL_SIZE_PX).width(Fill), text(value).size(LABEL_SIZE_PX)].spacing(6),
        slider(0.0..=1.0, normalized, move |value| Message::Drag(ptr, value)).step(step).on_release(Message::Release(ptr)),
    ]
    .spacing(2)
    .into()
}

/// A switch as a check box.
pub fn param_checkbox(param: &BoolParam) -> Element<'_, Message> {
    let ptr = param.as_ptr();
    checkbox(param.value()).label(param.name()).text_size(LABEL_SIZE_PX).on_toggle(move |on| Message::Toggle(ptr, on)).into()
}

/// The host gestures of the parameter controls: a drag is begin, sets, end; a click is all three.
#[derive(Debug, Default)]
pub struct Gestures {
    /// The parameter being dragged, between its begin and end.
    dragging: Option<ParamPtr>,
}

impl Gestures {
    /// A slider moved to `normalized`: the gesture begins on the first move.
    pub fn drag(&mut self, context: &GuiContext, param: ParamPtr, normalized: f32) {
        if self.dragging != Some(param) {
            self.release_any(context);
            // Safety: every ParamPtr here comes from the editor's own `Arc<ContinuoParams>`,
            // which outlives the editor.
            unsafe { context.raw_begin_set_parameter(param) };
            self.dragging = Some(param);
        }
        unsafe { context.raw_set_parameter_normalized(param, normalized) };
    }

    /// The slider was let go.
    pub fn release(&mut self, context: &GuiContext, param: ParamPtr) {
        if self.dragging == Some(param) {
            self.release_any(context);
        }
    }

    /// One complete change, as a click makes (a drag of another parameter goes on).
    pub fn set(&mut self, context: &GuiContext, param: ParamPtr, normalized: f32) {
        unsafe {
            context.raw_begin_set_parameter(param);
            context.raw_set_parameter_normalized(param, normalized);
            context.raw_end_set_parameter(param);
        }
    }

    fn release_any(&mut self, context: &GuiContext) {
        if let Some(param) = self.dragging.take() {
            unsafe { context.raw_end_set_parameter(param) };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use nice_plug::prelude::{FloatParam, FloatRange};

    use super::super::recording_host::{RecordingHost, Told};
    use super::*;

    #[test]
    fn a_drag_is_one_host_gesture_and_a_click_a_whole_one() {
        let host = Arc::new(RecordingHost::default());
        let context = GuiContext::new(host.clone());
        let (first, second) = (
            FloatParam::new("A", 0.0, FloatRange::Linear { min: 0.0, max: 1.0 }),
            FloatParam::new("B", 0.0, FloatRange::Linear { min: 0.0, max: 1.0 }),
        );
        let mut gestures = Gestures::default();
        gestures.drag(&context, first.as_ptr(), 0.25);
        gestures.drag(&context, first.as_ptr(), 0.5);
        gestures.set(&context, second.as_ptr(), 1.0);
        gestures.release(&context, second.as_ptr());
        gestures.release(&context, first.as_ptr());
        gestures.release(&context, first.as_ptr());
        let expected = [Told::Begin, Told::Set(0.25), Told::Set(0.5), Told::Begin, Told::Set(1.0), Told::End, Told::End];
        let told: Vec<Told> = host.told.lock().unwrap().iter().map(|&(_, told)| told).collect();
        assert_eq!(told, expected, "begin once per drag, end once on release");
    }
}
