//! Continuo as a standalone JACK/ALSA app (nice-plug's standalone wrapper): MIDI in, answer
//! MIDI and preview audio out. `--help` lists the options; scripts/jack-e2e.sh uses it.

fn main() {
    nice_plug::prelude::nice_export_standalone::<continuo::Continuo>();
}
