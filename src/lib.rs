//! Continuo: listens to a phrase played in a DAW and continues it live with a cached, quantized
//! WaveNet over MIDI event tokens.
//!
//! The musical core is host-free and tested without a DAW: [`tokens`] (the vocabulary),
//! [`midi_file`] (.mid in and out), [`corpus`] (data sets and their split), [`model`] (the model
//! file), [`engine`] (cached incremental inference, sampling, generation), [`style_memory`] (what
//! the player played, mixed into the network's predictions), [`markov`] (the batch Markov
//! baseline) and [`reuse`] (how much a continuation quotes its prompt). The plugin sits on top in
//! [`plugin`]: the nice-plug glue, its parameters, the inference thread, and the host-free
//! timing, dialogue and preview-voice logic it drives.

pub mod bounded_file;
pub mod corpus;
pub mod engine;
/// The fuzz targets' code, shared with the replay test; not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod midi_file;
pub mod model;
pub mod markov;
pub mod plugin;
pub mod reuse;
pub mod style_memory;
pub mod tokens;

#[cfg(feature = "plugin")]
pub use plugin::Continuo;
