//! The host's side of an embedded editor on X11: a plain top-level window the plugin's editor
//! is parented into, and what a test reads back from it (the editor's window size, the
//! colours it drew).

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, EventMask, ImageFormat, WindowClass};
use x11rb::rust_connection::RustConnection;

/// Every bit plane, for `GetImage`.
const ALL_PLANES: u32 = !0;
/// Bytes of a pixel in a 24-bit-deep image (blue, green, red, padding).
const BYTES_PER_PIXEL: usize = 4;

/// A mapped top-level window on an X display, closed with the connection when dropped.
pub struct ParentWindow {
    /// The harness' own connection to the display (the plugin opens its own).
    connection: RustConnection,
    /// The window's id, handed to the plugin as its parent.
    window: u32,
    /// Its size in pixels.
    size: (u16, u16),
}

impl ParentWindow {
    /// Opens a `width` x `height` window on `display` (as `DISPLAY` names it). The error says
    /// what failed.
    pub fn open(display: &str, width: u16, height: u16) -> Result<Self, String> {
        let (connection, screen_number) =
            x11rb::connect(Some(display)).map_err(|error| format!("cannot connect to X display {display}: {error}"))?;
        let screen = &connection.setup().roots[screen_number];
        let window = connection.generate_id().map_err(|error| format!("no X window id: {error}"))?;
        let attributes = CreateWindowAux::new().background_pixel(screen.black_pixel).event_mask(EventMask::STRUCTURE_NOTIFY);
        let (root, depth, visual) = (screen.root, screen.root_depth, screen.root_visual);
        let not_created = |error: &dyn std::fmt::Display| format!("cannot create the parent window: {error}");
        let class = WindowClass::INPUT_OUTPUT;
        let request = connection.create_window(depth, window, root, 0, 0, width, height, 0, class, visual, &attributes);
        request.map_err(|e| not_created(&e))?.check().map_err(|e| not_created(&e))?;
        connection.map_window(window).map_err(|error| format!("cannot map the parent window: {error}"))?;
        connection.flush().map_err(|error| format!("X connection lost: {error}"))?;
        Ok(Self { connection, window, size: (width, height) })
    }

    /// The window's X id.
    pub fn id(&self) -> u32 {
        self.window
    }

    /// The sizes of the windows the plugin put inside this one (its editor: one while open).
    pub fn child_sizes(&self) -> Result<Vec<(u16, u16)>, String> {
        let lost = |error: &dyn std::fmt::Display| format!("X request failed: {error}");
        let tree = self.connection.query_tree(self.window).map_err(|e| lost(&e))?.reply().map_err(|e| lost(&e))?;
        let mut sizes = vec![];
        for child in tree.children {
            // A child may go between the two requests (an editor closing): it is not there.
            if let Ok(geometry) = self.connection.get_geometry(child).map_err(|e| lost(&e))?.reply() {
                sizes.push((geometry.width, geometry.height));
            }
        }
        Ok(sizes)
    }

    /// How many pixels of each of `colours` (red, green, blue) the window shows now, its
    /// children's drawing included, inside the box around the pixels of `area_colour` (a
    /// panel's background: the roll's, so a legend elsewhere does not count). `None` when no
    /// pixel has `area_colour`.
    pub fn count_colours_inside(&self, area_colour: [u8; 3], colours: &[[u8; 3]]) -> Result<Option<Vec<usize>>, String> {
        let (width, height) = (self.size.0 as usize, self.size.1 as usize);
        let lost = |error: &dyn std::fmt::Display| format!("cannot read the window's pixels: {error}");
        let image = self.connection.get_image(ImageFormat::Z_PIXMAP, self.window, 0, 0, self.size.0, self.size.1, ALL_PLANES);
        let image = image.map_err(|e| lost(&e))?.reply().map_err(|e| lost(&e))?;
        if image.data.len() != width * height * BYTES_PER_PIXEL {
            return Err(format!("an image of {} bytes for {width}x{height} pixels: not 32 bits a pixel", image.data.len()));
        }
        let rgb = |x: usize, y: usize| {
            let pixel = &image.data[(y * width + x) * BYTES_PER_PIXEL..][..3];
            [pixel[2], pixel[1], pixel[0]]
        };
        let area = (0..height).flat_map(|y| (0..width).map(move |x| (x, y))).filter(|&(x, y)| rgb(x, y) == area_colour);
        let Some((left, top, right, bottom)) = area.fold(None, |bounds: Option<(usize, usize, usize, usize)>, (x, y)| {
            Some(bounds.map_or((x, y, x, y), |(l, t, r, b)| (l.min(x), t.min(y), r.max(x), b.max(y))))
        }) else {
            return Ok(None);
        };
        let mut counts = vec![0; colours.len()];
        for (x, y) in (top..=bottom).flat_map(|y| (left..=right).map(move |x| (x, y))) {
            if let Some(index) = colours.iter().position(|colour| *colour == rgb(x, y)) {
                counts[index] += 1;
            }
        }
        Ok(Some(counts))
    }
}
