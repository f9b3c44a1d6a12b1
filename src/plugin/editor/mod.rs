//! The editor: a live piano roll of the phrase Continuo heard and its answer, where the
//! dialogue stands, every parameter in groups, the model panel, "Continue now", the style
//! memory's "Forget" and "Save answer as MIDI".
//!
//! Drawn with iced through `nice-plug-iced`, which renders with wgpu where a GPU adapter exists
//! and falls back to its tiny-skia software renderer where none does (iced tries wgpu first,
//! unless `ICED_BACKEND=tiny-skia` says otherwise). That fallback is why iced and not egui:
//! nice-plug-egui draws with OpenGL or wgpu only, and a plugin must draw on any Linux host,
//! headless test servers (Xvfb) included. The editor reads what the audio thread and the worker
//! produced only through [`crate::plugin::display`]'s wait-free rings and atomics, polled each
//! frame; with the editor closed none of this runs.

mod controls;
mod geometry;
mod host_editor;
mod preset_picker;
#[cfg(test)]
mod recording_host;
mod roll_view;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::{BoolParam, Param, ParamPtr, ResizeHint};
use nice_plug_iced::iced::widget::{button, canvas, column, container, row, space, text};
use nice_plug_iced::iced::{poll_events, Color, Element, Fill, PollSubNotifier, Subscription, Theme};
use nice_plug_iced::{application, create_iced_editor, IcedEditor, IcedEditorState, IcedNiceContext, IcedNiceSettings};

use self::controls::{param_checkbox, param_slider, Gestures, LABEL_SIZE_PX};
pub use self::geometry::EditorSize;
use self::geometry::{EditorGeometry, MIN_SIZE};
pub use self::host_editor::ContinuoEditor;
use self::preset_picker::{apply_preset, preset_picker};
use self::roll_view::{key_range, RollView, AHEAD_BEATS, ANSWER_COLOR, PAST_BEATS, PHRASE_COLOR};
use super::display::{DisplayReader, DisplayStatus, Roll, Stage, ROLL_KEPT_BEATS};
use super::model_choice::{choose_model, describe_model, ModelSummary};
use super::params::ContinuoParams;
use super::presets::Preset;
use super::worker::LiveSettings;

/// Height of the piano roll, in logical pixels.
const ROLL_HEIGHT_PX: f32 = 300.0;
/// How often the editor reads the display: about once a frame.
const POLL_INTERVAL: Duration = Duration::from_micros(1_000_000 / 60);
/// How long a momentary button ("Continue now", "Forget") holds its switch parameter on:
/// several audio blocks, so the audio thread sees its rising edge.
const MOMENTARY_HOLD: Duration = Duration::from_millis(150);
/// Text size of headings, in logical pixels.
const HEADING_SIZE_PX: f32 = 15.0;

/// What the plugin keeps to open its editor, as often as the host asks.
pub struct EditorParts {
    /// The editor's end of the display (a GUI thread is its only user: the audio thread never
    /// touches this lock).
    reader: Arc<Mutex<DisplayReader>>,
    /// The worker's live values, for how many notes the style memory holds.
    live: Arc<LiveSettings>,
}

impl EditorParts {
    /// Keeps the editor's end of the display and the worker's live values.
    pub fn new(reader: DisplayReader, live: Arc<LiveSettings>) -> Self {
        Self { reader: Arc::new(Mutex::new(reader)), live }
    }

    /// The editor for the host, at the size saved in `params`.
    pub fn editor(&self, params: Arc<ContinuoParams>) -> Option<ContinuoEditor> {
        let geometry = Arc::new(EditorGeometry::new(params.editor_size.clone()));
        let (reader, live) = (self.reader.clone(), self.live.clone());
        let build = move |geometry: Arc<EditorGeometry>| {
            let notifier = PollSubNotifier::new();
            iced_editor(params.clone(), EditorDisplay { reader: reader.clone(), live: live.clone(), notifier }, geometry)
        };
        Some(ContinuoEditor::new(geometry, resize_hint(), Box::new(build)))
    }
}

/// Resizable by the host, down to the size where every control still fits.
fn resize_hint() -> ResizeHint {
    ResizeHint::resizable().with_min_logical_size(MIN_SIZE)
}

/// One opening's iced editor, at the geometry's saved size.
fn iced_editor(params: Arc<ContinuoParams>, display: EditorDisplay, geometry: Arc<EditorGeometry>) -> IcedEditor {
    let settings = IcedNiceSettings {
        title: "Continuo".into(),
        resize_hint: resize_hint(),
        poll_interval: POLL_INTERVAL,
        ..IcedNiceSettings::default()
    };
    let editor_notifier = display.notifier.clone();
    let state = IcedEditorState::from_size(geometry.logical_size(), 1.0);
    let editor = create_iced_editor(state, (), editor_notifier, settings, move |persistent, context| {
        let (params, display, geometry) = (params.clone(), display.clone(), geometry.clone());
        let boot = move |_: _, context: IcedNiceContext| EditorApp::new(params.clone(), display.clone(), context, geometry.clone());
        Ok(application(persistent, context, boot, EditorApp::update, EditorApp::view)
            .subscription(EditorApp::subscription)
            .theme(Theme::Dark)
            .run())
    });
    editor.expect("nice-plug-iced always makes an editor")
}

/// What the editor's controls and the display clock ask for.
#[derive(Clone, Debug)]
pub enum Message {
    /// Time to read the display.
    Poll,
    /// A slider moved (normalized value).
    Drag(ParamPtr, f32),
    /// A slider was let go.
    Release(ParamPtr),
    /// A switch was clicked.
    Toggle(ParamPtr, bool),
    /// A momentary button ("Continue now", "Forget"): its switch goes on, then off again.
    Press(ParamPtr),
    /// "Load model…".
    LoadModel,
    /// "Default model".
    DefaultModel,
    /// "Save answer as MIDI…".
    SaveAnswer,
    /// A factory preset was picked.
    ApplyPreset(Preset),
}

/// What the editor reads of the audio thread and the worker, each frame.
#[derive(Clone)]
struct EditorDisplay {
    /// The editor's end of the display.
    reader: Arc<Mutex<DisplayReader>>,
    /// The worker's live values (how many notes the style memory holds).
    live: Arc<LiveSettings>,
    /// Raised after each poll so the next frame polls again: iced_baseview polls only when it
    /// is raised, and the display changes every frame while the editor is open.
    notifier: PollSubNotifier,
}

/// The editor's state.
struct EditorApp {
    /// The parameters, read for the controls and set through `context`.
    params: Arc<ContinuoParams>,
    /// The host's side of parameter changes.
    context: GuiContext,
    /// The editor's window, for its size and scale.
    window: IcedNiceContext,
    /// Where the window's size is saved and its scale reported.
    geometry: Arc<EditorGeometry>,
    /// What the editor reads of the audio thread and the worker.
    display: EditorDisplay,
    /// The notes drawn.
    roll: Roll,
    /// The latest playhead, tempo and stage.
    status: DisplayStatus,
    /// Slider drags in progress.
    gestures: Gestures,
    /// The switches momentary buttons hold on, and when each lets go again.
    held: Vec<(ParamPtr, Instant)>,
    /// The model chosen, as its file describes itself.
    model: Option<ModelSummary>,
    /// The last thing the model panel or Save has to say (an error, a file written).
    notice: Option<String>,
}

impl EditorApp {
    fn new(params: Arc<ContinuoParams>, display: EditorDisplay, window: IcedNiceContext, geometry: Arc<EditorGeometry>) -> Self {
        let chosen = super::worker::wanted_model_path(&params.model_path.read().map(|path| path.clone()).unwrap_or_default());
        let (model, notice) = match describe_model(&chosen) {
            Ok(summary) => (Some(summary), None),
            Err(error) => (None, Some(format!("The chosen model does not load: {error}"))),
        };
        Self {
            params,
            context: window.nice_context.clone(),
            window,
            geometry,
            display,
            roll: Roll::default(),
            status: DisplayStatus::default(),
            gestures: Gestures::default(),
            held: vec![],
            model,
            notice,
        }
    }

    fn subscription(&self) -> Subscription<Message> {
        poll_events().map(|_| Message::Poll)
    }

    fn update(&mut self, message: Message) {
        match message {
            Message::Poll => self.poll(),
            Message::Drag(param, normalized) => self.gestures.drag(&self.context, param, normalized),
            Message::Release(param) => self.gestures.release(&self.context, param),
            Message::Toggle(param, on) => self.gestures.set(&self.context, param, if on { 1.0 } else { 0.0 }),
            Message::Press(param) => {
                self.gestures.set(&self.context, param, 1.0);
                self.held.push((param, Instant::now() + MOMENTARY_HOLD));
            }
            Message::LoadModel => {
                let picked = rfd::FileDialog::new().add_filter("Continuo model", &["safetensors"]).pick_file();
                if let Some(path) = picked {
                    self.choose_model(&path.to_string_lossy());
                }
            }
            Message::DefaultModel => self.choose_model(""),
            Message::SaveAnswer => self.save_answer(),
            Message::ApplyPreset(preset) => apply_preset(&mut self.gestures, &self.context, &self.params, &preset),
        }
    }

    /// Reads what the audio thread and the worker produced since the last frame.
    fn poll(&mut self) {
        self.display.notifier.notify();
        if let Ok(mut reader) = self.display.reader.lock() {
            reader.drain_into(&mut self.roll);
            self.status = reader.status();
        }
        self.roll.forget_before(self.status.playhead_beat - ROLL_KEPT_BEATS);
        let window = self.window.window_size();
        self.geometry.window_reported(window.logical, window.scale_factor);
        let now = Instant::now();
        let (gestures, context) = (&mut self.gestures, &self.context);
        self.held.retain(|&(param, release_at)| {
            let released = now >= release_at;
            if released {
                gestures.set(context, param, 0.0);
            }
            !released
        });
    }

    fn choose_model(&mut self, path: &str) {
        match choose_model(&self.params.model_path, path) {
            Ok(summary) => {
                self.notice = Some(format!("Loaded {}", summary.name));
                self.model = Some(summary);
            }
            Err(error) => self.notice = Some(format!("Not loaded: {error}. The current model stays.")),
        }
    }

    fn save_answer(&mut self) {
        let Some(bytes) = self.roll.last_exchange_midi(self.status.tempo_bpm, self.status.beats_per_bar) else {
            self.notice = Some("No answer to save yet.".into());
            return;
        };
        let picked = rfd::FileDialog::new().add_filter("MIDI file", &["mid"]).set_file_name("continuo-answer.mid").save_file();
        let Some(path) = picked else { return };
        self.notice = Some(match std::fs::write(&path, bytes) {
            Ok(()) => format!("Saved the phrase and its answer to {}", path.display()),
            Err(error) => format!("Cannot write {}: {error}", path.display()),
        });
    }

    fn view(&self) -> Element<'_, Message> {
        let params = &self.params;
        let groups = row![
            group("Dialogue", vec![
                param_slider(&params.answer_bars),
                param_slider(&params.response_gap_beats),
                param_checkbox(&params.answer_over_player),
                momentary_button("Continue now", &params.continue_now),
            ]),
            group("Character", vec![
                param_slider(&params.temperature),
                param_slider(&params.top_p),
                param_slider(&params.seed),
                param_slider(&params.style_memory),
                self.memory_line(),
                self.voices_line(),
            ]),
            group("Key and range", vec![
                param_slider(&params.scale),
                param_slider(&params.root),
                param_slider(&params.pitch_low),
                param_slider(&params.pitch_high),
            ]),
            group("MIDI and sound", vec![
                param_slider(&params.input_channel),
                param_slider(&params.answer_channel),
                param_checkbox(&params.thru),
                param_slider(&params.preview_volume),
                param_slider(&params.tempo_bpm),
            ]),
            self.model_panel(),
        ]
        .spacing(10);
        column![self.header(), self.roll_view(), groups].spacing(10).padding(12).into()
    }

    fn header(&self) -> Element<'_, Message> {
        let (stage, color) = stage_text(&self.status);
        let tempo_source = if self.status.tempo_from_host { "from the host" } else { "Tempo When Stopped" };
        row![
            text("Continuo").size(20),
            text(stage).size(HEADING_SIZE_PX).color(color),
            space().width(Fill),
            text(format!("{:.1} BPM ({tempo_source})", self.status.tempo_bpm)).size(HEADING_SIZE_PX),
            legend("phrase", PHRASE_COLOR),
            legend("answer", ANSWER_COLOR),
            preset_picker(&self.params),
            param_checkbox(&self.params.bypass),
        ]
        .spacing(16)
        .align_y(nice_plug_iced::iced::Center)
        .into()
    }

    fn roll_view(&self) -> Element<'_, Message> {
        let first = self.status.playhead_beat - PAST_BEATS;
        let last = self.status.playhead_beat + AHEAD_BEATS;
        let notes: Vec<_> =
            self.roll.notes().filter(|note| note.start_beat <= last && note.end_beat.is_none_or(|end| end >= first)).collect();
        let keys = key_range(&notes, self.params.pitch_range());
        let view = RollView { notes, playhead_beat: self.status.playhead_beat, beats_per_bar: self.status.beats_per_bar, keys };
        canvas(view).width(Fill).height(ROLL_HEIGHT_PX).into()
    }

    /// "Forget" and how many notes the style memory holds.
    fn memory_line(&self) -> Element<'_, Message> {
        let notes = self.display.live.memory_notes.load(Ordering::Relaxed);
        with_note(momentary_button("Forget", &self.params.forget), format!("Remembers {notes} notes"))
    }

    /// Follow Voices, and what it follows.
    fn voices_line(&self) -> Element<'_, Message> {
        let heard = match self.display.live.player_voices.load(Ordering::Relaxed) {
            0 => "nothing played yet".to_string(),
            1 => "you: 1 voice".to_string(),
            voices => format!("you: {voices} voices"),
        };
        with_note(param_checkbox(&self.params.follow_voices), heard)
    }

    fn model_panel(&self) -> Element<'_, Message> {
        let mut lines: Vec<Element<'_, Message>> = match &self.model {
            Some(model) => vec![
                small_text(model.name.clone()),
                small_text(format!("Trained on {}", model.trained_on)),
                small_text(match model.valid_nll_per_token {
                    Some(nll) => format!("Validation loss {nll:.3} nats/token"),
                    None => "Validation loss not recorded".into(),
                }),
            ],
            None => vec![],
        };
        lines.push(
            row![
                button(text("Load model…").size(LABEL_SIZE_PX)).on_press(Message::LoadModel),
                button(text("Default model").size(LABEL_SIZE_PX)).on_press(Message::DefaultModel),
            ]
            .spacing(6)
            .into(),
        );
        lines.push(button(text("Save answer as MIDI…").size(LABEL_SIZE_PX)).on_press(Message::SaveAnswer).into());
        if let Some(notice) = &self.notice {
            lines.push(small_text(notice.clone()));
        }
        group("Model", lines)
    }
}

/// A titled column of controls.
fn group<'a>(title: &'a str, controls: Vec<Element<'a, Message>>) -> Element<'a, Message> {
    let body = column(controls).spacing(8);
    container(column![text(title).size(HEADING_SIZE_PX), body].spacing(8))
        .padding(8)
        .width(Fill)
        .style(container::rounded_box)
        .into()
}

/// A button that switches `param` on for a moment.
fn momentary_button<'a>(label: &'a str, param: &BoolParam) -> Element<'a, Message> {
    button(text(label).size(LABEL_SIZE_PX)).on_press(Message::Press(param.as_ptr())).into()
}

fn small_text<'a>(content: String) -> Element<'a, Message> {
    text(content).size(LABEL_SIZE_PX - 1.0).into()
}

/// A control with a short note beside it (what it holds or follows).
fn with_note<'a>(control: Element<'a, Message>, note: String) -> Element<'a, Message> {
    row![control, small_text(note)].spacing(8).align_y(nice_plug_iced::iced::Center).into()
}

/// A colour swatch and its name.
fn legend<'a>(name: &'a str, color: Color) -> Element<'a, Message> {
    row![text("■").size(HEADING_SIZE_PX).color(color), text(name).size(LABEL_SIZE_PX)].spacing(4).into()
}

/// The stage in words, and its colour.
fn stage_text(status: &DisplayStatus) -> (String, Color) {
    match status.stage {
        Stage::Listening => ("Listening".into(), Color::from_rgb8(0xB0, 0xB4, 0xC0)),
        Stage::WaitingOutGap => {
            let left = status.gap_seconds_left().unwrap_or(0.0);
            (format!("Waiting out the gap: {left:.1} s"), Color::from_rgb8(0xFF, 0xE0, 0x66))
        }
        Stage::Answering => ("Answering".into(), ANSWER_COLOR),
        Stage::Interrupted => ("Interrupted".into(), Color::from_rgb8(0xFF, 0x52, 0x52)),
    }
}
