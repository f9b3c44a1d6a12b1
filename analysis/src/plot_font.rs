//! The font every plot of the project draws its text with, embedded so that titles, axis labels
//! and legends need no system font: Fira Sans Regular (the copy iced ships), under the SIL Open
//! Font License 1.1, whose text sits beside it in `assets/fonts/FiraSans-LICENSE.txt`.

use std::sync::Once;

use plotters::style::{register_font, FontStyle};

/// The family name plots ask for (plotters' default family, so every text style finds it).
pub const FAMILY: &str = "sans-serif";

const FIRA_SANS_REGULAR: &[u8] = include_bytes!("../../assets/fonts/FiraSans-Regular.ttf");

/// Registers the embedded font under [`FAMILY`]; the first call does it, later ones return.
pub fn register() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        if register_font(FAMILY, FontStyle::Normal, FIRA_SANS_REGULAR).is_err() {
            panic!("the embedded Fira Sans font does not parse");
        }
    });
}

#[cfg(test)]
mod tests {
    use plotters::prelude::*;

    #[test]
    fn text_is_drawn_with_the_embedded_font() {
        super::register();
        let (width, height) = (120u32, 40u32);
        let mut buffer = vec![255u8; (width * height * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
            root.draw_text("Continuo", &(super::FAMILY, 24).into_font().color(&BLACK), (4, 4)).unwrap();
            root.present().unwrap();
        }
        let dark = buffer.chunks_exact(3).filter(|pixel| pixel.iter().all(|&channel| channel < 128)).count();
        assert!(dark > 50, "{dark} dark pixels: the text was not drawn");
    }
}
