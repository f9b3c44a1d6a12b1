//! The inference thread. It keeps a *listener* model fed with everything that sounded (the
//! player's notes and the answers as they were played), so its state is current when an
//! answer is due. For an answer it copies the listener into a *speaker*, moves it to the
//! answer's start, samples the answer ahead of the playhead and sends its notes back.
//!
//! The audio thread talks to it only through two wait-free single-producer single-consumer
//! rings (`rtrb`) and atomics: no lock, no futex, no syscall in real time. The worker never
//! parks on something the audio thread would have to wake: it polls its ring and sleeps
//! `IDLE_SLEEP` when idle. Messages that find the ring full wait, in order, in a preallocated
//! overflow on the audio side until the next block; a reset is a generation counter, so it is
//! never lost; if even the overflow fills, a "lost sync" flag makes the worker restart its
//! listener. An offline render may wait for the worker (see [`WorkerHandle::tell`] and
//! [`AnswerSource::poll`]), sleep-polling the rings with a deadline.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use atomic_float::AtomicF32;
use rtrb::{Consumer, Producer, RingBuffer};

use crate::bounded_file::read_regular_file;
use crate::engine::copy_head::COPY_SAMPLING_STRENGTH;
use crate::engine::repeat_pointer::repeat_sampling_strength;
use crate::engine::{Constraints, Engine, Generator, SamplingOptions, VoiceLimit};
use crate::model::{ModelError, ModelFile};
use super::display::SampledFeed;
use super::heard_stream::{breaks_phrase, HeardStream};
use super::schedule::{AnswerMessage, AnswerSource};
use super::session_memory::SessionMemory;
use crate::style_memory::MemoryContext;
use crate::tokens::{KeyEvent, Played, TICKS_PER_BEAT};

/// The model used when the user has not chosen one.
pub static DEFAULT_MODEL_BYTES: &[u8] = include_bytes!("../../assets/default-model.safetensors");
/// How the embedded model is named in messages.
pub const DEFAULT_MODEL_NAME: &str = "embedded default model";
/// The environment variable a DAW user without a GUI sets to choose a model file.
pub const MODEL_ENV_VAR: &str = "CONTINUO_MODEL";
/// The file, under the user's config directory, whose first line names the model file
/// (the choice for users who cannot set the DAW's environment).
pub const MODEL_CONFIG_FILE: &str = "continuo/model-path";
/// Largest model-path config file read: one path, with room to spare.
const MODEL_CONFIG_MAX_BYTES: u64 = 64 * 1024;
/// Capacity of the ring to the worker: a burst of played notes between two worker wake-ups.
const TO_WORKER_CAPACITY: usize = 4096;
/// Capacity of the audio side's overflow for messages that found the ring full.
const OVERFLOW_CAPACITY: usize = 4096;
/// Capacity of the ring from the worker: answer notes generated ahead of the playhead.
const FROM_WORKER_CAPACITY: usize = 1024;
/// How long an idle worker sleeps between looks at its ring (and a worker waiting for room in
/// the ring to the audio thread between tries): the worst added answer latency.
const IDLE_SLEEP: Duration = Duration::from_millis(1);
/// How long an offline render sleeps between looks at a ring while it waits for the worker.
const OFFLINE_POLL_SLEEP: Duration = Duration::from_micros(50);
/// How often the worker looks for a new model path (environment, config file, plugin state).
const MODEL_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Longest an offline render waits for one answer message, or for room for an answer
/// request, before playing on without it (only reached if the worker is wedged: a bounce must
/// never hang).
const OFFLINE_WAIT: Duration = Duration::from_secs(10);
/// Longest answer sampled, whatever the request says (16 bars of 16/4).
const MAX_ANSWER_TICKS: u64 = 256 * TICKS_PER_BEAT as u64;

/// Who played a key event the worker hears.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeardFrom {
    /// The player: the model hears it and the style memory learns it.
    Player,
    /// Continuo's own answer, reported as it was played: the model hears it, the memory does
    /// not learn it (it would learn its own habits).
    Answer,
}

/// What the audio thread tells the worker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ToWorker {
    /// A key event that sounded, at a stream tick, and who played it.
    Heard { tick: u64, key: KeyEvent, from: HeardFrom },
    /// Sample an answer.
    Answer(AnswerRequest),
    /// Forget everything heard (reactivation: the model's clock restarts at tick 0).
    Reset,
}

/// One answer to sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnswerRequest {
    /// Tags the answer's notes; the audio thread plays only the current answer's.
    pub answer_id: u64,
    /// Model tick of the answer's first possible note.
    pub start_tick: u64,
    /// Model tick where every answer note has ended.
    pub end_tick: u64,
    /// Sampler seed for this answer.
    pub seed: u64,
    /// Pitch range, scale lock.
    pub constraints: Constraints,
    /// Whether the answer sounds at most as many notes together as the player recently did.
    pub follow_voices: bool,
}

/// A message in the ring, with the reset generation it was sent in, so the worker can drop
/// what was sent before a reset it has already seen.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stamped {
    /// `LiveSettings::reset_generation` when the message was sent.
    generation: u64,
    /// The message (never `Reset`: resets travel as the generation).
    message: ToWorker,
}

/// Values the audio thread (and later a GUI) changes while the worker runs.
#[derive(Debug, Default)]
pub struct LiveSettings {
    /// Sampling temperature, read before every token.
    pub temperature: AtomicF32,
    /// Nucleus mass, read before every token.
    pub top_p: AtomicF32,
    /// How much the style memory steers the answers (0..=1), read before every token.
    pub style_memory: AtomicF32,
    /// Counts the Forget actions; a counter rather than a message so the audio thread never
    /// waits to send one and none is lost.
    pub forget_requests: AtomicU64,
    /// How many notes the style memory holds, as the worker last counted (for the editor).
    pub memory_notes: AtomicUsize,
    /// The most notes the player sounded together lately (0: nothing heard since the last
    /// reset), as the worker last counted: the editor shows what Follow Voices follows.
    pub player_voices: AtomicU8,
    /// The answer the audio thread is playing (0: none). The worker stops sampling any other.
    pub current_answer: AtomicU64,
    /// Whether the host renders offline: the worker may then be waited for.
    offline: AtomicBool,
    /// Counts resets; a counter rather than a message so a full ring can never lose one.
    reset_generation: AtomicU64,
    /// Set when a heard message had to be dropped (ring and overflow full): the listener no
    /// longer matches what was played, so the worker restarts it.
    lost_sync: AtomicBool,
    /// Set when the audio side is dropped: the worker returns.
    shutting_down: AtomicBool,
}

/// The model a worker runs and what it has heard.
#[derive(Clone)]
struct Listener {
    /// The model and sampler.
    generator: Generator,
    /// Turns heard key events into tokens at their ticks.
    stream: HeardStream,
    /// The last tokens fed (player's and answers'), which the style memory looks up.
    context: MemoryContext,
}

impl Listener {
    fn new(mut generator: Generator) -> Self {
        generator.reset();
        Self { generator, stream: HeardStream::default(), context: MemoryContext::default() }
    }

    /// A fresh listener with the same model.
    fn restarted(&self) -> Self {
        Self::new(self.generator.clone())
    }

    fn hear(&mut self, stream_tick: u64, key: KeyEvent) {
        let Self { generator, stream, context } = self;
        stream.push(stream_tick, key, |token| {
            generator.feed(token);
            context.push(token);
        });
    }

    fn advance_to(&mut self, stream_tick: u64) {
        let Self { generator, stream, context } = self;
        stream.advance_to(stream_tick, |token| {
            generator.feed(token);
            context.push(token);
        });
    }
}

/// Reads a model file: the embedded default for an empty path, else the file.
pub fn load_model_file(path: &str) -> Result<ModelFile, ModelError> {
    if path.is_empty() {
        ModelFile::from_bytes(DEFAULT_MODEL_BYTES, DEFAULT_MODEL_NAME)
    } else {
        ModelFile::load(Path::new(path))
    }
}

/// Loads a model: the embedded default for an empty path, else the file.
pub fn load_generator(path: &str) -> Result<Generator, ModelError> {
    Ok(Generator::new(Engine::from_model_file(&load_model_file(path)?, &describe_model(path))?, 0))
}

/// The worker's state, driven by its thread (and directly by tests).
pub struct WorkerCore {
    /// The model fed with what sounded.
    listener: Listener,
    /// The path of the model running ("" = embedded default).
    model_path: String,
    /// A path that failed to load, so it is reported once and not retried in a loop.
    refused_path: Option<String>,
    /// Shared live values.
    live: Arc<LiveSettings>,
    /// The reset generation the listener belongs to.
    generation: u64,
    /// What the player played this session, steering the answers.
    memory: SessionMemory,
    /// The project's saved memory (a persisted field), which the worker keeps in step with
    /// `memory`.
    saved_memory: Arc<RwLock<String>>,
    /// The Forget count the memory has followed.
    forgets_followed: u64,
    /// How many notes the player sounded together lately, for answers that follow it.
    player_voices: VoiceLimit,
}

impl WorkerCore {
    /// A worker running the embedded default model, with an empty style memory kept in step
    /// with the project's `saved_memory`.
    pub fn new(live: Arc<LiveSettings>, saved_memory: Arc<RwLock<String>>) -> Self {
        let generator = load_generator("").expect("the embedded default model is valid (checked by a test)");
        let generation = live.reset_generation.load(Ordering::Acquire);
        let forgets_followed = live.forget_requests.load(Ordering::Acquire);
        Self {
            listener: Listener::new(generator),
            model_path: String::new(),
            refused_path: None,
            live,
            generation,
            memory: SessionMemory::default(),
            saved_memory,
            forgets_followed,
            player_voices: VoiceLimit::default(),
        }
    }

    /// The path of the running model ("" for the embedded default).
    pub fn model_path(&self) -> &str {
        &self.model_path
    }

    /// Switches to the model at `path` (or the default for ""), unless it is the one running
    /// or the one just refused. A missing or bad file is refused with a message naming it and
    /// the problem, and the current model stays.
    pub fn switch_model(&mut self, path: &str) -> Result<(), ModelError> {
        if path == self.model_path || self.refused_path.as_deref() == Some(path) {
            return Ok(());
        }
        match load_generator(path) {
            Ok(generator) => {
                self.listener = Listener::new(generator);
                self.model_path = path.to_string();
                self.refused_path = None;
                Ok(())
            }
            Err(error) => {
                self.refused_path = Some(path.to_string());
                Err(error)
            }
        }
    }

    /// Handles one message; answer notes go to `deliver`, which returns false to stop.
    pub fn handle(&mut self, message: ToWorker, deliver: impl FnMut(AnswerMessage) -> bool) {
        match message {
            ToWorker::Heard { tick, key, from } => {
                self.listener.hear(tick, key);
                if from == HeardFrom::Player {
                    self.memory.learn(tick, key);
                    match key {
                        KeyEvent::On { pitch, .. } => self.player_voices.key_down(pitch),
                        KeyEvent::Off { pitch } => self.player_voices.key_up(pitch),
                    }
                    self.live.player_voices.store(self.player_voices.heard_most(), Ordering::Relaxed);
                }
            }
            ToWorker::Answer(request) => self.answer(&request, deliver),
            ToWorker::Reset => self.restart_listening(),
        }
    }

    /// The clock restarts: a fresh listener and player stream, no keys held (the memory keeps
    /// what it learned).
    fn restart_listening(&mut self) {
        self.listener = self.listener.restarted();
        self.memory.restart_stream();
        self.player_voices = VoiceLimit::default();
        self.live.player_voices.store(0, Ordering::Relaxed);
    }

    /// Keeps the style memory and the project's saved memory in step (see
    /// [`SessionMemory::sync_with_saved`]); logs a refused saved memory.
    fn sync_saved_memory(&mut self) {
        if let Err(error) = self.memory.sync_with_saved(&self.saved_memory) {
            let problem = "Continuo refused the style memory saved in the project: it";
            nice_plug::nice_error!("{problem} {error}; starting with an empty memory");
        }
        self.live.memory_notes.store(self.memory.notes_held(), Ordering::Relaxed);
    }

    /// Handles a message from the ring after following any reset or loss of sync; drops it if
    /// it was sent before the latest reset.
    fn receive(&mut self, stamped: Stamped, deliver: impl FnMut(AnswerMessage) -> bool) {
        self.follow_resets();
        if stamped.generation == self.generation {
            self.handle(stamped.message, deliver);
        }
    }

    /// Restarts the listener if the audio thread reset it or lost messages since the last look,
    /// and empties the style memory if Forget was asked for. A reset (which the host's
    /// activation after loading a project makes) also brings back the project's saved memory
    /// before the next message is handled, so an offline bounce hears it from its first note.
    fn follow_resets(&mut self) {
        let generation = self.live.reset_generation.load(Ordering::Acquire);
        let lost_sync = self.live.lost_sync.swap(false, Ordering::AcqRel);
        if generation != self.generation || lost_sync {
            self.restart_listening();
            self.generation = generation;
            self.sync_saved_memory();
        }
        let forgets = self.live.forget_requests.load(Ordering::Acquire);
        if forgets != self.forgets_followed {
            self.forgets_followed = forgets;
            self.memory.forget();
            self.live.memory_notes.store(0, Ordering::Relaxed);
        }
    }

    /// Samples an answer from a copy of the listener, so the listener hears only what is
    /// actually played (the audio thread reports it back). The style memory steers each token
    /// after the speaker's own context.
    fn answer(&mut self, request: &AnswerRequest, mut deliver: impl FnMut(AnswerMessage) -> bool) {
        let mut speaker = self.listener.clone();
        let model_start_tick = request.start_tick.saturating_sub(speaker.stream.skipped_ticks());
        let after_phrase = breaks_phrase(speaker.generator.engine().state(), model_start_tick);
        speaker.advance_to(request.start_tick);
        if after_phrase {
            // The memory looks up how the player went on from the end of a phrase: its stream
            // of the player leaves such silences out (`HeardStream::joining_phrases`).
            speaker.context = self.listener.context;
        }
        let skipped_ticks = speaker.stream.skipped_ticks();
        let end_tick = request.end_tick.min(request.start_tick.saturating_add(MAX_ANSWER_TICKS));
        let model_end_tick = end_tick.saturating_sub(skipped_ticks);
        speaker.generator.sampler_mut().reseed(request.seed);
        speaker.generator.set_copy_strength(COPY_SAMPLING_STRENGTH);
        let answer_id = request.answer_id;
        let constraints = self.answer_constraints(request);
        let mut played = Vec::with_capacity(4);
        let (live, memory) = (&self.live, self.memory.memory_mut());
        while is_current(live, answer_id) && speaker.generator.engine().state().tick() < model_end_tick {
            let options = SamplingOptions {
                temperature: live.temperature.load(Ordering::Relaxed),
                top_k: 0,
                top_p: live.top_p.load(Ordering::Relaxed),
                greedy: false,
            };
            let strength = live.style_memory.load(Ordering::Relaxed);
            speaker.generator.set_repeat_strength(repeat_sampling_strength(strength));
            let context = speaker.context;
            let steer = |logits: &mut [f32]| {
                if strength > 0.0 {
                    memory.steer(&context, logits, strength);
                }
            };
            let token = speaker.generator.sample_next_steered(steer, &options, &constraints, |note| played.push(note));
            speaker.context.push(token);
            for note in played.drain(..) {
                let (tick, key) = match note {
                    Played::On { tick, .. } if tick >= model_end_tick => continue,
                    Played::On { pitch, velocity, tick } => (tick, KeyEvent::On { pitch, velocity }),
                    Played::Off { pitch, tick, .. } => (tick.min(model_end_tick), KeyEvent::Off { pitch }),
                };
                if !deliver(AnswerMessage::Note { answer_id, tick: tick + skipped_ticks, key }) {
                    return;
                }
            }
        }
        for pitch in speaker.generator.engine().state().sounding() {
            let key = KeyEvent::Off { pitch };
            if !deliver(AnswerMessage::Note { answer_id, tick: end_tick, key }) {
                return;
            }
        }
        deliver(AnswerMessage::Done { answer_id });
    }

    /// The request's constraints, with the player's voices as the limit when it follows them.
    fn answer_constraints(&self, request: &AnswerRequest) -> Constraints {
        match request.follow_voices {
            true => request.constraints.with_voice_limit(self.player_voices.limit()),
            false => request.constraints,
        }
    }

    /// Whether an offline bounce is in the middle of an answer (no model swap then).
    fn bouncing_an_answer(&self) -> bool {
        self.live.offline.load(Ordering::Relaxed) && self.live.current_answer.load(Ordering::Acquire) != 0
    }
}

/// Whether `answer_id` is the answer the audio thread plays.
fn is_current(live: &LiveSettings, answer_id: u64) -> bool {
    live.current_answer.load(Ordering::Acquire) == answer_id
}

/// When the worker next looks for a new model path and syncs the saved style memory: once per
/// `MODEL_CHECK_INTERVAL`, at once at the start, and never while an offline bounce is mid-answer.
#[derive(Clone, Copy, Debug, Default)]
struct ModelCheckTimer {
    /// When the last check was made (`None`: never).
    last_check: Option<Instant>,
}

impl ModelCheckTimer {
    /// Whether to check now; if so, the next check is one interval later.
    fn due(&mut self, now: Instant, bouncing_an_answer: bool) -> bool {
        let waited_enough = self.last_check.is_none_or(|last| now.saturating_duration_since(last) >= MODEL_CHECK_INTERVAL);
        let due = waited_enough && !bouncing_an_answer;
        if due {
            self.last_check = Some(now);
        }
        due
    }
}

/// The audio thread's side of the worker: the rings, the overflow and the thread.
pub struct WorkerHandle {
    /// Messages to the worker.
    to_worker: Producer<Stamped>,
    /// Messages that found the ring full, oldest first, sent before any newer one.
    overflow: VecDeque<Stamped>,
    /// Answer notes from the worker.
    from_worker: Consumer<AnswerMessage>,
    /// Shared live values.
    live: Arc<LiveSettings>,
    /// The worker thread, joined on drop (`None` in tests that drive the worker by hand).
    thread: Option<JoinHandle<()>>,
}

/// The worker's ends of the rings.
struct WorkerEnds {
    /// Messages from the audio thread.
    inbox: Consumer<Stamped>,
    /// Answer notes to the audio thread.
    outbox: Producer<AnswerMessage>,
}

impl WorkerHandle {
    /// Starts a worker running the model at `model_path` ("" = embedded default), which it
    /// watches for changes (state restore, a GUI), with a style memory kept in step with
    /// `saved_memory`; it shows the notes it samples on `sampled`.
    pub fn spawn(
        model_path: Arc<RwLock<String>>,
        saved_memory: Arc<RwLock<String>>,
        live: Arc<LiveSettings>,
        sampled: SampledFeed,
    ) -> Self {
        let (mut handle, ends) = Self::without_thread(live.clone());
        let core = WorkerCore::new(live, saved_memory);
        let thread = std::thread::Builder::new()
            .name("continuo-inference".into())
            .spawn(move || run_worker(core, ends, model_path, sampled))
            .expect("the inference thread starts");
        handle.thread = Some(thread);
        handle
    }

    /// The rings and overflow, with no thread at the other end yet.
    fn without_thread(live: Arc<LiveSettings>) -> (Self, WorkerEnds) {
        let (to_worker, inbox) = RingBuffer::new(TO_WORKER_CAPACITY);
        let (outbox, from_worker) = RingBuffer::new(FROM_WORKER_CAPACITY);
        let overflow = VecDeque::with_capacity(OVERFLOW_CAPACITY);
        (Self { to_worker, overflow, from_worker, live, thread: None }, WorkerEnds { inbox, outbox })
    }

    /// The live values shared with the worker.
    pub fn live(&self) -> &LiveSettings {
        &self.live
    }

    /// Offline renders may wait for the worker; real-time ones never do.
    pub fn set_offline(&self, offline: bool) {
        self.live.offline.store(offline, Ordering::Relaxed);
    }

    fn is_offline(&self) -> bool {
        self.live.offline.load(Ordering::Relaxed)
    }

    /// Sends a message without waiting, wait-free: a message that finds the ring full waits in
    /// the overflow (in order) for the next block; a reset bumps the generation and can never be
    /// lost. Returns false only if the overflow is full too: the message is dropped and the
    /// worker told to restart its listener. Offline, an answer request waits (sleep-polling,
    /// with a deadline) until it is in the ring: a bounce must not skip an answer nor leave
    /// the worker idle. Heard notes never wait: the worker may itself be waiting for the audio
    /// thread to take answer notes.
    pub fn tell(&mut self, message: ToWorker) -> bool {
        if message == ToWorker::Reset {
            self.overflow.clear();
            self.live.reset_generation.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        let stamped = Stamped { generation: self.live.reset_generation.load(Ordering::Relaxed), message };
        self.flush();
        if self.overflow.is_empty() && self.to_worker.push(stamped).is_ok() {
            return true;
        }
        if self.overflow.len() == OVERFLOW_CAPACITY {
            self.overflow.clear();
            self.live.lost_sync.store(true, Ordering::Release);
            return false;
        }
        self.overflow.push_back(stamped);
        if matches!(message, ToWorker::Answer(_)) && self.is_offline() {
            // Offline only: wait for the worker to make room, so the bounce stays deterministic.
            return wait_until(OFFLINE_WAIT, || {
                self.flush();
                self.overflow.is_empty()
            });
        }
        true
    }

    /// Moves what waits in the overflow into the ring, oldest first, as far as it has room.
    /// Called at the start of every block.
    pub fn flush(&mut self) {
        while let Some(&stamped) = self.overflow.front() {
            if self.to_worker.push(stamped).is_err() {
                return;
            }
            self.overflow.pop_front();
        }
    }

    /// Drops every answer message waiting in the ring (after an answer was stopped).
    pub fn discard_answers(&mut self) {
        while self.from_worker.pop().is_ok() {}
    }
}

impl AnswerSource for WorkerHandle {
    fn poll(&mut self) -> Option<AnswerMessage> {
        if let Ok(message) = self.from_worker.pop() {
            return Some(message);
        }
        if !self.is_offline() {
            return None;
        }
        // Offline only: wait for the worker's next message, so a bounce equals a real-time run.
        let mut received = None;
        wait_until(OFFLINE_WAIT, || {
            received = self.from_worker.pop().ok();
            received.is_some()
        });
        received
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.live.current_answer.store(0, Ordering::Release);
        self.live.shutting_down.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            // The worker sees the flag within one idle sleep (or one token) and returns.
            let _ = thread.join();
        }
    }
}

/// Sleep-polls `ready` until it returns true (true) or `timeout` passes (false). Offline
/// rendering only: it sleeps.
fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !ready() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(OFFLINE_POLL_SLEEP);
    }
    true
}

/// The model path to run: the one persisted in the plugin state, else the `CONTINUO_MODEL`
/// variable's value, else the first line of `<config dir>/continuo/model-path`, else "" (the
/// embedded default). Empty values fall through; a config file that cannot be read counts as
/// absent. Pure apart from reading that file, so tests need not touch the process environment.
pub fn resolve_model_path(persisted: &str, env_value: Option<&str>, config_dir: Option<&Path>) -> String {
    let env_choice = env_value.map(str::trim).filter(|value| !value.is_empty());
    let chosen = [Some(persisted.trim()).filter(|path| !path.is_empty()), env_choice].into_iter().flatten().next();
    match chosen {
        Some(path) => path.to_string(),
        None => config_dir.map(read_config_model_path).unwrap_or_default(),
    }
}

/// The first line of the model-path config file under `config_dir` ("" if absent or unreadable).
/// Only a regular file of at most `MODEL_CONFIG_MAX_BYTES` is read: a FIFO or `/dev/zero` there
/// must not block or flood the worker.
fn read_config_model_path(config_dir: &Path) -> String {
    let bytes = read_regular_file(&config_dir.join(MODEL_CONFIG_FILE), MODEL_CONFIG_MAX_BYTES).unwrap_or_default();
    String::from_utf8_lossy(&bytes).lines().next().unwrap_or("").trim().to_string()
}

/// The user's config directory as the XDG base-directory spec defines it: `$XDG_CONFIG_HOME`
/// if set to an absolute path, else `$HOME/.config`.
pub fn user_config_dir(xdg_config_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let xdg = xdg_config_home.map(PathBuf::from).filter(|path| path.is_absolute());
    xdg.or_else(|| home.filter(|home| !home.is_empty()).map(|home| PathBuf::from(home).join(".config")))
}

/// The model the user wants now, from the plugin state, the environment and the config file.
pub fn wanted_model_path(persisted: &str) -> String {
    let env_value = std::env::var(MODEL_ENV_VAR).ok();
    let config_dir = user_config_dir(std::env::var_os("XDG_CONFIG_HOME"), std::env::var_os("HOME"));
    resolve_model_path(persisted, env_value.as_deref(), config_dir.as_deref())
}

/// The worker thread's loop: handle messages, follow the chosen model path and keep the saved
/// style memory in step (once a second), until the audio side shuts down. It polls (sleeping
/// `IDLE_SLEEP` when idle) so the audio thread never has to wake it.
/// Answer notes go to the audio thread and, as soon as sampled, to the editor.
fn run_worker(mut core: WorkerCore, mut ends: WorkerEnds, model_path: Arc<RwLock<String>>, mut sampled: SampledFeed) {
    if let Err(error) = leave_real_time_scheduling() {
        nice_plug::nice_warn!("Continuo's inference thread keeps its real-time priority: {error}");
    }
    let mut model_check = ModelCheckTimer::default();
    let live = core.live.clone();
    while !live.shutting_down.load(Ordering::Acquire) {
        if model_check.due(Instant::now(), core.bouncing_an_answer()) {
            follow_model_choice(&mut core, &model_path);
            core.sync_saved_memory();
        }
        match ends.inbox.pop() {
            Ok(stamped) => core.receive(stamped, |answer| {
                sampled.show(&answer);
                deliver(&mut ends.outbox, &live, answer)
            }),
            Err(_) => {
                core.follow_resets();
                std::thread::sleep(IDLE_SLEEP);
            }
        }
    }
}

/// Puts the calling thread under the normal time-sharing policy. A thread inherits its
/// creator's policy, and a host may create the plugin on a real-time thread (a process run
/// under `chrt` does it for every thread): sampling for milliseconds at a time at real-time
/// priority would compete with the host's audio threads, so the worker leaves it first.
#[cfg(unix)]
fn leave_real_time_scheduling() -> std::io::Result<()> {
    let normal = libc::sched_param { sched_priority: 0 };
    // SAFETY: sets the calling thread's own policy from a valid parameter block.
    match unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_OTHER, &normal) } {
        0 => Ok(()),
        error => Err(std::io::Error::from_raw_os_error(error)),
    }
}

#[cfg(not(unix))]
fn leave_real_time_scheduling() -> std::io::Result<()> {
    Ok(())
}

/// Switches to the model the user wants now, if it changed (reads the environment and the
/// config file: on the worker's timer only).
fn follow_model_choice(core: &mut WorkerCore, model_path: &RwLock<String>) {
    let persisted = model_path.read().map(|path| path.clone()).unwrap_or_default();
    let wanted = wanted_model_path(&persisted);
    if let Err(error) = core.switch_model(&wanted) {
        nice_plug::nice_error!("Continuo refused the model {error}; keeping {}", describe_model(core.model_path()));
    }
}

/// Sends an answer message, waiting while the ring is full; gives up (false) once the
/// answer is no longer current or the audio side is gone.
fn deliver(outbox: &mut Producer<AnswerMessage>, live: &LiveSettings, mut message: AnswerMessage) -> bool {
    let answer_id = match message {
        AnswerMessage::Note { answer_id, .. } | AnswerMessage::Done { answer_id } => answer_id,
    };
    loop {
        match outbox.push(message) {
            Ok(()) => return true,
            Err(rtrb::PushError::Full(unsent)) => message = unsent,
        }
        let current = live.current_answer.load(Ordering::Acquire) == answer_id;
        if !current || live.shutting_down.load(Ordering::Acquire) {
            return false;
        }
        std::thread::sleep(IDLE_SLEEP);
    }
}

fn describe_model(path: &str) -> String {
    if path.is_empty() {
        DEFAULT_MODEL_NAME.to_string()
    } else {
        path.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sampling::MAX_LINE_LEAP_SEMITONES;
    use crate::engine::ScaleMode;
    use crate::plugin::heard_stream::MAX_SILENCE_TICKS;
    use crate::reuse::reuse;
    use crate::style_memory::MEASURED_STRENGTH;
    use crate::tokens::Note;

    fn core() -> WorkerCore {
        let live = Arc::new(LiveSettings::default());
        live.temperature.store(1.0, Ordering::Relaxed);
        live.top_p.store(1.0, Ordering::Relaxed);
        WorkerCore::new(live, Arc::default())
    }

    /// A key event the player played.
    fn from_player(tick: u64, key: KeyEvent) -> ToWorker {
        ToWorker::Heard { tick, key, from: HeardFrom::Player }
    }

    /// A key event of an answer, reported back as played.
    fn from_answer(tick: u64, key: KeyEvent) -> ToWorker {
        ToWorker::Heard { tick, key, from: HeardFrom::Answer }
    }

    const CONSTRAINTS: Constraints = Constraints {
        pitch_low: 48,
        pitch_high: 84,
        root: 0,
        mode: ScaleMode::Chromatic,
        allow_end: false,
        max_voices: u8::MAX,
        max_leap_semitones: u8::MAX,
    };

    /// Plays a C major arpeggio (one note at a time) into the worker, then asks for an answer,
    /// following the player's voices or not; returns its messages.
    fn answer(core: &mut WorkerCore, answer_id: u64, seed: u64, follow_voices: bool) -> Vec<AnswerMessage> {
        for (index, pitch) in [60u8, 64, 67, 72].into_iter().enumerate() {
            let tick = index as u64 * 12;
            core.handle(from_player(tick, KeyEvent::On { pitch, velocity: 90 }), |_| true);
            core.handle(from_player(tick + 10, KeyEvent::Off { pitch }), |_| true);
        }
        core.live.current_answer.store(answer_id, Ordering::Release);
        let request = AnswerRequest { answer_id, start_tick: 72, end_tick: 72 + 96, seed, constraints: CONSTRAINTS, follow_voices };
        let mut messages = vec![];
        core.handle(ToWorker::Answer(request), |message| {
            messages.push(message);
            true
        });
        messages
    }

    #[test]
    fn an_answer_is_well_formed_within_its_window_and_range() {
        let mut core = core();
        let messages = answer(&mut core, 7, 42, false);
        assert_eq!(messages.last(), Some(&AnswerMessage::Done { answer_id: 7 }));
        let mut sounding = std::collections::HashSet::new();
        let mut last_tick = 72;
        for message in &messages[..messages.len() - 1] {
            let AnswerMessage::Note { answer_id: 7, tick, key } = *message else { panic!("{message:?}") };
            assert!((72..=168).contains(&tick) && tick >= last_tick, "tick {tick} after {last_tick}");
            last_tick = tick;
            match key {
                KeyEvent::On { pitch, .. } => {
                    assert!((48..=84).contains(&pitch) && tick < 168);
                    assert!(sounding.insert(pitch), "{pitch} on twice");
                }
                KeyEvent::Off { pitch } => assert!(sounding.remove(&pitch), "{pitch} off while silent"),
            }
        }
        assert!(sounding.is_empty(), "every note ends by the window's end: {sounding:?}");
        assert!(messages.len() > 1, "an answer of one bar has notes");
    }

    #[test]
    fn the_same_seed_and_context_give_the_same_answer() {
        assert_eq!(answer(&mut core(), 1, 5, false), answer(&mut core(), 1, 5, false));
        assert_ne!(answer(&mut core(), 1, 5, false), answer(&mut core(), 1, 6, false), "the seed matters");
    }

    /// The most answer notes sounding together.
    fn most_sounding(messages: &[AnswerMessage]) -> usize {
        let mut sounding = 0usize;
        let mut most = 0;
        for message in messages {
            match message {
                AnswerMessage::Note { key: KeyEvent::On { .. }, .. } => sounding += 1,
                AnswerMessage::Note { key: KeyEvent::Off { .. }, .. } => sounding -= 1,
                AnswerMessage::Done { .. } => {}
            }
            most = most.max(sounding);
        }
        most
    }

    /// The pitches an answer's notes start on, after the arpeggio's last (72).
    fn line(messages: &[AnswerMessage]) -> Vec<u8> {
        let onsets = messages.iter().filter_map(|message| match message {
            AnswerMessage::Note { key: KeyEvent::On { pitch, .. }, .. } => Some(*pitch),
            _ => None,
        });
        std::iter::once(72).chain(onsets).collect()
    }

    /// Would fail if Follow Voices were ignored: the default model answers this single line
    /// with chords for some of these seeds.
    #[test]
    fn following_the_players_voices_answers_a_single_line_with_a_single_line() {
        let most_together = |seed, follow_voices| most_sounding(&answer(&mut core(), 1, seed, follow_voices));
        for seed in 1..=8 {
            let messages = answer(&mut core(), 1, seed, true);
            assert_eq!(most_sounding(&messages), 1, "seed {seed}");
            let line = line(&messages);
            assert!(line.windows(2).all(|pair| pair[0].abs_diff(pair[1]) <= MAX_LINE_LEAP_SEMITONES), "seed {seed}: {line:?}");
        }
        let chordal = (1..=8).filter(|&seed| most_together(seed, false) > 1).count();
        assert!(chordal > 0, "without following, the network sounds notes together here (so the test can tell)");
    }

    #[test]
    fn the_editor_is_told_how_many_voices_the_player_sounds_until_a_reset() {
        let mut core = core();
        let voices = |core: &WorkerCore| core.live.player_voices.load(Ordering::Relaxed);
        assert_eq!(voices(&core), 0, "nothing heard yet");
        answer(&mut core, 1, 1, true);
        assert_eq!(voices(&core), 1, "the arpeggio, one note at a time");
        for pitch in [48, 52, 55] {
            core.handle(from_player(200, KeyEvent::On { pitch, velocity: 90 }), |_| true);
        }
        assert_eq!(voices(&core), 3, "a chord");
        core.handle(ToWorker::Reset, |_| true);
        assert_eq!(voices(&core), 0, "a reset forgets the keys");
    }

    #[test]
    fn a_cancelled_answer_stops_sampling() {
        let mut full = vec![];
        answer_with(&mut core(), |message| {
            full.push(message);
            true
        });
        let mut core = core();
        let live = core.live.clone();
        let mut after_cancel = vec![];
        answer_with(&mut core, |message| {
            live.current_answer.store(0, Ordering::Release);
            after_cancel.push(message);
            true
        });
        let note_ons = after_cancel.iter().filter(|m| matches!(m, AnswerMessage::Note { key: KeyEvent::On { .. }, .. })).count();
        assert!(note_ons <= 1, "at most the token sampled before the cancel: {after_cancel:?}");
        assert!(full.len() > 10 * after_cancel.len().max(1), "{} messages uncancelled", full.len());
    }

    fn answer_with(core: &mut WorkerCore, deliver: impl FnMut(AnswerMessage) -> bool) {
        core.handle(from_player(0, KeyEvent::On { pitch: 60, velocity: 90 }), |_| true);
        core.live.current_answer.store(3, Ordering::Release);
        let request = AnswerRequest { answer_id: 3, start_tick: 24, end_tick: 24 + 960, seed: 1, constraints: CONSTRAINTS, follow_voices: false };
        core.handle(ToWorker::Answer(request), deliver);
    }

    /// The review's hostile model paths, as the worker meets them: a file declaring huge
    /// dimensions, `/dev/zero` and a FIFO are each refused with a message naming them, without
    /// blocking, and the running model keeps answering.
    #[cfg(unix)]
    #[test]
    fn hostile_model_paths_are_refused_without_blocking_and_the_current_model_stays() {
        let folder = tempfile::tempdir().unwrap();
        let fifo = folder.path().join("model.fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let huge = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/model_file/known_huge_layer_count.safetensors");
        let paths = [(huge, "layers_per_stack"), (PathBuf::from("/dev/zero"), "not a regular file"), (fifo, "not a regular file")];
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut core = core();
            for (path, problem) in paths {
                let error = core.switch_model(path.to_str().unwrap()).unwrap_err().to_string();
                sender.send((path, problem, error, core.model_path().to_string())).unwrap();
            }
            sender.send((PathBuf::new(), "", String::new(), format!("{}", answer(&mut core, 1, 1, false).len()))).unwrap();
        });
        for _ in 0..3 {
            let (path, problem, error, running) = receiver.recv_timeout(Duration::from_secs(10)).expect("refused without blocking");
            assert!(error.contains(path.to_str().unwrap()) && error.contains(problem), "{error}");
            assert_eq!(running, "", "the embedded model still runs");
        }
        let (_, _, _, answer_messages) = receiver.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(answer_messages.parse::<usize>().unwrap() > 1, "and it still answers");
    }

    #[test]
    fn a_bad_model_file_is_refused_naming_it_and_the_current_model_stays() {
        let mut core = core();
        let directory = tempfile::tempdir().unwrap();
        let missing = directory.path().join("missing.safetensors");
        let error = core.switch_model(missing.to_str().unwrap()).unwrap_err().to_string();
        assert!(error.contains("missing.safetensors") && error.contains("cannot read"), "{error}");
        let garbage = directory.path().join("garbage.safetensors");
        std::fs::write(&garbage, b"not a model").unwrap();
        let error = core.switch_model(garbage.to_str().unwrap()).unwrap_err().to_string();
        assert!(error.contains("garbage.safetensors") && error.contains("not a safetensors file"), "{error}");
        assert_eq!(core.model_path(), "", "the embedded model still runs");
        assert!(core.switch_model(garbage.to_str().unwrap()).is_ok(), "a refused path is not retried");
        assert!(!answer(&mut core, 1, 1, false).is_empty(), "and it still answers");

        let copy = directory.path().join("copy.safetensors");
        std::fs::write(&copy, DEFAULT_MODEL_BYTES).unwrap();
        core.switch_model(copy.to_str().unwrap()).unwrap();
        assert_eq!(core.model_path(), copy.to_str().unwrap());
    }

    /// Found by fuzzing (fuzz/corpus/model_file): the refusal of an LSTM file said "model"
    /// instead of naming the file (this test failed before `Engine::from_model_file`).
    #[test]
    fn a_model_the_engine_cannot_run_is_refused_naming_its_file() {
        let directory = tempfile::tempdir().unwrap();
        let lstm = directory.path().join("lstm.safetensors");
        std::fs::write(&lstm, include_bytes!("../../fuzz/corpus/model_file/lstm_f32_refused_by_engine.safetensors")).unwrap();
        let error = core().switch_model(lstm.to_str().unwrap()).unwrap_err().to_string();
        assert!(error.starts_with(&format!("{}: ", lstm.display())) && error.contains("LSTM"), "{error}");
    }

    /// A config directory holding a model-path file with `contents`.
    fn config_dir_with(contents: &str) -> tempfile::TempDir {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join(MODEL_CONFIG_FILE);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, contents).unwrap();
        directory
    }

    #[test]
    fn the_model_path_comes_from_the_state_then_the_environment_then_the_config_file() {
        let config = config_dir_with("/models/from-config.safetensors\nignored second line\n");
        let dir = Some(config.path());
        let env = Some("/models/from-env.safetensors");
        assert_eq!(resolve_model_path("/models/persisted.safetensors", env, dir), "/models/persisted.safetensors");
        assert_eq!(resolve_model_path("", env, dir), "/models/from-env.safetensors");
        assert_eq!(resolve_model_path("", Some("  "), dir), "/models/from-config.safetensors", "blank env falls through");
        assert_eq!(resolve_model_path("", None, dir), "/models/from-config.safetensors");
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(resolve_model_path("", None, Some(empty.path())), "", "no config file: embedded default");
        assert_eq!(resolve_model_path("", None, Some(config_dir_with("\n").path())), "", "blank config file");
        assert_eq!(resolve_model_path("", None, None), "");
    }

    /// Failed before the config file was read as a bounded regular file: a FIFO there blocked
    /// the worker for good.
    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_device_as_the_config_file_is_ignored_without_blocking() {
        let config = tempfile::tempdir().unwrap();
        let file = config.path().join(MODEL_CONFIG_FILE);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&file).status().unwrap();
        assert!(made.success());
        let (sender, receiver) = std::sync::mpsc::channel();
        let dir = config.path().to_path_buf();
        std::thread::spawn(move || sender.send(resolve_model_path("", None, Some(&dir))).unwrap());
        let chosen = receiver.recv_timeout(Duration::from_secs(10)).expect("a FIFO config file does not block");
        assert_eq!(chosen, "", "no path from a FIFO: the embedded default");
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &file).unwrap();
        assert_eq!(resolve_model_path("", None, Some(config.path())), "", "no path from a device");
    }

    #[test]
    fn the_config_directory_follows_the_xdg_spec() {
        let home = Some(OsString::from("/home/player"));
        assert_eq!(user_config_dir(Some("/xdg".into()), home.clone()), Some(PathBuf::from("/xdg")));
        assert_eq!(user_config_dir(None, home.clone()), Some(PathBuf::from("/home/player/.config")));
        assert_eq!(user_config_dir(Some("relative".into()), home), Some(PathBuf::from("/home/player/.config")));
        assert_eq!(user_config_dir(None, None), None);
    }

    #[test]
    fn a_bad_model_named_by_the_config_file_is_refused_and_the_current_model_stays() {
        let models = tempfile::tempdir().unwrap();
        let garbage = models.path().join("garbage.safetensors");
        std::fs::write(&garbage, b"not a model").unwrap();
        let config = config_dir_with(garbage.to_str().unwrap());
        let mut core = core();
        let wanted = resolve_model_path("", None, Some(config.path()));
        let error = core.switch_model(&wanted).unwrap_err().to_string();
        assert!(error.contains("garbage.safetensors"), "{error}");
        assert_eq!(core.model_path(), "", "the embedded model still runs");

        let good = models.path().join("good.safetensors");
        std::fs::write(&good, DEFAULT_MODEL_BYTES).unwrap();
        let config = config_dir_with(good.to_str().unwrap());
        core.switch_model(&resolve_model_path("", None, Some(config.path()))).unwrap();
        assert_eq!(core.model_path(), good.to_str().unwrap());
    }

    /// The calling thread's scheduling policy.
    #[cfg(unix)]
    fn policy() -> libc::c_int {
        let mut param = libc::sched_param { sched_priority: 0 };
        let mut policy = 0;
        // SAFETY: reads the calling thread's own policy into valid locations.
        assert_eq!(unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) }, 0);
        policy
    }

    #[cfg(unix)]
    #[test]
    fn the_worker_leaves_a_real_time_policy_it_inherited() {
        let checked = std::thread::spawn(|| {
            let fifo = libc::sched_param { sched_priority: 1 };
            // SAFETY: sets this test thread's own policy from a valid parameter block.
            let made_real_time = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &fifo) } == 0;
            assert_eq!(policy() == libc::SCHED_FIFO, made_real_time);
            leave_real_time_scheduling().unwrap();
            assert_eq!(policy(), libc::SCHED_OTHER);
            made_real_time
        });
        let from = if checked.join().unwrap() { "SCHED_FIFO" } else { "SCHED_OTHER (no permission for SCHED_FIFO here)" };
        println!("checked leaving {from}");
    }

    fn heard(tick: u64) -> ToWorker {
        from_player(tick, KeyEvent::On { pitch: 60 + (tick % 12) as u8, velocity: 90 })
    }

    /// Every message waiting in the worker's ring, as a worker that drains it would take them.
    fn drain(ends: &mut WorkerEnds) -> Vec<Stamped> {
        std::iter::from_fn(|| ends.inbox.pop().ok()).collect()
    }

    fn ticks(stamped: &[Stamped]) -> Vec<u64> {
        stamped.iter().map(|s| match s.message { ToWorker::Heard { tick, .. } => tick, _ => u64::MAX }).collect()
    }

    /// Fails before the rings: crossbeam's `try_send` dropped what found the queue full.
    #[test]
    fn heard_notes_that_find_the_ring_full_wait_in_order_for_the_next_block() {
        let (mut handle, mut ends) = WorkerHandle::without_thread(Arc::new(LiveSettings::default()));
        let total = TO_WORKER_CAPACITY as u64 + 10;
        assert!((0..total).all(|tick| handle.tell(heard(tick))), "nothing is dropped");
        assert_eq!(ticks(&drain(&mut ends)), (0..TO_WORKER_CAPACITY as u64).collect::<Vec<_>>());
        handle.flush();
        assert_eq!(ticks(&drain(&mut ends)), (TO_WORKER_CAPACITY as u64..total).collect::<Vec<_>>(), "the rest, in order");
    }

    /// Fails before the generation counter: a `Reset` sent to a full queue was dropped.
    #[test]
    fn a_reset_is_never_lost_and_drops_what_was_heard_before_it() {
        let mut core = core();
        let (mut handle, mut ends) = WorkerHandle::without_thread(core.live.clone());
        for tick in 0..TO_WORKER_CAPACITY as u64 {
            handle.tell(heard(tick));
        }
        assert!(handle.tell(ToWorker::Reset), "a reset finds no room in the ring yet is kept");
        handle.tell(heard(5));
        for _ in 0..2 {
            for stamped in drain(&mut ends) {
                core.receive(stamped, |_| true);
            }
            handle.flush();
        }
        assert_eq!(core.listener.stream.state().tick(), 5, "only the note after the reset was heard");
        assert_eq!(core.listener.stream.state().sounding().collect::<Vec<_>>(), vec![65]);
    }

    #[test]
    fn when_even_the_overflow_is_full_the_worker_restarts_its_listener() {
        let mut core = core();
        core.handle(heard(100), |_| true);
        let (mut handle, _ends) = WorkerHandle::without_thread(core.live.clone());
        let room = (TO_WORKER_CAPACITY + OVERFLOW_CAPACITY) as u64;
        assert!((0..room).all(|tick| handle.tell(heard(tick))));
        assert!(!handle.tell(heard(room)), "a message beyond every buffer is reported lost");
        core.follow_resets();
        assert_eq!(core.listener.stream.state().tick(), 0, "the listener starts afresh");
        assert!(!core.live.lost_sync.load(Ordering::Acquire), "once");
    }

    /// Fails before the timer: the worker looked on every message.
    #[test]
    fn the_model_choice_is_read_once_a_second_and_never_while_a_bounce_is_mid_answer() {
        let start = Instant::now();
        let mut timer = ModelCheckTimer::default();
        assert!(timer.due(start, false), "at once when the worker starts");
        assert!(!timer.due(start + Duration::from_millis(999), false));
        assert!(timer.due(start + MODEL_CHECK_INTERVAL, false));
        assert!(!timer.due(start + 3 * MODEL_CHECK_INTERVAL, true), "not mid-bounce");
        assert!(timer.due(start + 3 * MODEL_CHECK_INTERVAL, false), "right after it");

        let core = core();
        assert!(!core.bouncing_an_answer());
        core.live.current_answer.store(4, Ordering::Release);
        assert!(!core.bouncing_an_answer(), "a real-time answer does not hold the check back");
        core.live.offline.store(true, Ordering::Relaxed);
        assert!(core.bouncing_an_answer());
    }

    /// The motif of the memory tests: eighths (12 ticks apart), each held 9 ticks.
    const MOTIF: [u8; 8] = [62, 69, 65, 64, 62, 61, 62, 64];

    /// A motif the player plays `times` times from tick 0, every `period` ticks (96: back to
    /// back), every note heard as the player's.
    fn play_motif(core: &mut WorkerCore, times: u64, period: u64) {
        for repeat in 0..times {
            for (index, pitch) in MOTIF.into_iter().enumerate() {
                let tick = repeat * period + index as u64 * 12;
                core.handle(from_player(tick, KeyEvent::On { pitch, velocity: 90 }), |_| true);
                core.handle(from_player(tick + 9, KeyEvent::Off { pitch }), |_| true);
            }
        }
    }

    /// A note starting at `tick`, as the reuse figure reads it (onset and pitch).
    fn onset(tick: u64, pitch: u8) -> Note {
        Note { pitch, velocity: 90, start_beats: tick as f64 / TICKS_PER_BEAT as f64, duration_beats: 0.25 }
    }

    /// The notes of an answer with `seed` to `motifs` motifs played every `period` ticks, asked
    /// for `gap` ticks after the last motif's bar, with the memory at `strength` (emptied first
    /// by Forget when `forget`).
    fn answer_after_motif(strength: f32, motifs: u64, forget: bool, seed: u64, (period, gap): (u64, u64)) -> Vec<Note> {
        let mut core = core();
        core.live.style_memory.store(strength, Ordering::Relaxed);
        play_motif(&mut core, motifs, period);
        if forget {
            core.live.forget_requests.fetch_add(1, Ordering::AcqRel);
            core.follow_resets();
        }
        let start_tick = (motifs - 1) * period + 96 + gap;
        core.live.current_answer.store(2, Ordering::Release);
        let end_tick = start_tick + 192;
        let request = AnswerRequest { answer_id: 2, start_tick, end_tick, seed, constraints: CONSTRAINTS, follow_voices: false };
        let mut notes = vec![];
        core.handle(ToWorker::Answer(request), |message| {
            if let AnswerMessage::Note { tick, key: KeyEvent::On { pitch, .. }, .. } = message {
                notes.push(onset(tick, pitch));
            }
            true
        });
        notes
    }

    #[test]
    fn the_memory_learns_only_the_players_notes_and_forget_empties_it() {
        let mut core = core();
        core.handle(from_player(0, KeyEvent::On { pitch: 60, velocity: 90 }), |_| true);
        core.handle(from_answer(6, KeyEvent::On { pitch: 67, velocity: 90 }), |_| true);
        core.handle(from_player(12, KeyEvent::Off { pitch: 60 }), |_| true);
        core.sync_saved_memory();
        assert_eq!(core.live.memory_notes.load(Ordering::Relaxed), 1, "the answer's note is not learned");
        assert_eq!(core.listener.stream.state().sounding().collect::<Vec<_>>(), vec![67], "but the model heard it");
        assert!(!core.saved_memory.read().unwrap().is_empty(), "what it learned is saved");
        core.handle(ToWorker::Reset, |_| true);
        core.sync_saved_memory();
        assert_eq!(core.live.memory_notes.load(Ordering::Relaxed), 1, "a reset keeps the memory");
        core.live.forget_requests.fetch_add(1, Ordering::AcqRel);
        core.follow_resets();
        core.sync_saved_memory();
        assert_eq!(core.live.memory_notes.load(Ordering::Relaxed), 0);
        assert_eq!(*core.saved_memory.read().unwrap(), "", "forgotten in the project too");
    }

    /// The mean share of the answers' interval and rhythm n-grams found in the motif, over
    /// eight seeds, for answers `gap` ticks after eight motifs played every `period` ticks.
    fn motif_reuse(strength: f32, timing: (u64, u64)) -> f64 {
        let motif: Vec<Note> = MOTIF.into_iter().enumerate().map(|(index, pitch)| onset(index as u64 * 12, pitch)).collect();
        let seeds = 1..=8;
        let answers = seeds.clone().map(|seed| answer_after_motif(strength, 8, false, seed, timing));
        answers.map(|answer| reuse(&motif, &answer).share()).sum::<f64>() / seeds.count() as f64
    }

    #[test]
    fn the_memory_steers_answers_to_quote_the_motif_by_its_strength() {
        let back_to_back = (96, 0);
        let emptied = answer_after_motif(1.0, 8, true, 5, back_to_back);
        assert_eq!(emptied, answer_after_motif(0.0, 8, false, 5, back_to_back), "an emptied memory: the model alone");
        let (steered, model_alone) = (motif_reuse(1.0, back_to_back), motif_reuse(0.0, back_to_back));
        assert!(steered > model_alone + 0.2, "the memory makes the answers quote the motif: {steered} vs {model_alone}");
        let measured = motif_reuse(MEASURED_STRENGTH, back_to_back);
        assert!(measured > model_alone + 0.1, "at the default strength too: {measured} vs {model_alone}");
    }

    /// Call and response: the motif, a pause of two beats, the motif again..., and the answer
    /// one beat after the last. Would fail if an answer's context held its gap, a silence the
    /// memory never heard after the motif: it then matches nothing at the answer's start and
    /// barely steers.
    #[test]
    fn after_a_pause_the_memory_goes_on_as_the_player_did_after_pauses() {
        let beat = TICKS_PER_BEAT as u64;
        let timing = (96 + 2 * beat, beat);
        let (measured, model_alone) = (motif_reuse(MEASURED_STRENGTH, timing), motif_reuse(0.0, timing));
        assert!(measured > model_alone + 0.1, "at the default strength: {measured} vs {model_alone}");
    }

    /// Fails (spins for ages) before the cut: a jump to a huge tick fed a token per 4 beats.
    #[test]
    fn any_tick_is_reached_in_a_few_tokens_and_an_answer_spans_a_bounded_window() {
        let mut core = core();
        core.handle(heard(0), |_| true);
        let far = u64::MAX / 2;
        core.handle(from_player(far, KeyEvent::Off { pitch: 60 }), |_| true);
        assert_eq!(core.listener.stream.state().tick(), MAX_SILENCE_TICKS, "the silence is cut");
        core.live.current_answer.store(9, Ordering::Release);
        let request = AnswerRequest { answer_id: 9, start_tick: far + 48, end_tick: u64::MAX, seed: 3, constraints: CONSTRAINTS, follow_voices: false };
        let mut messages = vec![];
        core.handle(ToWorker::Answer(request), |message| {
            messages.push(message);
            true
        });
        assert_eq!(messages.last(), Some(&AnswerMessage::Done { answer_id: 9 }));
        for message in &messages[..messages.len() - 1] {
            let AnswerMessage::Note { tick, .. } = *message else { panic!("{message:?}") };
            assert!((far + 48..=far + 48 + MAX_ANSWER_TICKS).contains(&tick), "tick {tick} in stream time, in the window");
        }
    }
}
