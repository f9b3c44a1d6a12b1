//! The plugin's editor, opened the way a host opens it: CLAP's gui extension, embedded in an
//! X11 parent window ([`crate::parent_window`]) in the order the CLAP spec gives (create,
//! set_scale, get_size, set_parent, show), sized and scaled by the host, destroyed by it.

use std::sync::atomic::Ordering;

use clack_extensions::gui::{GuiApiType, GuiConfiguration, GuiSize, PluginGui, Window};

use crate::{HarnessError, HostedPlugin};

/// The editor's size in the host's units (physical pixels on X11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EditorSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl HostedPlugin {
    fn gui(&mut self) -> Result<PluginGui, HarnessError> {
        self.instance.access_handler(|main| main.gui.get()).ok_or_else(|| HarnessError::Refused("no gui extension".into()))
    }

    /// Opens the editor embedded in the X11 window `parent`, at the host scale `scale` if one is
    /// given (hosts pass their own HiDPI factor), and shows it.
    pub fn open_editor(&mut self, parent: u32, scale: Option<f64>) -> Result<(), HarnessError> {
        let gui = self.gui()?;
        let embedded_x11 = GuiConfiguration { api_type: GuiApiType::X11, is_floating: false };
        if !gui.is_api_supported(&self.instance.plugin_handle(), embedded_x11) {
            return Err(HarnessError::Refused("the editor does not embed in X11 windows".into()));
        }
        gui.create(&self.instance.plugin_handle(), embedded_x11)
            .map_err(|error| HarnessError::Refused(format!("gui create: {error:?}")))?;
        if let Some(scale) = scale {
            self.set_editor_scale(scale)?;
        }
        // SAFETY: the caller's parent window outlives the editor: tests close the editor first.
        unsafe { gui.set_parent(&self.instance.plugin_handle(), Window::from_x11_handle(parent.into())) }
            .map_err(|error| HarnessError::Refused(format!("gui set_parent: {error:?}")))?;
        gui.show(&self.instance.plugin_handle()).map_err(|error| HarnessError::Refused(format!("gui show: {error:?}")))
    }

    /// Tells the open editor the host's scale factor.
    pub fn set_editor_scale(&mut self, scale: f64) -> Result<(), HarnessError> {
        let gui = self.gui()?;
        gui.set_scale(&self.instance.plugin_handle(), scale)
            .map_err(|error| HarnessError::Refused(format!("gui set_scale {scale}: {error:?}")))
    }

    /// The size the editor asks its parent window for now.
    pub fn editor_size(&mut self) -> Option<EditorSize> {
        let gui = self.gui().ok()?;
        gui.get_size(&self.instance.plugin_handle()).map(|size| EditorSize { width: size.width, height: size.height })
    }

    /// Resizes the open editor, as a host does when the user drags its window's corner.
    pub fn set_editor_size(&mut self, size: EditorSize) -> Result<(), HarnessError> {
        let gui = self.gui()?;
        let handle = &self.instance.plugin_handle();
        if !gui.can_resize(handle) {
            return Err(HarnessError::Refused("the editor cannot be resized".into()));
        }
        gui.set_size(handle, GuiSize { width: size.width, height: size.height })
            .map_err(|error| HarnessError::Refused(format!("gui set_size {size:?}: {error:?}")))
    }

    /// Whether the editor closed its window without being asked (a crash of its window thread,
    /// a lost display).
    pub fn editor_closed_itself(&self) -> bool {
        self.instance.access_shared_handler(|shared| shared.editor_closed_itself.load(Ordering::SeqCst))
    }

    /// Closes the editor, as a host does when the user closes its window.
    pub fn close_editor(&mut self) -> Result<(), HarnessError> {
        let gui = self.gui()?;
        gui.destroy(&self.instance.plugin_handle());
        Ok(())
    }
}
