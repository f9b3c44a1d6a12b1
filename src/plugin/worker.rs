//! The inference thread. It keeps a *listener* model fed with everything that sounded (the
//! player's notes and the answers as they were played), so its state is current when an
//! answer is due. For an answer it copies the listener into a *speaker*, moves it to the
//! answer's start, samples the answer ahead of the playhead and sends its notes back.
//!
//! The audio thread talks to it only through two bounded queues, with `try_send`/`try_recv`
//! in real time; an offline render may wait (see [`WorkerHandle::set_offline`]). Values that
//! change live (sampling settings, the answer in progress) are atomics.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use atomic_float::AtomicF32;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};

use crate::engine::{Constraints, Engine, Generator, SamplingOptions};
use crate::model::{ModelError, ModelFile};
use super::display::SampledFeed;
use super::schedule::{AnswerMessage, AnswerSource};
use crate::tokens::{EventEncoder, KeyEvent, Played};

/// The model used when the user has not chosen one.
pub static DEFAULT_MODEL_BYTES: &[u8] = include_bytes!("../../assets/default-model.safetensors");
/// How the embedded model is named in messages.
pub const DEFAULT_MODEL_NAME: &str = "embedded default model";
/// The environment variable a DAW user without a GUI sets to choose a model file.
pub const MODEL_ENV_VAR: &str = "CONTINUO_MODEL";
/// The file, under the user's config directory, whose first line names the model file
/// (the choice for users who cannot set the DAW's environment).
pub const MODEL_CONFIG_FILE: &str = "continuo/model-path";
/// Capacity of the queue to the worker: a burst of played notes between two worker wake-ups.
const TO_WORKER_CAPACITY: usize = 4096;
/// Capacity of the queue from the worker: answer notes generated ahead of the playhead.
const FROM_WORKER_CAPACITY: usize = 1024;
/// How often an idle worker looks for a new model path or a cancelled answer.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Longest an offline render waits for one answer message, or for room for an answer
/// request, before playing on without it (only reached if the worker is wedged: a bounce must
/// never hang).
const OFFLINE_WAIT: Duration = Duration::from_secs(10);

/// What the audio thread tells the worker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ToWorker {
    /// A key event that sounded (the player's, or an answer's as it was played), at a model tick.
    Heard { tick: u64, key: KeyEvent },
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
}

/// Values the audio thread (and later a GUI) changes while the worker runs.
#[derive(Debug, Default)]
pub struct LiveSettings {
    /// Sampling temperature, read before every token.
    pub temperature: AtomicF32,
    /// Nucleus mass, read before every token.
    pub top_p: AtomicF32,
    /// The answer the audio thread is playing (0: none). The worker stops sampling any other.
    pub current_answer: AtomicU64,
    /// Whether the host renders offline: the worker may then be waited for.
    offline: AtomicBool,
}

/// The model a worker runs and what it has heard.
#[derive(Clone)]
struct Listener {
    /// The model and sampler.
    generator: Generator,
    /// Turns heard key events into tokens at their ticks.
    encoder: EventEncoder,
}

impl Listener {
    fn new(mut generator: Generator) -> Self {
        generator.reset();
        Self { generator, encoder: EventEncoder::default() }
    }

    fn hear(&mut self, tick: u64, key: KeyEvent) {
        let Self { generator, encoder } = self;
        encoder.push(tick, key, |token| generator.feed(token));
    }

    fn advance_to(&mut self, tick: u64) {
        let Self { generator, encoder } = self;
        encoder.advance_to(tick, |token| generator.feed(token));
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
    Ok(Generator::new(Engine::from_model(&load_model_file(path)?)?, 0))
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
}

impl WorkerCore {
    /// A worker running the embedded default model.
    pub fn new(live: Arc<LiveSettings>) -> Self {
        let generator = load_generator("").expect("the embedded default model is valid (checked by a test)");
        Self { listener: Listener::new(generator), model_path: String::new(), refused_path: None, live }
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
            ToWorker::Heard { tick, key } => self.listener.hear(tick, key),
            ToWorker::Answer(request) => self.answer(&request, deliver),
            ToWorker::Reset => self.listener = Listener::new(self.listener.generator.clone()),
        }
    }

    /// Samples an answer from a copy of the listener, so the listener hears only what is
    /// actually played (the audio thread reports it back).
    fn answer(&mut self, request: &AnswerRequest, mut deliver: impl FnMut(AnswerMessage) -> bool) {
        let mut speaker = self.listener.clone();
        speaker.advance_to(request.start_tick);
        speaker.generator.sampler_mut().reseed(request.seed);
        let answer_id = request.answer_id;
        let mut played = Vec::with_capacity(4);
        while self.is_current(answer_id) && speaker.generator.engine().state().tick() < request.end_tick {
            let options = SamplingOptions {
                temperature: self.live.temperature.load(Ordering::Relaxed),
                top_k: 0,
                top_p: self.live.top_p.load(Ordering::Relaxed),
                greedy: false,
            };
            speaker.generator.sample_next(&options, &request.constraints, |note| played.push(note));
            for note in played.drain(..) {
                let (tick, key) = match note {
                    Played::On { tick, .. } if tick >= request.end_tick => continue,
                    Played::On { pitch, velocity, tick } => (tick, KeyEvent::On { pitch, velocity }),
                    Played::Off { pitch, tick, .. } => (tick.min(request.end_tick), KeyEvent::Off { pitch }),
                };
                if !deliver(AnswerMessage::Note { answer_id, tick, key }) {
                    return;
                }
            }
        }
        for pitch in speaker.generator.engine().state().sounding() {
            let key = KeyEvent::Off { pitch };
            if !deliver(AnswerMessage::Note { answer_id, tick: request.end_tick, key }) {
                return;
            }
        }
        deliver(AnswerMessage::Done { answer_id });
    }

    fn is_current(&self, answer_id: u64) -> bool {
        self.live.current_answer.load(Ordering::Acquire) == answer_id
    }
}

/// The audio thread's side of the worker: the queues and the thread.
pub struct WorkerHandle {
    /// Messages to the worker; `None` once shutting down.
    to_worker: Option<Sender<ToWorker>>,
    /// Answer notes from the worker.
    from_worker: Receiver<AnswerMessage>,
    /// Shared live values.
    live: Arc<LiveSettings>,
    /// The worker thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    /// Starts a worker running the model at `model_path` ("" = embedded default), which it
    /// watches for changes (state restore, a GUI); it shows the notes it samples on `sampled`.
    pub fn spawn(model_path: Arc<RwLock<String>>, live: Arc<LiveSettings>, sampled: SampledFeed) -> Self {
        let (to_worker, worker_inbox) = bounded(TO_WORKER_CAPACITY);
        let (worker_outbox, from_worker) = bounded(FROM_WORKER_CAPACITY);
        let core = WorkerCore::new(live.clone());
        let thread = std::thread::Builder::new()
            .name("continuo-inference".into())
            .spawn(move || run_worker(core, worker_inbox, worker_outbox, model_path, sampled))
            .expect("the inference thread starts");
        Self { to_worker: Some(to_worker), from_worker, live, thread: Some(thread) }
    }

    /// The live values shared with the worker.
    pub fn live(&self) -> &LiveSettings {
        &self.live
    }

    /// Offline renders may wait for the worker; real-time ones never do.
    pub fn set_offline(&self, offline: bool) {
        self.live.offline.store(offline, Ordering::Relaxed);
    }

    /// Sends a message with `try_send` (returns false if the queue is full). Offline, an
    /// answer request waits for room instead: a bounce must not skip an answer. Heard notes
    /// never wait: the worker may itself be waiting for the audio thread to take answer notes.
    pub fn tell(&self, message: ToWorker) -> bool {
        let Some(sender) = &self.to_worker else { return false };
        if matches!(message, ToWorker::Answer(_)) && self.live.offline.load(Ordering::Relaxed) {
            sender.send_timeout(message, OFFLINE_WAIT).is_ok()
        } else {
            sender.try_send(message).is_ok()
        }
    }

    /// Drops every answer message waiting in the queue (after an answer was stopped).
    pub fn discard_answers(&self) {
        while self.from_worker.try_recv().is_ok() {}
    }
}

impl AnswerSource for WorkerHandle {
    fn poll(&mut self) -> Option<AnswerMessage> {
        if self.live.offline.load(Ordering::Relaxed) {
            self.from_worker.recv_timeout(OFFLINE_WAIT).ok()
        } else {
            self.from_worker.try_recv().ok()
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.live.current_answer.store(0, Ordering::Release);
        self.to_worker = None;
        if let Some(thread) = self.thread.take() {
            // The worker sees the closed queue within one poll interval.
            let _ = thread.join();
        }
    }
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
fn read_config_model_path(config_dir: &Path) -> String {
    let contents = std::fs::read_to_string(config_dir.join(MODEL_CONFIG_FILE)).unwrap_or_default();
    contents.lines().next().unwrap_or("").trim().to_string()
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

/// The worker thread's loop: handle messages, follow the chosen model path, until the audio side
/// hangs up. Answer notes go to the audio thread and, as soon as sampled, to the editor.
fn run_worker(
    mut core: WorkerCore,
    inbox: Receiver<ToWorker>,
    outbox: Sender<AnswerMessage>,
    model_path: Arc<RwLock<String>>,
    mut sampled: SampledFeed,
) {
    loop {
        let persisted = model_path.read().map(|path| path.clone()).unwrap_or_default();
        let wanted = wanted_model_path(&persisted);
        if let Err(error) = core.switch_model(&wanted) {
            nice_plug::nice_error!("Continuo refused the model {error}; keeping {}", describe_model(core.model_path()));
        }
        match inbox.recv_timeout(POLL_INTERVAL) {
            Ok(message) => {
                let live = core.live.clone();
                core.handle(message, |answer| {
                    sampled.show(&answer);
                    deliver(&outbox, &live, answer)
                });
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Sends an answer message, waiting while the queue is full; gives up (false) once the
/// answer is no longer current or the audio side is gone.
fn deliver(outbox: &Sender<AnswerMessage>, live: &LiveSettings, mut message: AnswerMessage) -> bool {
    let answer_id = match message {
        AnswerMessage::Note { answer_id, .. } | AnswerMessage::Done { answer_id } => answer_id,
    };
    loop {
        match outbox.send_timeout(message, POLL_INTERVAL) {
            Ok(()) => return true,
            Err(SendTimeoutError::Timeout(unsent)) if live.current_answer.load(Ordering::Acquire) == answer_id => {
                message = unsent
            }
            Err(_) => return false,
        }
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
    use crate::engine::ScaleMode;

    fn core() -> WorkerCore {
        let live = Arc::new(LiveSettings::default());
        live.temperature.store(1.0, Ordering::Relaxed);
        live.top_p.store(1.0, Ordering::Relaxed);
        WorkerCore::new(live)
    }

    const CONSTRAINTS: Constraints =
        Constraints { pitch_low: 48, pitch_high: 84, root: 0, mode: ScaleMode::Chromatic, allow_end: false };

    /// Plays a C major arpeggio into the worker, then asks for an answer; returns its messages.
    fn answer(core: &mut WorkerCore, answer_id: u64, seed: u64) -> Vec<AnswerMessage> {
        for (index, pitch) in [60u8, 64, 67, 72].into_iter().enumerate() {
            let tick = index as u64 * 12;
            core.handle(ToWorker::Heard { tick, key: KeyEvent::On { pitch, velocity: 90 } }, |_| true);
            core.handle(ToWorker::Heard { tick: tick + 10, key: KeyEvent::Off { pitch } }, |_| true);
        }
        core.live.current_answer.store(answer_id, Ordering::Release);
        let request = AnswerRequest { answer_id, start_tick: 72, end_tick: 72 + 96, seed, constraints: CONSTRAINTS };
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
        let messages = answer(&mut core, 7, 42);
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
        assert_eq!(answer(&mut core(), 1, 5), answer(&mut core(), 1, 5));
        assert_ne!(answer(&mut core(), 1, 5), answer(&mut core(), 1, 6), "the seed matters");
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
        core.handle(ToWorker::Heard { tick: 0, key: KeyEvent::On { pitch: 60, velocity: 90 } }, |_| true);
        core.live.current_answer.store(3, Ordering::Release);
        let request = AnswerRequest { answer_id: 3, start_tick: 24, end_tick: 24 + 960, seed: 1, constraints: CONSTRAINTS };
        core.handle(ToWorker::Answer(request), deliver);
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
        assert!(!answer(&mut core, 1, 1).is_empty(), "and it still answers");

        let copy = directory.path().join("copy.safetensors");
        std::fs::write(&copy, DEFAULT_MODEL_BYTES).unwrap();
        core.switch_model(copy.to_str().unwrap()).unwrap();
        assert_eq!(core.model_path(), copy.to_str().unwrap());
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
}
