//! Continuo: listens to a phrase played in a DAW and continues it live with a cached, quantized
//! WaveNet over MIDI event tokens.
//!
//! The musical core is host-free and tested without a DAW: [`tokens`] (the vocabulary),
//! [`midi_file`] (.mid in and out), [`corpus`] (data sets and their split), [`model`] (the model
//! file), [`engine`] (cached incremental inference, sampling, generation). The plugin glue sits on top.

pub mod corpus;
pub mod engine;
pub mod midi_file;
pub mod model;
pub mod tokens;
pub mod phrase;
pub mod schedule;
pub mod voice;

#[cfg(feature = "plugin")]
pub mod params;
#[cfg(feature = "plugin")]
mod plugin;
#[cfg(feature = "plugin")]
pub mod worker;

#[cfg(feature = "plugin")]
pub use plugin::Continuo;
#[cfg(feature = "plugin")]
nice_plug::nice_export_clap!(Continuo);
#[cfg(feature = "plugin")]
nice_plug::nice_export_vst3!(Continuo);
