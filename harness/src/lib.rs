//! A headless CLAP host for tests and demos: loads a `.clap`, activates it, plays timed note
//! events against a transport (tempo, position, playing, loops), runs blocks of any size and
//! collects the notes the plugin sends and the audio it renders.

use std::cell::Cell;
use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use clack_extensions::gui::{GuiSize, HostGui, HostGuiImpl, PluginGui};
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::{
    MidiEvent, NoteOffEvent, NoteOnEvent, ParamValueEvent, TransportEvent, TransportFlags,
};
use clack_host::events::io::{OutputEventBuffer, OutputEvents, TryPushError};
use clack_host::events::{EventFlags, Match};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};

mod editor;
pub mod parent_window;
pub mod virtual_display;
mod without_syscalls;
pub mod workload;
pub use editor::EditorSize;
pub use without_syscalls::AudioThreadPlugin;

/// Why the harness could not do what it was asked; names the plugin file where it matters.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{file}: cannot load the CLAP entry: {reason}")]
    Load { file: String, reason: String },
    #[error("{file}: {reason}")]
    Plugin { file: String, reason: String },
    #[error("the plugin refused: {0}")]
    Refused(String),
    /// Without a formatted message: blocks run without syscalls must not allocate one.
    #[error("the plugin is not active")]
    NotActive,
    /// Without a formatted message, like `NotActive`.
    #[error("the plugin's process() failed")]
    ProcessFailed,
}

/// The host side of the shared (any-thread) callbacks.
#[derive(Default)]
struct HarnessShared {
    /// The plugin asked for `on_main_thread`; served before the next block.
    callback_requested: AtomicBool,
    /// The editor said its window is gone without the host closing it.
    editor_closed_itself: AtomicBool,
}

impl SharedHandler<'_> for HarnessShared {
    // Restarts follow render-mode and state changes; the harness activates explicitly.
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

/// The host side of the main-thread callbacks: the plugin extensions the harness uses.
struct HarnessMainThread {
    /// Parameter listing and values.
    params: Cell<Option<PluginParams>>,
    /// Real-time or offline rendering.
    render: Cell<Option<PluginRender>>,
    /// Saving and loading state.
    state: Cell<Option<PluginState>>,
    /// Opening, sizing and closing the editor.
    gui: Cell<Option<PluginGui>>,
}

impl<'a> MainThreadHandler<'a> for HarnessMainThread {
    fn initialized(&self, instance: InitializedPluginHandle<'a>) {
        self.params.set(instance.get_extension());
        self.render.set(instance.get_extension());
        self.state.set(instance.get_extension());
        self.gui.set(instance.get_extension());
    }
}

impl HostGuiImpl for HarnessShared {
    fn resize_hints_changed(&self) {}

    /// Accepted: the harness' parent window has no border to fit, so the editor's own window
    /// size is what counts.
    fn request_resize(&self, _new_size: GuiSize) -> Result<(), HostError> {
        Ok(())
    }

    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }

    fn request_hide(&self) -> Result<(), HostError> {
        Ok(())
    }

    fn closed(&self, _was_destroyed: bool) {
        self.editor_closed_itself.store(true, Ordering::SeqCst);
    }
}

/// Ties the harness's callback types together for clack-host.
struct HarnessHost;

impl HostHandlers for HarnessHost {
    type Shared<'a> = HarnessShared;
    type MainThread<'a> = HarnessMainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        // nice-plug opens its editor only for a host that has the gui extension.
        builder.register::<HostGui>();
    }
}

/// A parameter as the plugin lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Parameter {
    /// The CLAP parameter id.
    pub id: u32,
    /// The display name.
    pub name: String,
    /// Lowest value (CLAP plain units).
    pub min: f64,
    /// Highest value.
    pub max: f64,
    /// Default value.
    pub default: f64,
    /// Value now.
    pub value: f64,
    /// The value as the plugin displays it.
    pub text: String,
}

/// The host transport for one block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transport {
    /// Whether the transport plays (false: stopped; the plugin uses its own clock).
    pub playing: bool,
    /// Tempo in quarter notes per minute.
    pub tempo_bpm: f64,
    /// Song position at the block's start, in quarter-note beats.
    pub position_beats: f64,
    /// Beats per bar (numerator) and the beat's note value (denominator).
    pub time_signature: (u16, u16),
}

impl Transport {
    /// The transport most tests want: 120 BPM in 4/4, playing or stopped, at `position_beats`.
    pub fn at(position_beats: f64, playing: bool) -> Self {
        Self { playing, tempo_bpm: 120.0, position_beats, time_signature: (4, 4) }
    }
}

/// One event to the plugin, at a sample offset within its block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InputEvent {
    /// A key goes down (velocity 0..=1).
    NoteOn { key: u8, velocity: f64 },
    /// A key goes up.
    NoteOff { key: u8 },
    /// The sustain pedal (MIDI CC 64).
    Sustain { down: bool },
    /// A parameter changes (CLAP plain value).
    Param { id: u32, value: f64 },
    /// A raw MIDI 1 message on any channel: notes, controllers, pitch bend, pressure, programs.
    Midi([u8; 3]),
}

impl InputEvent {
    /// A control change on a channel (0-based), value 0..=127.
    pub fn controller(channel: u8, controller: u8, value: u8) -> Self {
        Self::Midi([0xB0 | (channel & 0x0F), controller & 0x7F, value & 0x7F])
    }
}

/// A MIDI message (not a note) the plugin sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputMidi {
    /// Absolute sample position since activation.
    pub sample: u64,
    /// The message's three bytes.
    pub data: [u8; 3],
}

/// A note event the plugin sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutputNote {
    /// Absolute sample position since activation.
    pub sample: u64,
    /// MIDI channel (0-based).
    pub channel: u8,
    /// MIDI key.
    pub key: u8,
    /// Note-on (true) or note-off.
    pub on: bool,
    /// Velocity 0..=1.
    pub velocity: f64,
}

/// Checks that every note-on has exactly one later note-off on the same channel and key, that
/// no off comes without its on, and that nothing is left sounding; says where it is not so.
pub fn check_balanced(notes: &[OutputNote]) -> Result<(), String> {
    let mut sounding = std::collections::BTreeMap::new();
    for (index, note) in notes.iter().enumerate() {
        let count = sounding.entry((note.channel, note.key)).or_insert(0i32);
        *count += if note.on { 1 } else { -1 };
        if !(0..=1).contains(count) {
            return Err(format!("unbalanced at note {index} of {}: {note:?}", notes.len()));
        }
    }
    let hanging: Vec<_> = sounding.iter().filter(|(_, &count)| count != 0).map(|(slot, _)| slot).collect();
    if hanging.is_empty() {
        Ok(())
    } else {
        Err(format!("(channel, key) left sounding: {hanging:?}"))
    }
}

/// A loaded, activated CLAP plugin.
pub struct HostedPlugin {
    /// Keeps the library loaded while the instance lives.
    _entry: PluginEntry,
    /// The plugin instance.
    instance: PluginInstance<HarnessHost>,
    /// The started audio processor, while active.
    processor: Option<StartedPluginAudioProcessor<HarnessHost>>,
    /// Samples per second while active.
    sample_rate: f64,
    /// Samples processed since activation.
    samples_processed: u64,
    /// Left and right output scratch, sized to the largest block.
    output: [Vec<f32>; 2],
    /// Event scratch.
    input_events: EventBuffer,
    /// Event scratch.
    output_events: EventBuffer,
    /// How long the plugin's last `process()` call took (the call alone, not the harness).
    last_process_time: std::time::Duration,
    /// Events per block the host takes from the plugin (`None`: all), to play a host whose
    /// output queue is full.
    output_capacity: Option<usize>,
    /// MIDI messages (not notes) the plugin sent since [`HostedPlugin::take_output_midi`].
    output_midi: Vec<OutputMidi>,
}

impl HostedPlugin {
    /// Loads the first plugin of a `.clap` file (on Linux, the shared library itself).
    pub fn load(path: &Path) -> Result<Self, HarnessError> {
        let file = path.display().to_string();
        // SAFETY: loading a CLAP library runs its initializer; the tests load plugins they built.
        let entry = unsafe { PluginEntry::load(path) }
            .map_err(|error| HarnessError::Load { file: file.clone(), reason: format!("{error:?}") })?;
        let plugin_error = |reason: String| HarnessError::Plugin { file: file.clone(), reason };
        let factory = entry.get_plugin_factory().ok_or_else(|| plugin_error("no plugin factory".into()))?;
        let descriptor = factory.plugin_descriptor(0).ok_or_else(|| plugin_error("no plugin in the factory".into()))?;
        let id: CString = descriptor.id().ok_or_else(|| plugin_error("a plugin without an id".into()))?.to_owned();
        let host_info = HostInfo::new("continuo-harness", "Continuo", "https://example.invalid", "0.1")
            .map_err(|error| plugin_error(format!("{error:?}")))?;
        let instance = PluginInstance::<HarnessHost>::new(
            |_| HarnessShared::default(),
            |_| HarnessMainThread {
                params: Cell::new(None),
                render: Cell::new(None),
                state: Cell::new(None),
                gui: Cell::new(None),
            },
            &entry,
            &id,
            &host_info,
        )
        .map_err(|error| plugin_error(format!("cannot instantiate: {error:?}")))?;
        Ok(Self {
            _entry: entry,
            instance,
            processor: None,
            sample_rate: 0.0,
            samples_processed: 0,
            output: [Vec::new(), Vec::new()],
            input_events: EventBuffer::with_capacity(256),
            output_events: EventBuffer::with_capacity(256),
            last_process_time: std::time::Duration::ZERO,
            output_capacity: None,
            output_midi: Vec::new(),
        })
    }

    /// Real-time (false) or offline (true) rendering; call before `activate`.
    pub fn set_offline(&mut self, offline: bool) -> Result<(), HarnessError> {
        let render = self.instance.access_handler(|main| main.render.get());
        let render = render.ok_or_else(|| HarnessError::Refused("no render extension".into()))?;
        let mode = if offline { RenderMode::Offline } else { RenderMode::Realtime };
        render.set(&self.instance.plugin_handle(), mode).map_err(|_| HarnessError::Refused("render mode".into()))
    }

    /// Activates and starts processing at a sample rate, for blocks up to `max_block` samples.
    pub fn activate(&mut self, sample_rate: f64, max_block: u32) -> Result<(), HarnessError> {
        let configuration = PluginAudioConfiguration { sample_rate, min_frames_count: 1, max_frames_count: max_block };
        let stopped = self
            .instance
            .activate(|_, _| (), configuration)
            .map_err(|error| HarnessError::Refused(format!("activate: {error:?}")))?;
        let started = stopped.start_processing().map_err(|error| HarnessError::Refused(format!("start: {error:?}")))?;
        self.processor = Some(started);
        self.sample_rate = sample_rate;
        self.samples_processed = 0;
        self.output = [vec![0.0; max_block as usize], vec![0.0; max_block as usize]];
        Ok(())
    }

    /// Stops processing and deactivates.
    pub fn deactivate(&mut self) {
        if let Some(processor) = self.processor.take() {
            self.instance.deactivate(processor.stop_processing());
        }
    }

    /// Stops and starts processing again, as a DAW does when its engine pauses: nice-plug
    /// resets the plugin on the start.
    pub fn restart_processing(&mut self) -> Result<(), HarnessError> {
        let processor = self.processor.take().ok_or_else(|| HarnessError::Refused("not active".into()))?;
        let started = processor.stop_processing().start_processing().map_err(|error| HarnessError::Refused(format!("start: {error:?}")))?;
        self.processor = Some(started);
        Ok(())
    }

    /// Takes at most `events` output events per block from now on (`None`: all of them).
    pub fn set_output_capacity(&mut self, events: Option<usize>) {
        self.output_capacity = events;
    }

    /// The MIDI messages (not notes) the plugin sent since the last call.
    pub fn take_output_midi(&mut self) -> Vec<OutputMidi> {
        std::mem::take(&mut self.output_midi)
    }

    /// Every parameter, with its value now.
    pub fn parameters(&mut self) -> Vec<Parameter> {
        let Some(params) = self.instance.access_handler(|main| main.params.get()) else { return vec![] };
        let handle = self.instance.plugin_handle();
        let mut buffer = ParamInfoBuffer::new();
        let mut listed = vec![];
        for index in 0..params.count(&handle) {
            let Some(info) = params.get_info(&handle, index, &mut buffer) else { continue };
            let id = info.id;
            let name = String::from_utf8_lossy(trim_nul(info.name)).into_owned();
            let (min, max, default) = (info.min_value, info.max_value, info.default_value);
            let value = params.get_value(&handle, id).unwrap_or(f64::NAN);
            let mut text = [0u8; 128];
            let text = params.value_to_text(&handle, id, value, &mut text).map(|t| String::from_utf8_lossy(trim_nul(t)).into_owned());
            listed.push(Parameter { id: id.get(), name, min, max, default, value, text: text.unwrap_or_default() });
        }
        listed
    }

    /// The parameter with a display name.
    pub fn parameter(&mut self, name: &str) -> Option<Parameter> {
        self.parameters().into_iter().find(|parameter| parameter.name == name)
    }

    /// The plugin's saved state.
    pub fn save_state(&mut self) -> Result<Vec<u8>, HarnessError> {
        let state = self.instance.access_handler(|main| main.state.get()).ok_or_else(|| HarnessError::Refused("no state extension".into()))?;
        let mut bytes = vec![];
        state.save(&self.instance.plugin_handle(), &mut bytes).map_err(|error| HarnessError::Refused(format!("save: {error}")))?;
        Ok(bytes)
    }

    /// Loads a saved state.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<(), HarnessError> {
        let state = self.instance.access_handler(|main| main.state.get()).ok_or_else(|| HarnessError::Refused("no state extension".into()))?;
        let mut reader = std::io::Cursor::new(bytes);
        state.load(&self.instance.plugin_handle(), &mut reader).map_err(|error| HarnessError::Refused(format!("load: {error}")))?;
        self.serve_main_thread();
        Ok(())
    }

    /// Runs one block of `samples` with `events` at their offsets (sorted here); appends the
    /// plugin's notes to `notes` and its audio to `left`/`right`.
    pub fn process(
        &mut self,
        samples: usize,
        transport: Transport,
        events: &[(u32, InputEvent)],
        notes: &mut Vec<OutputNote>,
        audio: &mut [Vec<f32>; 2],
    ) -> Result<(), HarnessError> {
        self.serve_main_thread();
        let processor = self.processor.as_mut().ok_or_else(|| HarnessError::Refused("not active".into()))?;
        self.input_events.clear();
        let mut sorted: Vec<(u32, InputEvent)> = events.to_vec();
        sorted.sort_by_key(|(offset, _)| *offset);
        for (offset, event) in sorted {
            push_input(&mut self.input_events, offset, event);
        }
        self.output_events.clear();
        let transport_event = clap_transport(&transport);
        let [left, right] = &mut self.output;
        let (left, right) = (&mut left[..samples], &mut right[..samples]);
        left.fill(0.0);
        right.fill(0.0);
        let mut output_ports = AudioPorts::with_capacity(2, 1);
        let mut outputs = output_ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only([&mut *left, &mut *right].into_iter()),
        }]);
        let inputs = InputAudioBuffers::empty();
        let mut capped = CappedEvents { events: &mut self.output_events, room: self.output_capacity.unwrap_or(usize::MAX) };
        let started = std::time::Instant::now();
        let result = processor.process(
                &inputs,
                &mut outputs,
                &self.input_events.as_input(),
                &mut OutputEvents::from_buffer(&mut capped),
                Some(self.samples_processed),
                Some(&transport_event),
            );
        self.last_process_time = started.elapsed();
        result.map_err(|error| HarnessError::Refused(format!("process: {error:?}")))?;
        for event in self.output_events.iter() {
            if let Some(note) = output_note(event, self.samples_processed) {
                notes.push(note);
            }
            if let Some(midi) = event.as_event::<MidiEvent>() {
                self.output_midi.push(OutputMidi { sample: self.samples_processed + midi.header().time() as u64, data: midi.data() });
            }
        }
        audio[0].extend_from_slice(left);
        audio[1].extend_from_slice(right);
        self.samples_processed += samples as u64;
        Ok(())
    }

    /// Serves a pending `on_main_thread` request (state changes, parameter rescans, the editor
    /// window's calls); a host's main thread does this all the time, the harness before each
    /// block and whenever a test calls it.
    pub fn serve_main_thread(&mut self) {
        if self.instance.access_shared_handler(|shared| shared.callback_requested.swap(false, Ordering::SeqCst)) {
            self.instance.call_on_main_thread_callback();
        }
    }

    /// How long the plugin's last `process()` call took, measured around the call alone.
    pub fn last_process_time(&self) -> std::time::Duration {
        self.last_process_time
    }

}

impl Drop for HostedPlugin {
    fn drop(&mut self) {
        self.deactivate();
    }
}

/// The host's output queue, taking `room` more events at most.
struct CappedEvents<'a> {
    /// Where taken events go.
    events: &'a mut EventBuffer,
    /// How many more events fit.
    room: usize,
}

impl OutputEventBuffer for CappedEvents<'_> {
    fn try_push(&mut self, event: &UnknownEvent) -> Result<(), TryPushError> {
        self.room = self.room.checked_sub(1).ok_or(TryPushError::new())?;
        self.events.push(event);
        Ok(())
    }
}

fn trim_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

fn push_input(buffer: &mut EventBuffer, offset: u32, event: InputEvent) {
    let any_note = Match::All;
    match event {
        InputEvent::NoteOn { key, velocity } => {
            buffer.push(&NoteOnEvent::new(offset, Pckn::new(0u16, 0u16, key as u16, any_note), velocity))
        }
        InputEvent::NoteOff { key } => buffer.push(&NoteOffEvent::new(offset, Pckn::new(0u16, 0u16, key as u16, any_note), 0.0)),
        InputEvent::Sustain { down } => buffer.push(&MidiEvent::new(offset, 0, [0xB0, 64, if down { 127 } else { 0 }])),
        InputEvent::Midi(data) => buffer.push(&MidiEvent::new(offset, 0, data)),
        InputEvent::Param { id, value } => {
            let Some(id) = ClapId::from_raw(id) else { return };
            buffer.push(&ParamValueEvent::new(offset, id, Pckn::match_all(), value))
        }
    }
}

fn output_note(event: &UnknownEvent, block_start: u64) -> Option<OutputNote> {
    let sample = block_start + event.header().time() as u64;
    let note = |pckn: &Pckn, on: bool, velocity: f64| OutputNote {
        sample,
        channel: match pckn.channel {
            Match::Specific(channel) => channel as u8,
            Match::All => 0,
        },
        key: match pckn.key {
            Match::Specific(key) => key as u8,
            Match::All => 0,
        },
        on,
        velocity,
    };
    if let Some(on) = event.as_event::<NoteOnEvent>() {
        return Some(note(&on.pckn(), true, on.velocity()));
    }
    event.as_event::<NoteOffEvent>().map(|off| note(&off.pckn(), false, off.velocity()))
}

fn clap_transport(transport: &Transport) -> TransportEvent {
    let mut flags = TransportFlags::HAS_TEMPO | TransportFlags::HAS_BEATS_TIMELINE | TransportFlags::HAS_SECONDS_TIMELINE;
    flags |= TransportFlags::HAS_TIME_SIGNATURE;
    if transport.playing {
        flags |= TransportFlags::IS_PLAYING;
    }
    let (numerator, denominator) = transport.time_signature;
    let beats_per_bar = numerator as f64 * 4.0 / denominator as f64;
    let bar_number = (transport.position_beats / beats_per_bar).floor();
    TransportEvent {
        header: EventHeader::new_core(0, EventFlags::empty()),
        flags,
        song_pos_beats: BeatTime::from_float(transport.position_beats),
        song_pos_seconds: SecondsTime::from_float(transport.position_beats * 60.0 / transport.tempo_bpm),
        tempo: transport.tempo_bpm,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from_int(0),
        loop_end_beats: BeatTime::from_int(0),
        loop_start_seconds: SecondsTime::from_int(0),
        loop_end_seconds: SecondsTime::from_int(0),
        bar_start: BeatTime::from_float(bar_number * beats_per_bar),
        bar_number: bar_number as i32,
        time_signature_numerator: numerator,
        time_signature_denominator: denominator,
    }
}

/// How a performance is played: the transport and the block sizes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Playback {
    /// Tempo in quarter notes per minute.
    pub tempo_bpm: f64,
    /// Song position of the first sample, in beats.
    pub start_beats: f64,
    /// Whether the host transport plays (false: stopped, the plugin keeps its own time).
    pub playing: bool,
    /// Time signature.
    pub time_signature: (u16, u16),
}

impl Default for Playback {
    fn default() -> Self {
        Self { tempo_bpm: 120.0, start_beats: 0.0, playing: true, time_signature: (4, 4) }
    }
}

/// What the plugin played during a performance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recording {
    /// Every note event it sent, in order.
    pub notes: Vec<OutputNote>,
    /// Left and right audio.
    pub audio: [Vec<f32>; 2],
    /// Samples per second.
    pub sample_rate: f64,
    /// How it was played.
    pub tempo_bpm: f64,
    /// Song position of the first recorded sample.
    pub start_beats: f64,
    /// Samples processed before this recording started.
    pub first_sample: u64,
}

impl Recording {
    /// The song beat of an absolute sample position.
    pub fn beat_of(&self, sample: u64) -> f64 {
        self.start_beats + (sample - self.first_sample) as f64 / self.sample_rate * self.tempo_bpm / 60.0
    }

    /// The sample index into `audio` of a song beat.
    pub fn audio_index_of(&self, beat: f64) -> usize {
        (((beat - self.start_beats) * 60.0 / self.tempo_bpm * self.sample_rate).round().max(0.0) as usize).min(self.audio[0].len())
    }

    /// Root-mean-square level of both channels between two song beats.
    pub fn rms_between(&self, from_beat: f64, to_beat: f64) -> f32 {
        let (from, to) = (self.audio_index_of(from_beat), self.audio_index_of(to_beat));
        let count = (to.saturating_sub(from) * 2).max(1) as f32;
        let sum: f32 = self.audio.iter().flat_map(|channel| &channel[from..to]).map(|s| s * s).sum();
        (sum / count).sqrt()
    }
}

impl HostedPlugin {
    /// Plays `events` (at song beats) for `length_beats`, in blocks whose sizes
    /// `next_block_size` picks, and records what the plugin sends.
    pub fn perform(
        &mut self,
        playback: Playback,
        events: &[(f64, InputEvent)],
        length_beats: f64,
        mut next_block_size: impl FnMut() -> usize,
    ) -> Result<Recording, HarnessError> {
        let samples_per_beat = self.sample_rate * 60.0 / playback.tempo_bpm;
        let to_sample = |beat: f64| ((beat - playback.start_beats) * samples_per_beat).round().max(0.0) as u64;
        let mut timed: Vec<(u64, InputEvent)> = events.iter().map(|&(beat, event)| (to_sample(beat), event)).collect();
        timed.sort_by_key(|(sample, _)| *sample);
        let total = (length_beats * samples_per_beat).round() as u64;
        let mut recording = Recording {
            sample_rate: self.sample_rate,
            tempo_bpm: playback.tempo_bpm,
            start_beats: playback.start_beats,
            first_sample: self.samples_processed,
            ..Recording::default()
        };
        let (mut position, mut next_event) = (0u64, 0usize);
        let max_block = self.output[0].len();
        while position < total {
            let samples = next_block_size().clamp(1, max_block).min((total - position) as usize);
            let end = position + samples as u64;
            let mut block_events = vec![];
            while next_event < timed.len() && timed[next_event].0 < end {
                block_events.push(((timed[next_event].0 - position) as u32, timed[next_event].1));
                next_event += 1;
            }
            let transport = Transport {
                playing: playback.playing,
                tempo_bpm: playback.tempo_bpm,
                position_beats: playback.start_beats + position as f64 / samples_per_beat,
                time_signature: playback.time_signature,
            };
            self.process(samples, transport, &block_events, &mut recording.notes, &mut recording.audio)?;
            position = end;
        }
        Ok(recording)
    }
}
