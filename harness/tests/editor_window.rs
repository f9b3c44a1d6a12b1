//! The editor as a host opens it: CLAP's gui extension, embedded in an X11 window on a private
//! Xvfb display. At the host's scale factor 2 it asks for twice its logical size and its window
//! takes that size; a size the host gives it (the user dragging the window's corner) is saved
//! with the project and comes back with it, in the size the host is told and in the window.
//! Failed before the editor answered the host's size questions itself: nice-plug-iced reported
//! 1040x680 at scale 2 and forgot every size with the project.

#[allow(dead_code)]
mod support;

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use continuo_harness::parent_window::ParentWindow;
use continuo_harness::virtual_display::VirtualDisplay;
use continuo_harness::{EditorSize, HostedPlugin};

/// The editor's default size in logical pixels (src/plugin/editor/geometry.rs).
const DEFAULT_SIZE: EditorSize = EditorSize { width: 1040, height: 680 };
/// A size the user drags the editor to.
const DRAGGED_SIZE: EditorSize = EditorSize { width: 1200, height: 800 };
/// The host's window: room for the editor at twice its default size.
const PARENT_SIZE: (u16, u16) = (2200, 1400);
/// How long the editor's window may take to follow a change of size or scale.
const WINDOW_DEADLINE: Duration = Duration::from_secs(20);

/// The display and the host window every test here uses, one test at a time: one `Xvfb` for
/// the whole process, which ends with it (see `VirtualDisplay`).
static DISPLAY: OnceLock<Result<(VirtualDisplay, Mutex<ParentWindow>), String>> = OnceLock::new();

/// Runs `test` with the host window on a private X display (`DISPLAY` names it), or says why
/// it is skipped.
fn with_parent_window(test: impl FnOnce(&ParentWindow)) {
    let display = DISPLAY.get_or_init(|| {
        let display = VirtualDisplay::start()?;
        std::env::set_var("DISPLAY", display.name());
        // Xvfb has no GPU: iced draws with its software renderer.
        std::env::set_var("ICED_BACKEND", "tiny-skia");
        let parent = ParentWindow::open(display.name(), PARENT_SIZE.0, PARENT_SIZE.1)?;
        Ok((display, Mutex::new(parent)))
    });
    match display {
        Ok((_, parent)) => test(&parent.lock().unwrap_or_else(|poisoned| poisoned.into_inner())),
        Err(reason) => eprintln!("SKIPPED: no X display for the editor: {reason}"),
    }
}

/// Serves the editor's main-thread calls until its window inside `parent` is `size`.
fn wait_for_window(plugin: &mut HostedPlugin, parent: &ParentWindow, size: EditorSize) {
    let wanted = (size.width as u16, size.height as u16);
    let started = Instant::now();
    loop {
        plugin.serve_main_thread();
        let windows = parent.child_sizes().expect("the parent window answers");
        if windows == [wanted] {
            return;
        }
        assert!(started.elapsed() < WINDOW_DEADLINE, "the editor's window is {windows:?}, not {wanted:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Serves main-thread calls until the host is told `size`: the window reported it.
fn wait_for_reported_size(plugin: &mut HostedPlugin, size: EditorSize) {
    let started = Instant::now();
    while plugin.editor_size() != Some(size) {
        assert!(started.elapsed() < WINDOW_DEADLINE, "the editor reports {:?}, not {size:?}", plugin.editor_size());
        plugin.serve_main_thread();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn at_the_host_scale_two_the_editor_asks_for_twice_its_logical_size() {
    with_parent_window(|parent| {
        let mut plugin = support::load(false, support::SAMPLE_RATE);
        plugin.open_editor(parent.id(), None).expect("the editor opens");
        assert_eq!(plugin.editor_size(), Some(DEFAULT_SIZE), "at scale 1 the logical size");
        wait_for_window(&mut plugin, parent, DEFAULT_SIZE);
        plugin.set_editor_scale(2.0).expect("the editor takes the host's scale");
        let doubled = EditorSize { width: 2 * DEFAULT_SIZE.width, height: 2 * DEFAULT_SIZE.height };
        assert_eq!(plugin.editor_size(), Some(doubled), "at scale 2 twice the logical size, at once");
        wait_for_window(&mut plugin, parent, doubled);
        plugin.close_editor().expect("closes");
    });
}

#[test]
fn a_size_the_user_gives_the_editor_is_saved_with_the_project() {
    with_parent_window(|parent| {
        let mut plugin = support::load(false, support::SAMPLE_RATE);
        plugin.open_editor(parent.id(), None).expect("the editor opens");
        wait_for_window(&mut plugin, parent, DEFAULT_SIZE);
        plugin.set_editor_size(DRAGGED_SIZE).expect("the editor is resizable");
        wait_for_window(&mut plugin, parent, DRAGGED_SIZE);
        wait_for_reported_size(&mut plugin, DRAGGED_SIZE);
        plugin.close_editor().expect("closes");
        let project = plugin.save_state().expect("saves");

        let mut reopened = support::load(false, support::SAMPLE_RATE);
        assert_eq!(reopened.editor_size(), Some(DEFAULT_SIZE), "a new instance starts at the default size");
        reopened.load_state(&project).expect("loads the project");
        assert_eq!(reopened.editor_size(), Some(DRAGGED_SIZE), "the host is told the saved size");
        reopened.open_editor(parent.id(), None).expect("the editor opens again");
        wait_for_window(&mut reopened, parent, DRAGGED_SIZE);
        reopened.close_editor().expect("closes");
    });
}
