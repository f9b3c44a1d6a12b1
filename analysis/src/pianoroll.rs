//! Piano-roll pictures of a prompt and its continuations: time left to right, pitch bottom to
//! top, the prompt in blue, continuations in orange, a red line where each continuation starts.
//! Each continuation has a lane of its own (e.g. the generated one above the real one) headed by
//! its name, all sharing one pitch range so they can be compared at a glance. A title, a legend,
//! the C of each octave by name on the left and bar numbers below make the picture readable on
//! its own; the text uses the embedded font (`plot_font`).

use std::path::Path;

use anyhow::{anyhow, Result};
use continuo::tokens::Note;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::plot_font;

/// Pixels per beat horizontally, at least.
const PIXELS_PER_BEAT: u32 = 24;
/// Width of the beats at least, pixels: a short picture is stretched so the title and the legend fit.
const MIN_BEATS_WIDTH_PIXELS: u32 = 560;
/// Pixels per semitone vertically.
const PIXELS_PER_SEMITONE: u32 = 5;
/// Semitones of room above and below the notes.
const PITCH_MARGIN_SEMITONES: u8 = 2;
/// Pixels between lanes.
const LANE_GAP_PIXELS: u32 = 8;
/// Band at the top for the title.
const TITLE_PIXELS: u32 = 30;
/// Band under the title for the legend.
const LEGEND_PIXELS: u32 = 22;
/// Strip above each lane for its name.
const LANE_HEADER_PIXELS: u32 = 18;
/// Column on the left for pitch names.
const PITCH_LABEL_PIXELS: u32 = 40;
/// Band at the bottom for bar numbers.
const BAR_NUMBER_PIXELS: u32 = 20;
/// Room right of the last bar line, so its number fits.
const RIGHT_MARGIN_PIXELS: u32 = 12;
const TITLE_FONT_PIXELS: u32 = 18;
const TEXT_FONT_PIXELS: u32 = 13;

/// Prompt notes.
pub const PROMPT_COLOUR: RGBColor = RGBColor(40, 90, 200);
/// Continuation notes.
pub const CONTINUATION_COLOUR: RGBColor = RGBColor(235, 130, 20);
/// The line where the prompt ends.
pub const BOUNDARY_COLOUR: RGBColor = RGBColor(220, 20, 20);
const BAR_LINE_COLOUR: RGBColor = RGBColor(200, 200, 200);
const OCTAVE_LINE_COLOUR: RGBColor = RGBColor(235, 235, 235);
const LANE_GAP_COLOUR: RGBColor = RGBColor(90, 90, 90);
const TEXT_COLOUR: RGBColor = RGBColor(30, 30, 30);

/// A continuation to draw after the prompt.
pub struct Continuation<'a> {
    /// Its name over its lane (e.g. "generated", "real").
    pub label: &'a str,
    /// Its notes, from beat 0 at its start.
    pub notes: &'a [Note],
    /// Where it starts, in beats from the prompt's start.
    pub start_beats: f64,
}

/// What one picture shows.
pub struct PianoRoll<'a> {
    /// The title (e.g. the piece and bar the prompt comes from).
    pub title: &'a str,
    /// The prompt, from beat 0.
    pub prompt: &'a [Note],
    /// One or more continuations, one lane each.
    pub continuations: Vec<Continuation<'a>>,
    /// Length of the prompt window in beats: the picture spans it and the continuation window.
    pub prompt_beats: f64,
    /// Length of the continuation window in beats.
    pub continuation_beats: f64,
    /// Beats per bar, for the bar lines.
    pub beats_per_bar: f64,
    /// Number of the picture's first bar (1 for a piece's start), for the bar numbers.
    pub first_bar: u32,
}

impl PianoRoll<'_> {
    /// Picture size in pixels.
    pub fn size(&self) -> (u32, u32) {
        let beats_width = self.beats_width_pixels() as u32;
        let lanes = self.continuations.len().max(1) as u32;
        let height = TITLE_PIXELS + LEGEND_PIXELS + lanes * (LANE_HEADER_PIXELS + self.lane_height())
            + (lanes - 1) * LANE_GAP_PIXELS
            + BAR_NUMBER_PIXELS;
        (PITCH_LABEL_PIXELS + beats_width.max(1) + RIGHT_MARGIN_PIXELS, height)
    }

    /// Pixels per beat: `PIXELS_PER_BEAT`, or more to fill `MIN_BEATS_WIDTH_PIXELS`.
    fn pixels_per_beat(&self) -> f64 {
        let beats = (self.prompt_beats + self.continuation_beats).max(1.0);
        (PIXELS_PER_BEAT as f64).max(MIN_BEATS_WIDTH_PIXELS as f64 / beats)
    }

    fn beats_width_pixels(&self) -> i32 {
        ((self.prompt_beats + self.continuation_beats) * self.pixels_per_beat()).ceil() as i32
    }

    /// Height of one lane's notes, pixels.
    fn lane_height(&self) -> u32 {
        let (low, high) = self.pitch_range();
        (high - low + 1) as u32 * PIXELS_PER_SEMITONE
    }

    /// Lowest and highest pitch drawn.
    fn pitch_range(&self) -> (u8, u8) {
        let all = self.prompt.iter().chain(self.continuations.iter().flat_map(|continuation| continuation.notes));
        let (low, high) = all.fold((u8::MAX, 0), |(low, high), note| (low.min(note.pitch), high.max(note.pitch)));
        if low > high {
            return (60, 72);
        }
        (low.saturating_sub(PITCH_MARGIN_SEMITONES), high.saturating_add(PITCH_MARGIN_SEMITONES).min(127))
    }

    /// Where lane `index` sits.
    fn lane(&self, index: usize) -> Lane {
        let (low, high) = self.pitch_range();
        let stride = (LANE_HEADER_PIXELS + self.lane_height() + LANE_GAP_PIXELS) as i32;
        let top = (TITLE_PIXELS + LEGEND_PIXELS + LANE_HEADER_PIXELS) as i32 + index as i32 * stride;
        let (left, width) = (PITCH_LABEL_PIXELS as i32, self.beats_width_pixels());
        Lane { top, low, high, left, width, pixels_per_beat: self.pixels_per_beat() }
    }

    /// Writes the picture as a PNG.
    pub fn save_png(&self, path: &Path) -> Result<()> {
        plot_font::register();
        let root = BitMapBackend::new(path, self.size()).into_drawing_area();
        self.draw(&root)?;
        root.present().map_err(|error| anyhow!("{}: cannot write the piano roll: {error}", path.display()))
    }

    /// Draws onto any plotters area of `size()` pixels (with `plot_font::register()` called).
    pub fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let failed = |error: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing the piano roll failed: {error}");
        root.fill(&WHITE).map_err(failed)?;
        self.draw_title_and_legend(root).map_err(failed)?;
        for (index, continuation) in self.continuations.iter().enumerate() {
            let lane = self.lane(index);
            if index > 0 {
                let gap_top = lane.top - (LANE_HEADER_PIXELS + LANE_GAP_PIXELS) as i32;
                let right = root.dim_in_pixel().0 as i32;
                let gap = Rectangle::new([(0, gap_top), (right, gap_top + LANE_GAP_PIXELS as i32)], LANE_GAP_COLOUR.filled());
                root.draw(&gap).map_err(failed)?;
            }
            let header = (lane.left, lane.top - LANE_HEADER_PIXELS as i32 / 2);
            root.draw_text(continuation.label, &text_style(TEXT_FONT_PIXELS, HPos::Left), header).map_err(failed)?;
            self.draw_grid(root, &lane).map_err(failed)?;
            draw_notes(root, &lane, self.prompt, 0.0, PROMPT_COLOUR).map_err(failed)?;
            draw_notes(root, &lane, continuation.notes, continuation.start_beats, CONTINUATION_COLOUR).map_err(failed)?;
            let x = lane.x(continuation.start_beats);
            let boundary = Rectangle::new([(x - 1, lane.top), (x + 1, lane.bottom())], BOUNDARY_COLOUR.filled());
            root.draw(&boundary).map_err(failed)?;
        }
        self.draw_bar_numbers(root).map_err(failed)
    }

    fn draw_title_and_legend<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let centre = root.dim_in_pixel().0 as i32 / 2;
        root.draw_text(self.title, &text_style(TITLE_FONT_PIXELS, HPos::Center), (centre, TITLE_PIXELS as i32 / 2))?;
        let y = (TITLE_PIXELS + LEGEND_PIXELS / 2) as i32;
        let entries =
            [("prompt", PROMPT_COLOUR), ("continuation", CONTINUATION_COLOUR), ("continuation starts", BOUNDARY_COLOUR)];
        let mut x = PITCH_LABEL_PIXELS as i32;
        for (name, colour) in entries {
            let swatch_width = if colour == BOUNDARY_COLOUR { 3 } else { 14 };
            root.draw(&Rectangle::new([(x, y - 5), (x + swatch_width, y + 5)], colour.filled()))?;
            x += swatch_width + 5;
            root.draw_text(name, &text_style(TEXT_FONT_PIXELS, HPos::Left), (x, y))?;
            x += root.estimate_text_size(name, &text_style(TEXT_FONT_PIXELS, HPos::Left))?.0 as i32 + 18;
        }
        Ok(())
    }

    fn draw_grid<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        lane: &Lane,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        for pitch in (lane.low..=lane.high).filter(|pitch| pitch % 12 == 0) {
            let y = lane.pitch_top(pitch) + PIXELS_PER_SEMITONE as i32 - 1;
            root.draw(&PathElement::new(vec![(lane.left, y), (lane.right(), y)], OCTAVE_LINE_COLOUR))?;
            let name = format!("C{}", pitch as i32 / 12 - 1);
            let at = (lane.left - 4, y - PIXELS_PER_SEMITONE as i32 / 2);
            root.draw_text(&name, &text_style(TEXT_FONT_PIXELS, HPos::Right), at)?;
        }
        for bar in 0..=self.bar_count() {
            let x = lane.x(bar as f64 * self.beats_per_bar);
            root.draw(&PathElement::new(vec![(x, lane.top), (x, lane.bottom())], BAR_LINE_COLOUR))?;
        }
        Ok(())
    }

    /// The number of each bar under its first beat, below the last lane.
    fn draw_bar_numbers<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let last = self.lane(self.continuations.len().max(1) - 1);
        let y = last.bottom() + BAR_NUMBER_PIXELS as i32 / 2;
        for bar in 0..self.bar_count() {
            let number = (self.first_bar + bar as u32).to_string();
            let at = (last.x(bar as f64 * self.beats_per_bar) + 2, y);
            root.draw_text(&number, &text_style(TEXT_FONT_PIXELS, HPos::Left), at)?;
        }
        Ok(())
    }

    /// Bars the picture spans (a last partial bar counts).
    fn bar_count(&self) -> usize {
        ((self.prompt_beats + self.continuation_beats) / self.beats_per_bar).ceil() as usize
    }
}

fn draw_notes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    lane: &Lane,
    notes: &[Note],
    offset_beats: f64,
    colour: RGBColor,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for note in notes {
        let left = lane.x(offset_beats + note.start_beats);
        let right = lane.x(offset_beats + note.end_beats()).max(left + 2);
        let top = lane.pitch_top(note.pitch);
        root.draw(&Rectangle::new([(left, top), (right, top + PIXELS_PER_SEMITONE as i32 - 1)], colour.filled()))?;
    }
    Ok(())
}

/// Text in the embedded font, anchored vertically at its centre.
fn text_style(size_pixels: u32, horizontal: HPos) -> TextStyle<'static> {
    (plot_font::FAMILY, size_pixels).into_font().color(&TEXT_COLOUR).pos(Pos::new(horizontal, VPos::Center))
}

/// Where one lane's notes sit in the picture.
struct Lane {
    /// Top pixel row.
    top: i32,
    /// Lowest pitch drawn (bottom row).
    low: u8,
    /// Highest pitch drawn (top row).
    high: u8,
    /// Pixel column of beat 0.
    left: i32,
    /// Width of the beats, pixels.
    width: i32,
    /// Horizontal scale.
    pixels_per_beat: f64,
}

impl Lane {
    fn pitch_top(&self, pitch: u8) -> i32 {
        self.top + (self.high.saturating_sub(pitch)) as i32 * PIXELS_PER_SEMITONE as i32
    }

    fn bottom(&self) -> i32 {
        self.pitch_top(self.low) + PIXELS_PER_SEMITONE as i32
    }

    fn right(&self) -> i32 {
        self.left + self.width
    }

    /// Pixel column of a time in beats from the picture's start.
    fn x(&self, beats: f64) -> i32 {
        self.left + (beats * self.pixels_per_beat).round() as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(pitch: u8, start_beats: f64) -> Note {
        Note { pitch, velocity: 80, start_beats, duration_beats: 1.0 }
    }

    fn pixel(buffer: &[u8], width: u32, x: i32, y: i32) -> RGBColor {
        let at = (y as usize * width as usize + x as usize) * 3;
        RGBColor(buffer[at], buffer[at + 1], buffer[at + 2])
    }

    fn two_lanes<'a>(prompt: &'a [Note], generated: &'a [Note], real: &'a [Note]) -> PianoRoll<'a> {
        PianoRoll {
            title: "piece.mid bar 5",
            prompt,
            continuations: vec![
                Continuation { label: "generated", notes: generated, start_beats: 4.0 },
                Continuation { label: "real", notes: real, start_beats: 4.0 },
            ],
            prompt_beats: 4.0,
            continuation_beats: 4.0,
            beats_per_bar: 4.0,
            first_bar: 5,
        }
    }

    #[test]
    fn prompt_continuation_boundary_and_text_are_drawn_where_they_belong() {
        plot_font::register();
        let prompt = [note(60, 0.0), note(64, 2.0)];
        let generated = [note(62, 1.0)];
        let real = [note(67, 0.0)];
        let roll = two_lanes(&prompt, &generated, &real);
        // Pitches 58..=69 (margin 2): 12 rows of 5 pixels per lane, each under an 18-pixel
        // header; title, legend and bar numbers around them, pitch names on the left. The 8
        // beats are stretched to 560 pixels (70 per beat) so the legend fits.
        let (width, height) = roll.size();
        assert_eq!((width, height), (40 + 560 + 12, 30 + 22 + 2 * (18 + 60) + 8 + 20));
        let mut buffer = vec![0u8; (width * height * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
            roll.draw(&root).unwrap();
            root.present().unwrap();
        }
        let lane_top = |lane: i32| 30 + 22 + 18 + lane * (18 + 60 + 8);
        let row = |lane: i32, pitch: u8| lane_top(lane) + (69 - pitch) as i32 * 5 + 2;
        let beat = |beats: f64| 40 + (beats * 70.0) as i32;
        assert_eq!(pixel(&buffer, width, beat(0.5), row(0, 60)), PROMPT_COLOUR, "C4 at beat 0.5, first lane");
        assert_eq!(pixel(&buffer, width, beat(0.5), row(1, 60)), PROMPT_COLOUR, "the prompt repeats in each lane");
        assert_eq!(pixel(&buffer, width, beat(5.5), row(0, 62)), CONTINUATION_COLOUR, "generated D at beat 5.5");
        assert_eq!(pixel(&buffer, width, beat(4.5), row(1, 67)), CONTINUATION_COLOUR, "real G at beat 4.5");
        assert_eq!(pixel(&buffer, width, beat(5.5), row(1, 62)), WHITE, "the lanes stay apart");
        assert_eq!(pixel(&buffer, width, beat(4.0), row(0, 65)), BOUNDARY_COLOUR);
        assert_eq!(pixel(&buffer, width, beat(4.0), row(1, 65)), BOUNDARY_COLOUR);
        // Text pixels: darker than the grid lines, and grey, unlike the notes.
        let dark_in = |left: i32, top: i32, right: i32, bottom: i32| {
            (top..bottom).flat_map(|y| (left..right).map(move |x| (x, y))).filter(|&(x, y)| {
                let RGBColor(r, g, b) = pixel(&buffer, width, x, y);
                r < 160 && r == g && g == b
            })
            .count()
        };
        assert!(dark_in(0, 0, width as i32, 30) > 30, "the title");
        assert!(dark_in(0, row(0, 60) - 8, 40, row(0, 60) + 8) > 10, "C4 named beside its row");
        assert!(dark_in(40, height as i32 - 20, 80, height as i32) > 10, "bar number 5 under the first bar");
        assert!(dark_in(40, lane_top(1) - 18, 100, lane_top(1)) > 10, "the second lane's name");
    }

    #[test]
    fn save_png_writes_a_png_of_the_picture_s_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roll.png");
        let prompt = [note(60, 0.0)];
        let roll = two_lanes(&prompt, &[], &[]);
        roll.save_png(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!((word(16), word(20)), roll.size(), "IHDR width and height");
    }
}
