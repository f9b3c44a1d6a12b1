//! The plugin: everything above the host-free musical core.
//!
//! [`schedule`] (time within a block, the notes owed to the host), [`phrase`] (listen, wait,
//! answer, interrupt) and [`voice`] (the preview synth) are host-free and tested without a DAW.
//! Behind the `plugin` feature: [`about`] (description and the model's attribution), [`params`],
//! [`worker`] (the inference thread, with the session's style memory) and the nice-plug glue
//! itself, `continuo` (host events in, answer notes and preview audio out). `process()` never
//! allocates, locks or waits in real time; offline it may wait for the worker so a bounce
//! equals a real-time run.

pub mod phrase;
pub mod schedule;
pub mod voice;

#[cfg(feature = "plugin")]
pub mod about;
#[cfg(feature = "plugin")]
mod continuo;
#[cfg(feature = "plugin")]
pub mod display;
#[cfg(feature = "plugin")]
mod editor;
#[cfg(feature = "plugin")]
mod heard_stream;
#[cfg(feature = "plugin")]
pub mod model_choice;
#[cfg(feature = "plugin")]
pub mod params;
#[cfg(feature = "plugin")]
pub mod presets;
#[cfg(feature = "plugin")]
mod saved_memory;
#[cfg(feature = "plugin")]
mod session_memory;
#[cfg(feature = "plugin")]
pub mod worker;

#[cfg(feature = "plugin")]
pub use continuo::Continuo;
