//! The nice-plug glue: host events in, answer notes and preview audio out. Thin on purpose:
//! timing lives in [`super::schedule`], the dialogue in [`super::phrase`], inference in
//! [`super::worker`], sound in [`super::voice`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

use super::display::{display_channels, BlockDisplayTime, DisplayEvent, DisplayFeed};
use super::editor::{ContinuoEditor, EditorParts};
use super::params::{ContinuoParams, ScaleLock};
use super::phrase::{Cue, Phrase, PhraseSettings, Sustain};
use super::schedule::{AnswerPlayback, AnswerWindow, BlockTime, Clock, DueNote, HostNotes, HostTime, NoteSource};
use super::voice::PreviewVoice;
use super::worker::{AnswerRequest, HeardFrom, LiveSettings, ToWorker, WorkerHandle};
use crate::engine::{Constraints, ScaleMode};
use crate::tokens::KeyEvent;

/// Sustain pedal controller number.
const SUSTAIN_CONTROLLER: u8 = 64;
/// The most input events a host can send in one block, so nice-plug never grows its event
/// queue on the audio thread: with `MidiConfig::MidiCCs` a VST3 host sends every controller,
/// pitch bend and channel pressure of all 16 channels as parameter changes, and each key may
/// start, end and change pressure.
const INPUT_EVENTS_PER_BLOCK: usize = 16 * (128 + 2 + 3 * 128);
/// Quarter-note beats per bar when the host gives no time signature.
const DEFAULT_BEATS_PER_BAR: f64 = 4.0;

/// The Continuo instrument.
pub struct Continuo {
    /// Parameters and the persisted model path.
    params: Arc<ContinuoParams>,
    /// The inference thread and its queues.
    worker: WorkerHandle,
    /// Song and model time, block by block.
    clock: Clock,
    /// Listen / answer / interrupt.
    phrase: Phrase,
    /// What the model hears of the sustain pedal.
    sustain: Sustain,
    /// The answer being played and its sounding notes.
    playback: AnswerPlayback,
    /// Every note on at the host (answer and thru) and the note-offs owed to it. Kept across
    /// reset and reactivation, which cannot send events, so the offs go out in the next block.
    host_notes: HostNotes,
    /// The answer channel and constraints of the last block: a change ends the answer.
    answer_shape: AnswerShape,
    /// The preview synth.
    voice: PreviewVoice,
    /// Samples per second since the last activation.
    sample_rate: f32,
    /// Counts answers; each answer's id (never 0, which means "none").
    answers_requested: u64,
    /// Mixed into the seed of answers when the seed parameter is 0, so each run differs.
    seed_nonce: u64,
    /// The Continue parameter's value in the last block, to act on its rising edge.
    continue_was_on: bool,
    /// The Forget parameter's value in the last block, to act on its rising edge.
    forget_was_on: bool,
    /// Whether the last block was bypassed, to act on changes.
    was_bypassed: bool,
    /// What the editor shows: pushed wait-free, dropped when nobody reads.
    display: DisplayFeed,
    /// What the editor needs to open (its end of the display, its size).
    editor_parts: EditorParts,
}

impl Default for Continuo {
    fn default() -> Self {
        let params = Arc::new(ContinuoParams::default());
        let answer_shape = AnswerShape::of(&params);
        let (display, sampled, display_reader) = display_channels();
        let live = Arc::new(LiveSettings::default());
        let worker = WorkerHandle::spawn(params.model_path.clone(), params.learned_memory.clone(), live.clone(), sampled);
        let seed_nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        Self {
            answer_shape,
            params,
            worker,
            clock: Clock::default(),
            phrase: Phrase::default(),
            sustain: Sustain::default(),
            playback: AnswerPlayback::default(),
            host_notes: HostNotes::default(),
            voice: PreviewVoice::new(44_100.0),
            sample_rate: 44_100.0,
            answers_requested: 0,
            seed_nonce,
            continue_was_on: false,
            forget_was_on: false,
            was_bypassed: false,
            display,
            editor_parts: EditorParts::new(display_reader, live),
        }
    }
}

impl Plugin for Continuo {
    const NAME: &'static str = "Continuo";
    const VENDOR: &'static str = "Continuo developers";
    const URL: &'static str = "https://example.invalid/continuo";
    const EMAIL: &'static str = "continuo@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[AudioIOLayout {
        main_input_channels: None,
        main_output_channels: NonZeroU32::new(2),
        ..AudioIOLayout::const_default()
    }];
    // CCs in, for the sustain pedal; CCs out, so Thru passes pedals, bends and pressure on.
    const MIDI_INPUT: MidiConfig = MidiConfig::MidiCCs;
    const MIDI_OUTPUT: MidiConfig = MidiConfig::MidiCCs;
    const SAMPLE_ACCURATE_AUTOMATION: bool = false;
    const INPUT_EVENT_CAPACITY: usize = INPUT_EVENTS_PER_BLOCK;

    type Editor = ContinuoEditor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    // A saved state is untrusted (nice-plug sets its values unclamped): keep them in range.
    fn filter_state(state: &mut PluginState) {
        ContinuoParams::default().clamp_state_to_ranges(state);
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        self.editor_parts.editor(self.params.clone())
    }

    fn activate(&mut self, _layout: &AudioIOLayout, config: &BufferConfig, _context: &mut impl ActivateContext<Self>) -> bool {
        self.sample_rate = config.sample_rate;
        self.voice = PreviewVoice::new(config.sample_rate);
        self.worker.set_offline(config.process_mode == ProcessMode::Offline);
        self.forget_everything();
        true
    }

    fn reset(&mut self) {
        self.forget_everything();
    }

    fn deactivate(&mut self) {
        self.forget_everything();
    }

    fn process(&mut self, buffer: &mut Buffer, _aux: &mut AuxiliaryBuffers, context: &mut impl ProcessContext<Self>) -> ProcessStatus {
        let (host, beats_per_bar) = host_time(context.transport());
        let tempo = self.params.tempo_bpm.value() as f64;
        let block = self.clock.begin_block(host, tempo, self.sample_rate as f64, buffer.samples());
        self.worker.flush();
        if block.discontinuity {
            self.display.push(DisplayEvent::Jumped);
        }
        self.share_live_settings();
        // First, the note-offs owed since a reset or refused by the host.
        self.host_notes.pay_owed_offs(|channel, key| send_note(context, 0, channel, key));
        let bypassed = self.params.bypass.value();
        if block.discontinuity || bypassed != self.was_bypassed {
            self.stop_everything(context, &block, 0);
        }
        self.was_bypassed = bypassed;
        self.follow_answer_shape(context, &block);
        for channel in buffer.as_slice() {
            channel.fill(0.0);
        }
        let settings = self.params.phrase_settings(beats_per_bar);
        let mut rendered = 0;
        let mut next_input = context.next_event();
        let mut cue_followed_at = None;
        loop {
            let input_offset = next_input.as_ref().map_or(u32::MAX, NoteEvent::timing);
            let cue_offset = self.next_cue_offset(&block, &settings, bypassed, cue_followed_at).filter(|&cue| cue <= input_offset);
            // Answer notes before the cue (or up to the input event), in time order.
            let due_until = cue_offset.map_or(Some(input_offset), |cue| cue.checked_sub(1));
            if let Some(due) = due_until.and_then(|until| self.playback.next_due(&block, &mut self.worker, until)) {
                self.render_voice(buffer, &mut rendered, due.offset);
                self.play_answer_note(context, due);
                continue;
            }
            if let Some(cue) = cue_offset {
                self.render_voice(buffer, &mut rendered, cue);
                self.follow_phrase(context, &block, &settings, cue);
                cue_followed_at = Some(cue);
                continue;
            }
            let Some(event) = next_input.take() else { break };
            self.render_voice(buffer, &mut rendered, event.timing());
            if !bypassed {
                self.follow_phrase(context, &block, &settings, event.timing());
            }
            self.handle_input(context, &block, event, &settings, bypassed);
            next_input = context.next_event();
        }
        self.render_voice(buffer, &mut rendered, block.samples as u32);
        if !bypassed {
            self.follow_phrase(context, &block, &settings, block.samples as u32);
        }
        self.publish_display(&block, &host, beats_per_bar, &settings);
        ProcessStatus::KeepAlive
    }
}

impl Continuo {
    /// Clears every answer and clock (activation, reset, deactivation), owes the host the
    /// note-off of every note on (no event can be sent here), and tells the worker the model's
    /// clock restarts.
    fn forget_everything(&mut self) {
        self.worker.live().current_answer.store(0, Ordering::Release);
        self.playback.stop(|_| {});
        self.host_notes.owe_every_off();
        self.voice.silence();
        self.phrase.cancel();
        self.sustain = Sustain::default();
        self.clock = Clock::default();
        self.worker.discard_answers();
        self.worker.tell(ToWorker::Reset);
    }

    /// Where the editor's playhead, tempo and stage stand at the end of the block.
    fn publish_display(&mut self, block: &BlockTime, host: &HostTime, beats_per_bar: f64, settings: &PhraseSettings) {
        let time = BlockDisplayTime {
            playhead_beat: block.song_end_beats(),
            tempo_bpm: block.beats_per_sample * 60.0 * self.sample_rate as f64,
            tempo_from_host: host.playing && host.position_beats.is_some() && host.tempo_bpm.is_some_and(|tempo| tempo > 0.0),
            beats_per_bar,
        };
        self.display.publish(time, self.phrase.is_answering(), self.phrase.gap_end_beat(settings));
    }

    /// Passes the sampling settings to the worker, and a Forget (on its rising edge) as a count.
    fn share_live_settings(&mut self) {
        let live = self.worker.live();
        live.temperature.store(self.params.temperature.value(), Ordering::Relaxed);
        live.top_p.store(self.params.top_p.value(), Ordering::Relaxed);
        live.style_memory.store(self.params.style_memory.value(), Ordering::Relaxed);
        let forget_on = self.params.forget.value();
        if forget_on && !self.forget_was_on {
            live.forget_requests.fetch_add(1, Ordering::AcqRel);
        }
        self.forget_was_on = forget_on;
    }

    /// Renders the preview voice up to sample `until`.
    fn render_voice(&mut self, buffer: &mut Buffer, rendered: &mut usize, until: u32) {
        let until = (until as usize).min(buffer.samples());
        if until <= *rendered {
            return;
        }
        if let [left, right, ..] = buffer.as_slice() {
            self.voice.render(&mut left[*rendered..until], &mut right[*rendered..until], self.params.preview_gain());
        }
        *rendered = until;
    }

    /// A player event: heard by the model (on its input channel), passed through if asked,
    /// and it may interrupt.
    fn handle_input(
        &mut self,
        context: &mut impl ProcessContext<Self>,
        block: &BlockTime,
        event: PluginNoteEvent<Self>,
        settings: &PhraseSettings,
        bypassed: bool,
    ) {
        if !bypassed {
            self.listen(context, block, &event, settings);
        }
        self.pass_through(context, event, bypassed || self.params.thru.value(), bypassed);
    }

    /// What the model and the dialogue hear of a player event on a channel they listen to.
    fn listen(&mut self, context: &mut impl ProcessContext<Self>, block: &BlockTime, event: &PluginNoteEvent<Self>, settings: &PhraseSettings) {
        let offset = event.timing();
        let beat = block.song_beat_at(offset as usize);
        let tick = block.stream_tick_at(offset as usize);
        match *event {
            NoteEvent::NoteOn { channel, key: Key::Number(key), velocity, .. } if velocity > 0.0 && self.hears(channel) => {
                self.sustain.key_down(key);
                let velocity = midi_velocity(velocity);
                let heard = KeyEvent::On { pitch: key, velocity };
                self.worker.tell(ToWorker::Heard { tick, key: heard, from: HeardFrom::Player });
                self.display.push(DisplayEvent::Heard { beat, key, velocity });
                if self.phrase.key_down(note_channel(channel), key, beat, settings) == Cue::Interrupt {
                    self.display.interrupted(beat);
                    self.stop_answer(context, block, offset);
                }
            }
            NoteEvent::NoteOn { channel, key: Key::Number(key), .. } | NoteEvent::NoteOff { channel, key: Key::Number(key), .. }
                if self.hears(channel) =>
            {
                if self.sustain.key_up(key) {
                    let heard = KeyEvent::Off { pitch: key };
                    self.worker.tell(ToWorker::Heard { tick, key: heard, from: HeardFrom::Player });
                }
                self.phrase.key_up(note_channel(channel), key, beat);
                self.display.push(DisplayEvent::Heard { beat, key, velocity: 0 });
            }
            NoteEvent::MidiCC { channel, cc: SUSTAIN_CONTROLLER, value, .. } if self.params.hears_channel(channel) => {
                let down = value >= 0.5;
                let worker = &mut self.worker;
                self.sustain.pedal(down, |key| {
                    worker.tell(ToWorker::Heard { tick, key: KeyEvent::Off { pitch: key }, from: HeardFrom::Player });
                });
                self.phrase.pedal(down, beat);
            }
            _ => {}
        }
    }

    fn hears(&self, channel: Channel) -> bool {
        self.params.hears_channel(note_channel(channel))
    }

    /// Passes a player event to the MIDI output (and its notes to the preview voice unless
    /// bypassed) when `pass` is on. Note-offs always end the notes passed through before.
    fn pass_through(&mut self, context: &mut impl ProcessContext<Self>, event: PluginNoteEvent<Self>, pass: bool, bypassed: bool) {
        let offset = event.timing();
        let send = |channel, key| send_note(context, offset, channel, key);
        match event {
            NoteEvent::NoteOn { channel, key: Key::Number(key), velocity, .. } if velocity > 0.0 => {
                let (channel, velocity) = (note_channel(channel), midi_velocity(velocity));
                let already_on = self.host_notes.holds(NoteSource::Thru, channel, key);
                if pass && self.host_notes.note_on(NoteSource::Thru, channel, key, velocity, send) && !already_on && !bypassed {
                    self.voice.note_on(NoteSource::Thru, key, velocity);
                }
            }
            NoteEvent::NoteOn { channel, key: Key::Number(key), .. } | NoteEvent::NoteOff { channel, key: Key::Number(key), .. } => {
                self.end_thru_note(send, note_channel(channel), key);
            }
            NoteEvent::MidiCC { .. }
            | NoteEvent::MidiPitchBend { .. }
            | NoteEvent::MidiChannelPressure { .. }
            | NoteEvent::PolyPressure { .. }
            | NoteEvent::MidiProgramChange { .. }
                if pass =>
            {
                // A controller the host refuses is lost; unlike a note-off, none leaves anything hanging.
                let _ = context.try_send_event(event);
            }
            _ => {}
        }
    }

    /// Ends a note passed through, at the host and in the preview voice, if it is on.
    fn end_thru_note(&mut self, send: impl FnMut(u8, KeyEvent) -> bool, channel: u8, key: u8) {
        if self.host_notes.note_off(NoteSource::Thru, channel, key, send) {
            self.voice.note_off(NoteSource::Thru, key);
        }
    }

    /// An answer note reaches the host, the preview voice and the listening model; a note-on
    /// the host refuses is not played at all.
    fn play_answer_note(&mut self, context: &mut impl ProcessContext<Self>, due: DueNote) {
        let channel = self.answer_shape.channel;
        let send = |channel, key| send_note(context, due.offset, channel, key);
        let played = match due.key {
            KeyEvent::On { pitch, velocity } => self.host_notes.note_on(NoteSource::Answer, channel, pitch, velocity, send),
            KeyEvent::Off { pitch } => self.host_notes.note_off(NoteSource::Answer, channel, pitch, send),
        };
        if !played {
            self.playback.refused(due);
            return;
        }
        match due.key {
            KeyEvent::On { pitch, velocity } => self.voice.note_on(NoteSource::Answer, pitch, velocity),
            KeyEvent::Off { pitch } => self.voice.note_off(NoteSource::Answer, pitch),
        }
        self.worker.tell(ToWorker::Heard { tick: due.tick, key: due.key, from: HeardFrom::Answer });
    }

    /// Answer channel, pitch range, scale or Follow Voices changed: the answer in progress no longer fits,
    /// so its notes end (on the channel they sound on) and the dialogue listens again.
    fn follow_answer_shape(&mut self, context: &mut impl ProcessContext<Self>, block: &BlockTime) {
        let shape = AnswerShape::of(&self.params);
        if shape == self.answer_shape {
            return;
        }
        self.answer_shape = shape;
        if self.playback.is_playing() || self.phrase.is_answering() {
            self.stop_answer(context, block, 0);
            self.phrase.stop_answering();
        }
    }

    /// Moves the dialogue up to sample `offset` of the block (an input event's, a cue's, or the
    /// block's end): start, finish answers; Continue. Following it before each input event, by
    /// the samples before it, makes the dialogue the same whatever the block sizes: an answer
    /// asked for hears exactly the events before its request point, and an answer finishes on
    /// the last sample played, once the sample its last note-offs fall on has been.
    fn follow_phrase(&mut self, context: &mut impl ProcessContext<Self>, block: &BlockTime, settings: &PhraseSettings, offset: u32) {
        let continue_on = self.params.continue_now.value();
        if continue_on && !self.continue_was_on {
            self.phrase.request_continue();
        }
        self.continue_was_on = continue_on;
        match self.phrase.advance(block.last_song_beat_before(offset), settings) {
            Cue::Answer { start_beat, end_beat } => self.request_answer(block, start_beat, end_beat),
            Cue::Finished => self.stop_answer(context, block, offset.saturating_sub(1)),
            Cue::Interrupt | Cue::Nothing => {}
        }
    }

    /// Where in the block the dialogue's next cue falls (an answer's request point or end), if
    /// it has one not yet followed there: following it there too, and not only at input events
    /// and the block's end, keeps a long block from carrying the request past the answer's start.
    fn next_cue_offset(&self, block: &BlockTime, settings: &PhraseSettings, bypassed: bool, followed_at: Option<u32>) -> Option<u32> {
        if bypassed {
            return None;
        }
        let offset = block.first_offset_past_song_beat(self.phrase.next_cue_beat(settings)?)?;
        followed_at.is_none_or(|followed| offset > followed).then_some(offset)
    }

    fn request_answer(&mut self, block: &BlockTime, start_beat: f64, end_beat: f64) {
        self.answers_requested += 1;
        let answer_id = self.answers_requested;
        let start_tick = block.stream_tick_at_song_beat(start_beat);
        let request = AnswerRequest {
            answer_id,
            start_tick,
            end_tick: block.stream_tick_at_song_beat(end_beat),
            seed: self.answer_seed(answer_id),
            constraints: self.answer_shape.constraints,
            follow_voices: self.answer_shape.follow_voices,
        };
        self.worker.live().current_answer.store(answer_id, Ordering::Release);
        self.display.push(DisplayEvent::AnswerStarted { answer_id, start_tick, start_beat });
        if self.worker.tell(ToWorker::Answer(request)) {
            self.playback.start(AnswerWindow { answer_id, start_tick, start_song_beat: start_beat });
        } else {
            // The worker is swamped: skip this answer rather than wait.
            self.worker.live().current_answer.store(0, Ordering::Release);
            self.phrase.cancel();
        }
    }

    /// The seed parameter, or (at 0) a fresh seed per answer.
    fn answer_seed(&self, answer_id: u64) -> u64 {
        match self.params.seed.value() {
            0 => splitmix64(self.seed_nonce ^ answer_id),
            seed => seed as u64,
        }
    }

    /// Stops the answer at `offset`: every sounding answer note gets its note-off there.
    fn stop_answer(&mut self, context: &mut impl ProcessContext<Self>, block: &BlockTime, offset: u32) {
        self.worker.live().current_answer.store(0, Ordering::Release);
        self.display.push(DisplayEvent::AnswerStopped { beat: block.song_beat_at(offset as usize) });
        let tick = block.stream_tick_at(offset as usize);
        let (voice, worker) = (&mut self.voice, &mut self.worker);
        self.playback.stop(|pitch| {
            voice.note_off(NoteSource::Answer, pitch);
            worker.tell(ToWorker::Heard { tick, key: KeyEvent::Off { pitch }, from: HeardFrom::Answer });
        });
        self.host_notes.release_source(NoteSource::Answer, |channel, key| send_note(context, offset, channel, key));
    }

    /// Transport jump or stop, bypass change: all notes off, silence, listen afresh.
    fn stop_everything(&mut self, context: &mut impl ProcessContext<Self>, block: &BlockTime, offset: u32) {
        self.stop_answer(context, block, offset);
        self.host_notes.release_source(NoteSource::Thru, |channel, key| send_note(context, offset, channel, key));
        self.voice.release_all();
        self.phrase.cancel();
    }
}

/// What shapes the answer's notes.
#[derive(Clone, Copy, Debug, PartialEq)]
struct AnswerShape {
    /// The channel (0-based) answer notes are sent on.
    channel: u8,
    /// The pitch range and scale the worker must keep to.
    constraints: Constraints,
    /// Whether the answer keeps to the player's number of voices.
    follow_voices: bool,
}

impl AnswerShape {
    fn of(params: &ContinuoParams) -> Self {
        let (pitch_low, pitch_high) = params.pitch_range();
        let mode = match params.scale.value() {
            ScaleLock::Chromatic => ScaleMode::Chromatic,
            ScaleLock::Major => ScaleMode::Major,
            ScaleLock::Minor => ScaleMode::Minor,
        };
        let constraints = Constraints { pitch_low, pitch_high, root: params.root.value() as u8, mode, ..Constraints::default() };
        Self { channel: params.answer_channel(), constraints, follow_voices: params.follow_voices.value() }
    }
}

/// A note event's channel (0-based); a wildcard counts as the first.
fn note_channel(channel: Channel) -> u8 {
    channel.number().unwrap_or(0)
}

/// The host transport as plain numbers, and the bar length in beats.
fn host_time(transport: &Transport) -> (HostTime, f64) {
    let host = HostTime { playing: transport.playing, tempo_bpm: transport.tempo, position_beats: transport.pos_beats() };
    let beats_per_bar = match (transport.time_sig_numerator, transport.time_sig_denominator) {
        (Some(numerator), Some(denominator)) if numerator > 0 && denominator > 0 => numerator as f64 * 4.0 / denominator as f64,
        _ => DEFAULT_BEATS_PER_BAR,
    };
    (host, beats_per_bar)
}

/// A normalized velocity (0..1) as MIDI velocity (1..=127).
fn midi_velocity(velocity: f32) -> u8 {
    (velocity * 127.0).round().clamp(1.0, 127.0) as u8
}

/// Sends a note to the host; returns whether the host took it.
fn send_note<P: Plugin>(context: &mut impl ProcessContext<P>, timing: u32, channel: u8, key: KeyEvent) -> bool {
    let (channel, voice_id) = (Channel::Number(channel), VoiceID::Wildcard);
    let event = match key {
        KeyEvent::On { pitch, velocity } => {
            NoteEvent::NoteOn { timing, voice_id, channel, key: Key::Number(pitch), velocity: velocity as f32 / 127.0 }
        }
        KeyEvent::Off { pitch } => NoteEvent::NoteOff { timing, voice_id, channel, key: Key::Number(pitch), velocity: 0.0 },
    };
    context.try_send_event(event).is_ok()
}

/// A well-mixed 64-bit hash (SplitMix64's finalizer), for per-answer seeds.
fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl ClapPlugin for Continuo {
    const CLAP_ID: &'static str = "org.continuo.continuo";
    const CLAP_DESCRIPTION: Option<&'static str> = Some(super::about::DESCRIPTION);
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[ClapFeature::Instrument, ClapFeature::Synthesizer, ClapFeature::Stereo];
}

impl Vst3Plugin for Continuo {
    const VST3_CLASS_ID: [u8; 16] = *b"ContinuoWaveNet1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Instrument, Vst3SubCategory::Synth];
}

nice_plug::nice_export_clap!(Continuo);
nice_plug::nice_export_vst3!(Continuo);
