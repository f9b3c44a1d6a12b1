//! The editor as nice-plug hands it to hosts: each opening builds a fresh iced editor at the
//! size saved with the project, and the host's questions about size and scale are answered
//! from [`EditorGeometry`], which nice-plug-iced's own state cannot do (see `geometry.rs`).
//! Everything else goes to nice-plug-iced unchanged.

use std::error::Error;
use std::sync::Arc;

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::NativeSize;
use nice_plug::editor::{
    Editor, EditorHandle, HostMethods, Modifiers, ParentWindowHandle, ResizeHint, SpawnedEditor, VirtualKeyCode,
};
use nice_plug_iced::iced::baseview;
use nice_plug_iced::IcedEditorHandle;

use super::geometry::EditorGeometry;

/// Builds the iced editor for one opening, at the geometry's saved size.
pub type BuildIcedEditor = dyn Fn(Arc<EditorGeometry>) -> nice_plug_iced::IcedEditor + Send + Sync;

/// The plugin's editor.
pub struct ContinuoEditor {
    /// Size and scale, kept across openings and saved with the project.
    geometry: Arc<EditorGeometry>,
    /// Makes the iced editor for each opening.
    build: Box<BuildIcedEditor>,
    /// How the host may resize it.
    resize_hint: ResizeHint,
}

impl ContinuoEditor {
    /// An editor built by `build` at `geometry`'s size, resizable as `resize_hint` says.
    pub fn new(geometry: Arc<EditorGeometry>, resize_hint: ResizeHint, build: Box<BuildIcedEditor>) -> Self {
        Self { geometry, build, resize_hint }
    }
}

impl Editor for ContinuoEditor {
    type Handle = ContinuoEditorHandle;

    fn spawn(
        &self,
        parent: Option<ParentWindowHandle>,
        wait_for_parent: bool,
        fallback_scale_factor: Option<f64>,
        gui_context: GuiContext,
        host: Option<HostMethods>,
    ) -> Result<SpawnedEditor<Self::Handle>, Box<dyn Error>> {
        if let Some(scale) = fallback_scale_factor {
            self.geometry.set_host_scale(scale);
        }
        let iced = (self.build)(self.geometry.clone());
        let spawned = iced.spawn(parent, wait_for_parent, fallback_scale_factor, gui_context, host)?;
        let handle = ContinuoEditorHandle { iced: spawned.handle, geometry: self.geometry.clone() };
        Ok(SpawnedEditor { handle, window: spawned.window })
    }

    fn size(&self) -> NativeSize<u32> {
        self.geometry.native_size()
    }

    fn resize_hint(&self) -> ResizeHint {
        self.resize_hint
    }
}

/// An open editor: nice-plug-iced's handle, plus the host's scale recorded on the way.
pub struct ContinuoEditorHandle {
    /// The open iced editor.
    iced: IcedEditorHandle,
    /// Where the host's scale goes.
    geometry: Arc<EditorGeometry>,
}

impl EditorHandle for ContinuoEditorHandle {
    type Window = baseview::Window;
    type Error = baseview::Error;

    fn run_until_closed(window: Self::Window) -> Result<(), Self::Error> {
        IcedEditorHandle::run_until_closed(window)
    }

    fn set_parent(&self, parent: ParentWindowHandle, window: &Self::Window) -> Result<(), Self::Error> {
        self.iced.set_parent(parent, window)
    }

    fn show(&self, window: &Self::Window) -> Result<(), Self::Error> {
        self.iced.show(window)
    }

    fn hide(&self, window: &Self::Window) -> Result<(), Self::Error> {
        self.iced.hide(window)
    }

    fn set_size(&self, new_size: NativeSize<u32>, window: &Self::Window) -> Result<(), Self::Error> {
        self.iced.set_size(new_size, window)
    }

    fn host_main_thread_callback(&self, window: &Self::Window) {
        self.iced.host_main_thread_callback(window)
    }

    fn adjust_size(&self, new_size: NativeSize<u32>, window: &Self::Window) -> Option<NativeSize<u32>> {
        self.iced.adjust_size(new_size, window)
    }

    fn set_fallback_scale_factor(&self, scale_factor: f64, window: &Self::Window) -> Result<(), Self::Error> {
        self.geometry.set_host_scale(scale_factor);
        self.iced.set_fallback_scale_factor(scale_factor, window)
    }

    fn on_virtual_key_from_host(&self, key_code: VirtualKeyCode, is_down: bool, modifiers: Modifiers) -> bool {
        self.iced.on_virtual_key_from_host(key_code, is_down, modifiers)
    }

    fn state_changed(&self) {
        self.iced.state_changed()
    }

    fn param_value_changed(&self, id: &str, normalized_value: f32) {
        self.iced.param_value_changed(id, normalized_value)
    }

    fn param_modulation_changed(&self, id: &str, modulation_offset: f32) {
        self.iced.param_modulation_changed(id, modulation_offset)
    }
}
