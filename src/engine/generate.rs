//! Generation: the engine and a sampler together (what the plugin's worker drives), and
//! offline continuation of a prompt for `cargo xtask generate`.

use super::copy_head::COPY_SAMPLING_STRENGTH;
use super::repeat_pointer::repeat_sampling_strength;
use super::{Constraints, Engine, Sampler, SamplingOptions, VoiceLimit};
use crate::style_memory::{MemoryContext, StyleMemory};
use crate::midi_file::Song;
use crate::tokens::{bin_velocity, encode_notes, ticks_to_beats, Event, Note, Played, SequenceState, Token, TICKS_PER_BEAT};

/// An engine that can also choose its own next token.
#[derive(Clone, Debug)]
pub struct Generator {
    /// The network and its token state.
    engine: Engine,
    /// Draws the next token from the engine's logits.
    sampler: Sampler,
    /// The engine's logits as changed by a steering step (the style memory), before sampling.
    steered_logits: Vec<f32>,
}

impl Generator {
    /// A generator with a sampler seeded by `seed`.
    pub fn new(engine: Engine, seed: u64) -> Generator {
        let steered_logits = engine.logits().to_vec();
        Generator { engine, sampler: Sampler::new(seed), steered_logits }
    }

    /// Samples with `strength` times the engine's repeat pointer bonus (see
    /// [`repeat_sampling_strength`]).
    pub fn set_repeat_strength(&mut self, strength: f32) {
        self.engine.set_repeat_strength(strength);
    }

    /// Samples with `strength` of the engine's copy head mixed in (see [`COPY_SAMPLING_STRENGTH`]).
    pub fn set_copy_strength(&mut self, strength: f32) {
        self.engine.set_copy_strength(strength);
    }

    /// Clears the engine (which then feeds `Start`).
    pub fn reset(&mut self) {
        self.engine.reset();
    }

    /// Feeds a known token (prompt, live input).
    pub fn feed(&mut self, token: Token) {
        self.engine.step(token);
    }

    /// Samples the next token under the options and constraints, feeds it, and tells `played`
    /// about the notes it starts or ends.
    pub fn sample_next(&mut self, options: &SamplingOptions, constraints: &Constraints, played: impl FnMut(Played)) -> Token {
        self.sample_next_steered(|_| {}, options, constraints, played)
    }

    /// As [`Generator::sample_next`], with the logits first changed by `steer` (the style memory
    /// mixing in what the player played).
    pub fn sample_next_steered(
        &mut self,
        steer: impl FnOnce(&mut [f32]),
        options: &SamplingOptions,
        constraints: &Constraints,
        played: impl FnMut(Played),
    ) -> Token {
        self.steered_logits.copy_from_slice(self.engine.logits());
        steer(&mut self.steered_logits);
        let token = self.sampler.sample(&self.steered_logits, self.engine.state(), options, constraints);
        self.engine.step_reporting(token, played);
        token
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The sampler (to reseed it).
    pub fn sampler_mut(&mut self) -> &mut Sampler {
        &mut self.sampler
    }
}

/// What to generate after a prompt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContinuationRequest {
    /// Bars to add after the prompt, in the prompt's meter.
    pub bars: u32,
    /// Draw settings.
    pub options: SamplingOptions,
    /// Range, key and end constraints.
    pub constraints: Constraints,
    /// How much the style memory (when one is given) steers the continuation, 0..=1.
    pub memory_strength: f32,
    /// Whether the continuation sounds at most as many notes together as the prompt's end did
    /// (the plugin's Follow Voices; see [`VoiceLimit`]). `constraints.max_voices` still applies.
    pub follow_voices: bool,
    /// The share of the repeat pointer's bonus to sample with; `None`: the plugin's, which
    /// depends on the memory's strength ([`repeat_sampling_strength`]).
    pub repeat_strength: Option<f32>,
    /// The share of the copy head's copying to sample with; `None`: the plugin's
    /// ([`COPY_SAMPLING_STRENGTH`]).
    pub copy_strength: Option<f32>,
}

/// A prompt and its continuation.
#[derive(Clone, Debug, PartialEq)]
pub struct Continuation {
    /// The prompt's notes as read, then the generated ones; every note has an end.
    pub notes: Vec<Note>,
    /// How many of `notes` were generated.
    pub generated_notes: usize,
    /// Where the prompt ends and the continuation starts, in beats.
    pub prompt_end_beats: f64,
}

/// Feeds the prompt's tokens, then samples until the state's time reaches the prompt's end plus
/// `bars` bars (of the prompt's time signature) or `End` is drawn, then releases every note still
/// sounding. The generator is reset first. With a style `memory`, the prompt is learned as the
/// player's and the memory steers every sampled token at the request's strength; following
/// voices, the prompt's recent onsets limit how many notes sound together.
pub fn continue_song(
    generator: &mut Generator,
    prompt: &Song,
    request: &ContinuationRequest,
    mut memory: Option<&mut StyleMemory>,
) -> Continuation {
    generator.reset();
    let mut context = MemoryContext::default();
    let mut voice_limit = VoiceLimit::default();
    let encoded = encode_notes(&prompt.notes);
    let body = encoded.tokens.iter().skip(1).filter(|&&token| Event::from_token(token) != Some(Event::End));
    for &token in body {
        generator.feed(token);
        if let Some(memory) = memory.as_deref_mut() {
            memory.learn(token);
        }
        context.push(token);
        match Event::from_token(token) {
            Some(Event::NoteOn(pitch)) => voice_limit.key_down(pitch),
            Some(Event::NoteOff(pitch)) => voice_limit.key_up(pitch),
            _ => {}
        }
    }
    let constraints = match request.follow_voices {
        true => request.constraints.with_voice_limit(voice_limit.limit()),
        false => request.constraints,
    };
    let memory_strength = if memory.is_some() { request.memory_strength } else { 0.0 };
    generator.set_repeat_strength(request.repeat_strength.unwrap_or_else(|| repeat_sampling_strength(memory_strength)));
    generator.set_copy_strength(request.copy_strength.unwrap_or(COPY_SAMPLING_STRENGTH));
    let prompt_end = generator.engine().state().tick();
    let ticks_per_bar = (prompt.beats_per_bar() * TICKS_PER_BEAT as f64).round() as u64;
    let end_tick = prompt_end + request.bars as u64 * ticks_per_bar;
    let mut notes = prompt.notes.clone();
    let mut onsets = NoteCollector::after_removed_rests(encoded.rest_ticks_removed);
    while generator.engine().state().tick() < end_tick {
        let steer = |logits: &mut [f32]| {
            if let Some(memory) = memory.as_deref_mut() {
                memory.steer(&context, logits, request.memory_strength);
            }
        };
        let token = generator.sample_next_steered(steer, &request.options, &constraints, |played| {
            onsets.hear(played, &mut notes)
        });
        context.push(token);
        if Event::from_token(token) == Some(Event::End) {
            break;
        }
    }
    let mut final_state: SequenceState = generator.engine().state().clone();
    final_state.release_all(|played| onsets.hear(played, &mut notes));
    let prompt_end_beats = ticks_to_beats(prompt_end + encoded.rest_ticks_removed);
    Continuation { generated_notes: notes.len() - prompt.notes.len(), notes, prompt_end_beats }
}

/// Turns `Played` reports into notes: remembers each onset's velocity until its release.
#[derive(Debug)]
struct NoteCollector {
    /// MIDI velocity of each sounding pitch.
    velocities: [u8; 128],
    /// Ticks the prompt's encoding took out of long rests: the generated notes come that much
    /// later in the prompt's own time.
    tick_offset: u64,
}

impl NoteCollector {
    fn after_removed_rests(tick_offset: u64) -> Self {
        Self { velocities: [bin_velocity(crate::tokens::DEFAULT_VELOCITY_BIN); 128], tick_offset }
    }

    fn hear(&mut self, played: Played, notes: &mut Vec<Note>) {
        match played {
            Played::On { pitch, velocity, .. } => self.velocities[pitch as usize] = velocity,
            Played::Off { pitch, since, tick } => notes.push(Note {
                pitch,
                velocity: self.velocities[pitch as usize],
                start_beats: ticks_to_beats(since + self.tick_offset),
                duration_beats: ticks_to_beats(tick.max(since + 1) - since),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::random_model::random_wavenet;
    use crate::engine::tests::small_config;
    use crate::engine::ScaleMode;

    fn prompt() -> Song {
        let notes = (0..6)
            .map(|i| Note { pitch: 60 + 2 * i, velocity: 90, start_beats: i as f64 * 0.75, duration_beats: 0.5 })
            .collect();
        Song { notes, tempo_map: Vec::new(), time_signature: (3, 4) }
    }

    #[test]
    fn a_continuation_samples_with_the_requested_share_of_the_repeat_bonus() {
        let network_alone = random_wavenet(small_config(), 33);
        // A bonus that makes every proposal a certainty.
        let with_pointer = network_alone.with_repeat_bonus(vec![20.0; super::super::repeat_pointer::BONUS_COUNT]);
        // A phrase played three times, so the pointer proposes while the continuation starts.
        let mut song = prompt();
        song.notes = (0..18).map(|i| Note { start_beats: i as f64 * 0.75, ..song.notes[i % 6] }).collect();
        let continue_with = |model: &crate::model::ModelFile, repeat_strength| {
            let options = SamplingOptions::default();
            let request = ContinuationRequest { bars: 8, options, constraints: Constraints::default(), memory_strength: 0.0, follow_voices: false, repeat_strength, copy_strength: None };
            continue_song(&mut Generator::new(Engine::from_model(model).unwrap(), 5), &song, &request, None).notes
        };
        assert_eq!(continue_with(&with_pointer, Some(0.0)), continue_with(&network_alone, None), "no share: the network alone");
        assert_ne!(continue_with(&with_pointer, Some(1.0)), continue_with(&network_alone, None), "the whole bonus changes the draw");
        assert_eq!(repeat_sampling_strength(0.0), super::super::repeat_pointer::REPEAT_SAMPLING_STRENGTH);
        assert_eq!(repeat_sampling_strength(crate::style_memory::MEASURED_STRENGTH), 0.0, "the memory's default takes over");
        assert_eq!(repeat_sampling_strength(1.0), 0.0);
    }

    #[test]
    fn a_continuation_samples_a_copy_head_at_the_plugins_share_whatever_the_style_memory() {
        use crate::style_memory::MEASURED_STRENGTH;
        let model = random_wavenet(crate::model::WaveNetConfig { copy_keys: 8, ..small_config() }, 34);
        let continue_with = |memory_strength: f32, copy_strength| {
            let options = SamplingOptions::default();
            let request = ContinuationRequest { bars: 4, options, constraints: Constraints::default(), memory_strength, follow_voices: false, repeat_strength: None, copy_strength };
            let mut memory = StyleMemory::new();
            continue_song(&mut Generator::new(Engine::from_model(&model).unwrap(), 5), &prompt(), &request, Some(&mut memory)).notes
        };
        for memory_strength in [0.0, MEASURED_STRENGTH, 1.0] {
            let plugins = continue_with(memory_strength, None);
            assert_eq!(plugins, continue_with(memory_strength, Some(COPY_SAMPLING_STRENGTH)), "memory {memory_strength}");
            assert_ne!(plugins, continue_with(memory_strength, Some(1.0)), "memory {memory_strength}: the share changes the draw");
        }
    }

    /// Would fail if the continuation ignored the ticks the encoding took out of the prompt's
    /// long rest: it would start 83.75 beats too early, inside the prompt.
    #[test]
    fn a_continuation_follows_a_prompt_with_a_long_rest_in_the_prompts_own_time() {
        let mut generator = Generator::new(Engine::from_model(&random_wavenet(small_config(), 32)).unwrap(), 8);
        let mut song = prompt();
        song.notes.push(Note { pitch: 72, velocity: 90, start_beats: 104.0, duration_beats: 1.0 });
        let request = ContinuationRequest { bars: 2, options: SamplingOptions::default(), constraints: Constraints::default(), memory_strength: 0.0, follow_voices: false, repeat_strength: None, copy_strength: None };
        let continuation = continue_song(&mut generator, &song, &request, None);
        assert_eq!(continuation.prompt_end_beats, 105.0);
        let generated = &continuation.notes[song.notes.len()..];
        assert!(!generated.is_empty());
        assert!(generated.iter().all(|note| note.start_beats >= 105.0), "{generated:?}");
    }

    #[test]
    fn a_continuation_keeps_the_prompt_and_fills_the_requested_bars_in_range() {
        let mut generator = Generator::new(Engine::from_model(&random_wavenet(small_config(), 31)).unwrap(), 7);
        let constraints = Constraints { pitch_low: 55, pitch_high: 79, root: 0, mode: ScaleMode::Major, ..Constraints::default() };
        let request = ContinuationRequest { bars: 4, options: SamplingOptions::default(), constraints, memory_strength: 0.0, follow_voices: false, repeat_strength: None, copy_strength: None };
        let song = prompt();
        let continuation = continue_song(&mut generator, &song, &request, None);
        assert_eq!(&continuation.notes[..song.notes.len()], &song.notes[..]);
        assert_eq!(continuation.prompt_end_beats, 4.25);
        let generated = &continuation.notes[song.notes.len()..];
        assert_eq!(generated.len(), continuation.generated_notes);
        assert!(!generated.is_empty());
        let end_beats = 4.25 + 4.0 * 3.0;
        for note in generated {
            assert!(note.start_beats >= 4.25 && note.start_beats < end_beats, "{note:?}");
            assert!(note.duration_beats > 0.0 && note.end_beats() <= end_beats + 4.0, "{note:?}");
            assert!(constraints.allows_pitch(note.pitch), "{note:?}");
        }
        let latest = generated.iter().map(Note::end_beats).fold(0.0, f64::max);
        assert!(latest >= end_beats - 4.0, "the continuation reaches the last bars (ends at {latest})");
    }
}
