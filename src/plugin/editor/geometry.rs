//! The editor's size and scale: the logical size the user left the window at (saved with the
//! project, so it reopens as it was), the scale factor the host asked for (CLAP `set_scale`,
//! VST3 `setContentScaleFactor`) or the window found (X11's `Xft.dpi`), and from both the size
//! in the host's pixels that the host asks for before it opens the window.
//!
//! nice-plug-iced answers the host's size query from its own state, which knows neither the
//! host's scale (it never stores it) nor a size saved with the project (it has no setter), so
//! the editor keeps these here and answers itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use nice_plug::editor::dpi::{LogicalSize, NativeSize, Size};
use serde::{Deserialize, Serialize};

/// The editor's size when first opened, in logical pixels.
pub const DEFAULT_SIZE: LogicalSize<f32> = LogicalSize::new(1040.0, 680.0);
/// The smallest size the host may make it.
pub const MIN_SIZE: LogicalSize<f32> = LogicalSize::new(860.0, 600.0);
/// The largest size a saved project may reopen it at (a bound on untrusted state).
const MAX_SIZE: LogicalSize<f32> = LogicalSize::new(4096.0, 4096.0);
/// Scale factors honoured; others (zero, negative, absurd) leave the scale as it was.
const SCALE_RANGE: std::ops::RangeInclusive<f64> = 0.25..=8.0;
/// "No scale known yet" in the atomics below (no valid scale has these bits).
const NO_SCALE_BITS: u64 = 0;
/// Logical pixels a size must change by before the saved size follows it.
const SIZE_CHANGE_PX: f32 = 0.5;

/// The editor's size in logical pixels, as saved in the project.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EditorSize {
    /// Width in logical pixels.
    pub width: f32,
    /// Height in logical pixels.
    pub height: f32,
}

impl Default for EditorSize {
    fn default() -> Self {
        Self { width: DEFAULT_SIZE.width, height: DEFAULT_SIZE.height }
    }
}

impl EditorSize {
    /// The size to open at: within the editor's bounds, the default where a saved value is not
    /// a number.
    pub fn bounded(self) -> LogicalSize<f32> {
        let fit = |value: f32, min: f32, max: f32, default: f32| if value.is_finite() { value.clamp(min, max) } else { default };
        LogicalSize::new(
            fit(self.width, MIN_SIZE.width, MAX_SIZE.width, DEFAULT_SIZE.width),
            fit(self.height, MIN_SIZE.height, MAX_SIZE.height, DEFAULT_SIZE.height),
        )
    }
}

/// Size and scale, shared by the plugin (which saves the size), the host's queries and the
/// open window (which reports what it became). Never touched by the audio thread.
pub struct EditorGeometry {
    /// The saved logical size: the plugin's persisted field itself.
    size: Arc<RwLock<EditorSize>>,
    /// The host's scale factor (`f64` bits; `NO_SCALE_BITS`: the host gave none).
    host_scale_bits: AtomicU64,
    /// The scale the open window last reported (`f64` bits; `NO_SCALE_BITS`: none yet).
    window_scale_bits: AtomicU64,
}

impl EditorGeometry {
    /// Geometry around the plugin's persisted size.
    pub fn new(size: Arc<RwLock<EditorSize>>) -> Self {
        Self { size, host_scale_bits: AtomicU64::new(NO_SCALE_BITS), window_scale_bits: AtomicU64::new(NO_SCALE_BITS) }
    }

    /// The logical size to open at.
    pub fn logical_size(&self) -> LogicalSize<f32> {
        self.size.read().map(|size| *size).unwrap_or_default().bounded()
    }

    /// Records the host's scale factor; out-of-range factors are ignored.
    pub fn set_host_scale(&self, scale: f64) {
        if SCALE_RANGE.contains(&scale) {
            self.host_scale_bits.store(scale.to_bits(), Ordering::Release);
        }
    }

    /// The scale in use: the host's where it gave one (baseview uses it unless X11's `Xft.dpi`
    /// says otherwise), else the one the window found, else 1.
    pub fn scale(&self) -> f64 {
        [&self.host_scale_bits, &self.window_scale_bits]
            .into_iter()
            .map(|bits| bits.load(Ordering::Acquire))
            .find(|&bits| bits != NO_SCALE_BITS)
            .map_or(1.0, f64::from_bits)
    }

    /// The size the host gives the editor, in its own pixels (physical on Linux and Windows).
    pub fn native_size(&self) -> NativeSize<u32> {
        NativeSize::from_size(Size::Logical(self.logical_size().cast()), self.scale())
    }

    /// What the open window reports after a resize or a scale change: its logical size is
    /// saved with the project, its scale answers the host until the host gives one.
    pub fn window_reported(&self, logical: LogicalSize<f64>, scale: f64) {
        if SCALE_RANGE.contains(&scale) {
            self.window_scale_bits.store(scale.to_bits(), Ordering::Release);
        }
        let reported = EditorSize { width: logical.width as f32, height: logical.height as f32 };
        let Ok(mut saved) = self.size.write() else { return };
        if (saved.width - reported.width).abs() > SIZE_CHANGE_PX || (saved.height - reported.height).abs() > SIZE_CHANGE_PX {
            *saved = reported;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(width: f32, height: f32) -> EditorGeometry {
        EditorGeometry::new(Arc::new(RwLock::new(EditorSize { width, height })))
    }

    #[test]
    fn the_host_size_is_the_logical_size_times_the_scale() {
        let geometry = geometry(1200.0, 700.0);
        assert_eq!(geometry.native_size(), NativeSize::new(1200, 700));
        geometry.set_host_scale(2.0);
        assert_eq!(geometry.native_size(), NativeSize::new(2400, 1400));
        geometry.set_host_scale(0.0);
        assert_eq!(geometry.scale(), 2.0, "a nonsense scale is ignored");
    }

    #[test]
    fn the_window_scale_counts_until_the_host_gives_one() {
        let geometry = geometry(1000.0, 650.0);
        geometry.window_reported(LogicalSize::new(1000.0, 650.0), 1.5);
        assert_eq!(geometry.native_size(), NativeSize::new(1500, 975));
        geometry.set_host_scale(1.25);
        assert_eq!(geometry.scale(), 1.25);
    }

    #[test]
    fn a_resized_window_is_saved_and_saved_nonsense_opens_within_bounds() {
        let geometry = geometry(1040.0, 680.0);
        geometry.window_reported(LogicalSize::new(1300.0, 820.0), 1.0);
        assert_eq!(*geometry.size.read().unwrap(), EditorSize { width: 1300.0, height: 820.0 });
        assert_eq!(EditorSize { width: f32::NAN, height: 1e9 }.bounded(), LogicalSize::new(DEFAULT_SIZE.width, MAX_SIZE.height));
        assert_eq!(EditorSize { width: 10.0, height: -5.0 }.bounded(), MIN_SIZE);
    }
}
