//! A private X display for editor tests: an `Xvfb` server the harness starts and stops, so a
//! test opens the plugin's editor on any machine with Debian's `xvfb`, screen or not. The
//! server also ends by itself when its last client disconnects (`-terminate`), so a display a
//! test process keeps to its end (the plugin's X connections outlive its editor, and Xlib ends
//! a process whose display goes away) never outlives that process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The virtual screen: large enough for the editor at twice its default size.
const SCREEN: &str = "2560x1600x24";

/// A running `Xvfb`; stopped when dropped.
pub struct VirtualDisplay {
    /// The server process.
    server: Child,
    /// Its display name (`:N`), for `DISPLAY`.
    name: String,
}

impl VirtualDisplay {
    /// Starts `Xvfb` on a free display number (it picks one and writes it to `-displayfd`, here
    /// its standard output). The error says why no display could be started.
    pub fn start() -> Result<Self, String> {
        let mut server = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", SCREEN, "-nolisten", "tcp", "-terminate"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot start Xvfb (Debian package xvfb): {error}"))?;
        let stdout = server.stdout.take().expect("piped");
        let mut number = String::new();
        let read = BufReader::new(stdout).read_line(&mut number);
        let number = number.trim();
        if read.is_err() || number.is_empty() {
            let _ = server.kill();
            let _ = server.wait();
            return Err("Xvfb exited without opening a display".into());
        }
        Ok(Self { name: format!(":{number}"), server })
    }

    /// The display name, as `DISPLAY` takes it.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for VirtualDisplay {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
