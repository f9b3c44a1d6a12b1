//! The editor tests' stand-in host: it records every gesture the editor tells it about and, as
//! a real host does, sets the value it is told.

use std::collections::BTreeMap;
use std::sync::Mutex;

use nice_plug::context::gui::GuiContextInner;
use nice_plug::prelude::{ParamPtr, PluginApi, PluginState};

/// One thing the editor told the host about a parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Told {
    Begin,
    Set(f32),
    End,
}

/// A host that applies and records gestures.
#[derive(Default)]
pub struct RecordingHost {
    /// Everything told, in order, with the parameter it was about.
    pub told: Mutex<Vec<(ParamPtr, Told)>>,
}

impl RecordingHost {
    fn record(&self, param: ParamPtr, told: Told) {
        self.told.lock().unwrap().push((param, told));
    }
}

impl GuiContextInner for RecordingHost {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    unsafe fn raw_begin_set_parameter(&self, param: ParamPtr) {
        self.record(param, Told::Begin);
    }
    unsafe fn raw_set_parameter_normalized(&self, param: ParamPtr, normalized: f32) {
        self.record(param, Told::Set(normalized));
        // SAFETY: the tests' parameters outlive the host's use of them.
        unsafe { param._internal_set_normalized_value(normalized) };
    }
    unsafe fn raw_end_set_parameter(&self, param: ParamPtr) {
        self.record(param, Told::End);
    }
    /// The editor never asks for the state: a host with none to give answers an empty one.
    fn get_state(&self) -> PluginState {
        PluginState { version: String::new(), params: BTreeMap::new(), fields: BTreeMap::new() }
    }
    fn set_state(&self, _state: PluginState) {}
    fn request_restart(&self) {}
}
