//! The preview voice: a small polyphonic electric-piano-like synth, so the answer is heard in
//! hosts that do not route plugin MIDI out. Three sine partials with a soft attack and an
//! exponential decay per voice; cheap (a few multiplies per partial and sample) and fixed-size.

use std::f32::consts::TAU;

use super::schedule::NoteSource;

/// Voices that can sound at once; a new note beyond that takes the oldest voice.
pub const VOICE_COUNT: usize = 16;
/// Attack time, so onsets do not click.
const ATTACK_SECONDS: f32 = 0.004;
/// Time for a held note to fade by 60 dB: a piano-like decay.
const DECAY_60DB_SECONDS: f32 = 2.5;
/// Time for a released note to fade by 60 dB.
const RELEASE_60DB_SECONDS: f32 = 0.25;
/// Envelope level under which a voice is free again.
const SILENT_LEVEL: f32 = 1e-4;
/// Relative amplitudes of the partials (fundamental, octave, twelfth): a mellow bell-ish tone.
const PARTIAL_LEVELS: [f32; 3] = [1.0, 0.35, 0.12];
/// Peak level of one full-velocity voice, leaving headroom for chords.
const VOICE_PEAK_LEVEL: f32 = 0.18;
/// How far across the stereo field the pitch range spreads (0 = mono, 1 = hard left/right).
const PAN_SPREAD: f32 = 0.5;

/// One sounding (or fading) note.
#[derive(Clone, Copy, Debug)]
struct Voice {
    /// MIDI key, to find the voice again at note-off.
    key: u8,
    /// Who played it, so the answer's note-off does not end the player's note on the same key.
    source: NoteSource,
    /// Whether the key is still held (false: releasing or free).
    held: bool,
    /// Phase of the fundamental, in cycles (0..1).
    phase_cycles: f32,
    /// Fundamental frequency over sample rate: cycles per sample.
    cycles_per_sample: f32,
    /// Current envelope level.
    level: f32,
    /// Level the attack rises towards (from the velocity).
    peak: f32,
    /// Whether the attack is over.
    attacked: bool,
    /// Gains of the left and right channels (from the key).
    pan_gains: [f32; 2],
    /// Order of note-ons, to steal the oldest voice.
    started: u64,
}

/// The polyphonic preview synth.
#[derive(Clone, Debug)]
pub struct PreviewVoice {
    /// The voices, free when their level is below [`SILENT_LEVEL`].
    voices: [Voice; VOICE_COUNT],
    /// Samples per second.
    sample_rate: f32,
    /// Envelope increment per sample during the attack, relative to the peak.
    attack_step: f32,
    /// Envelope factor per sample while held.
    decay_factor: f32,
    /// Envelope factor per sample after release.
    release_factor: f32,
    /// Counts note-ons, for voice stealing.
    notes_started: u64,
}

impl Default for Voice {
    fn default() -> Self {
        Self {
            key: 0,
            source: NoteSource::Thru,
            held: false,
            phase_cycles: 0.0,
            cycles_per_sample: 0.0,
            level: 0.0,
            peak: 0.0,
            attacked: false,
            pan_gains: [0.0; 2],
            started: 0,
        }
    }
}

/// The per-sample factor that fades by 60 dB in `seconds`.
fn fade_factor(seconds: f32, sample_rate: f32) -> f32 {
    (1e-3f32).powf(1.0 / (seconds * sample_rate))
}

impl PreviewVoice {
    /// A silent synth at a sample rate.
    pub fn new(sample_rate: f32) -> Self {
        Self {
            voices: [Voice::default(); VOICE_COUNT],
            sample_rate,
            attack_step: 1.0 / (ATTACK_SECONDS * sample_rate),
            decay_factor: fade_factor(DECAY_60DB_SECONDS, sample_rate),
            release_factor: fade_factor(RELEASE_60DB_SECONDS, sample_rate),
            notes_started: 0,
        }
    }

    /// Starts a note of `source` (MIDI velocity 1..=127).
    pub fn note_on(&mut self, source: NoteSource, key: u8, velocity: u8) {
        let slot = self.free_or_oldest_voice();
        let frequency = 440.0 * 2f32.powf((key as f32 - 69.0) / 12.0);
        let pan = ((key as f32 - 64.0) / 40.0).clamp(-1.0, 1.0) * PAN_SPREAD;
        self.notes_started += 1;
        self.voices[slot] = Voice {
            key,
            source,
            held: true,
            phase_cycles: 0.0,
            cycles_per_sample: frequency / self.sample_rate,
            level: 0.0,
            peak: VOICE_PEAK_LEVEL * (velocity as f32 / 127.0).powf(1.5),
            attacked: false,
            // Constant-power pan.
            pan_gains: [((1.0 - pan) * 0.5).sqrt(), ((1.0 + pan) * 0.5).sqrt()],
            started: self.notes_started,
        };
    }

    /// Releases every voice of `source` holding `key`.
    pub fn note_off(&mut self, source: NoteSource, key: u8) {
        for voice in self.voices.iter_mut().filter(|voice| voice.held && voice.key == key && voice.source == source) {
            voice.held = false;
        }
    }

    /// Releases every voice (they fade out quickly rather than click).
    pub fn release_all(&mut self) {
        for voice in &mut self.voices {
            voice.held = false;
        }
    }

    /// Silences every voice at once (reactivation, bypass).
    pub fn silence(&mut self) {
        self.voices = [Voice::default(); VOICE_COUNT];
    }

    /// Adds the voices into `left` and `right` (same length), scaled by `volume` (0 = nothing
    /// is added, but the voices still move on in time).
    pub fn render(&mut self, left: &mut [f32], right: &mut [f32], volume: f32) {
        for voice in self.voices.iter_mut().filter(|voice| voice.level > SILENT_LEVEL || !voice.attacked) {
            if voice.peak == 0.0 {
                continue;
            }
            for (left, right) in left.iter_mut().zip(right.iter_mut()) {
                let sample = voice.next_sample(self.attack_step, self.decay_factor, self.release_factor) * volume;
                *left += sample * voice.pan_gains[0];
                *right += sample * voice.pan_gains[1];
            }
        }
    }

    fn free_or_oldest_voice(&self) -> usize {
        let free = self.voices.iter().position(|voice| voice.attacked && voice.level <= SILENT_LEVEL || voice.peak == 0.0);
        free.unwrap_or_else(|| {
            let oldest = self.voices.iter().enumerate().min_by_key(|(_, voice)| voice.started);
            oldest.map_or(0, |(index, _)| index)
        })
    }
}

impl Voice {
    fn next_sample(&mut self, attack_step: f32, decay_factor: f32, release_factor: f32) -> f32 {
        if !self.attacked {
            self.level += attack_step * self.peak;
            if self.level >= self.peak {
                self.level = self.peak;
                self.attacked = true;
            }
        }
        if !self.held {
            self.level *= release_factor;
            // A note released during its attack fades from where it is.
            self.attacked = true;
        } else if self.attacked {
            self.level *= decay_factor;
        }
        let phase = self.phase_cycles * TAU;
        let tone = PARTIAL_LEVELS[0] * phase.sin() + PARTIAL_LEVELS[1] * (2.0 * phase).sin() + PARTIAL_LEVELS[2] * (3.0 * phase).sin();
        self.phase_cycles = (self.phase_cycles + self.cycles_per_sample).fract();
        tone * self.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE_RATE: f32 = 48_000.0;

    fn rms(samples: &[f32]) -> f32 {
        (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
    }

    fn render(voice: &mut PreviewVoice, samples: usize, volume: f32) -> (Vec<f32>, Vec<f32>) {
        let (mut left, mut right) = (vec![0.0; samples], vec![0.0; samples]);
        voice.render(&mut left, &mut right, volume);
        (left, right)
    }

    #[test]
    fn a_note_sounds_then_fades_after_release() {
        let mut voice = PreviewVoice::new(SAMPLE_RATE);
        assert_eq!(rms(&render(&mut voice, 512, 1.0).0), 0.0, "silent before any note");
        voice.note_on(NoteSource::Answer, 60, 100);
        let (held, _) = render(&mut voice, 4800, 1.0);
        assert!(rms(&held) > 0.02, "audible: {}", rms(&held));
        assert!(held.iter().all(|s| s.abs() < 1.0), "no clipping");
        voice.note_off(NoteSource::Answer, 60);
        render(&mut voice, 48_000, 1.0);
        assert!(rms(&render(&mut voice, 512, 1.0).0) < 1e-5, "gone a second after release");
    }

    #[test]
    fn volume_zero_is_silent_and_pitch_pans() {
        let mut voice = PreviewVoice::new(SAMPLE_RATE);
        voice.note_on(NoteSource::Answer, 90, 127);
        let (left, right) = render(&mut voice, 4800, 0.0);
        assert_eq!(rms(&left) + rms(&right), 0.0);
        let (left, right) = render(&mut voice, 4800, 1.0);
        assert!(rms(&right) > rms(&left), "high notes lean right");
    }

    #[test]
    fn more_notes_than_voices_steal_the_oldest() {
        let mut voice = PreviewVoice::new(SAMPLE_RATE);
        for key in 40..40 + VOICE_COUNT as u8 + 4 {
            voice.note_on(NoteSource::Thru, key, 100);
            render(&mut voice, 16, 1.0);
        }
        let keys: Vec<u8> = voice.voices.iter().map(|v| v.key).collect();
        assert!(!keys.contains(&40) && keys.contains(&(40 + VOICE_COUNT as u8 + 3)), "{keys:?}");
        voice.release_all();
        render(&mut voice, 48_000, 1.0);
        assert!(rms(&render(&mut voice, 512, 1.0).0) < 1e-5);
    }

    /// Failed before the fix: the answer's note-off released the player's voice on its key.
    #[test]
    fn the_answers_note_off_leaves_the_players_note_sounding() {
        let mut voice = PreviewVoice::new(SAMPLE_RATE);
        voice.note_on(NoteSource::Thru, 60, 100);
        voice.note_on(NoteSource::Answer, 60, 100);
        render(&mut voice, 480, 1.0);
        voice.note_off(NoteSource::Answer, 60);
        render(&mut voice, 48_000, 1.0);
        assert!(rms(&render(&mut voice, 512, 1.0).0) > 1e-3, "the player's note still sounds");
        voice.note_off(NoteSource::Thru, 60);
        render(&mut voice, 48_000, 1.0);
        assert!(rms(&render(&mut voice, 512, 1.0).0) < 1e-5);
    }
}
