//! What the plugin says about itself: its description, and the default model's attribution and
//! licence, which must travel inside the binary (a Linux `.clap` is one file, no bundle folder).

/// The CLAP description: what Continuo does, and the default model's credit in brief.
pub const DESCRIPTION: &str = "Listens to a phrase and continues it live. Default model trained on \
piano-midi.de (© Bernd Krüger, CC BY-SA 3.0 DE), the music21 corpus (Cuthbert & Ariza) and the \
Nottingham Music Database (via Jukedeck, GPL-3.0); weights GPL-3.0, plugin GPL-3.0-or-later";

/// The full attribution and licence notice of the embedded default model. `#[used]` keeps it in
/// the binary although no code reads it.
#[used]
pub static MODEL_NOTICE: &str = include_str!("../../assets/default-model-NOTICE.md");
