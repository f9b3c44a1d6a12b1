//! Piano-roll pictures of a prompt and its continuations: time left to right, pitch bottom to
//! top, the prompt in blue, continuations in orange, a red line where each continuation starts.
//! Each continuation has a lane of its own (e.g. the generated one above the real one), all
//! sharing one pitch range so they can be compared at a glance.

use std::path::Path;

use anyhow::{anyhow, Result};
use continuo::tokens::Note;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Pixels per beat horizontally.
const PIXELS_PER_BEAT: u32 = 24;
/// Pixels per semitone vertically.
const PIXELS_PER_SEMITONE: u32 = 5;
/// Semitones of room above and below the notes.
const PITCH_MARGIN_SEMITONES: u8 = 2;
/// Pixels between lanes.
const LANE_GAP_PIXELS: u32 = 8;

/// Prompt notes.
pub const PROMPT_COLOUR: RGBColor = RGBColor(40, 90, 200);
/// Continuation notes.
pub const CONTINUATION_COLOUR: RGBColor = RGBColor(235, 130, 20);
/// The line where the prompt ends.
pub const BOUNDARY_COLOUR: RGBColor = RGBColor(220, 20, 20);
const BAR_LINE_COLOUR: RGBColor = RGBColor(200, 200, 200);
const OCTAVE_LINE_COLOUR: RGBColor = RGBColor(235, 235, 235);
const LANE_GAP_COLOUR: RGBColor = RGBColor(90, 90, 90);

/// A continuation to draw after the prompt.
pub struct Continuation<'a> {
    /// Its notes, from beat 0 at its start.
    pub notes: &'a [Note],
    /// Where it starts, in beats from the prompt's start.
    pub start_beats: f64,
}

/// What one picture shows.
pub struct PianoRoll<'a> {
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
}

impl PianoRoll<'_> {
    /// Picture size in pixels.
    pub fn size(&self) -> (u32, u32) {
        let width = ((self.prompt_beats + self.continuation_beats) * PIXELS_PER_BEAT as f64).ceil() as u32;
        let (low, high) = self.pitch_range();
        let lane_height = (high - low + 1) as u32 * PIXELS_PER_SEMITONE;
        let lanes = self.continuations.len().max(1) as u32;
        (width.max(1), lanes * lane_height + (lanes - 1) * LANE_GAP_PIXELS)
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

    /// Writes the picture as a PNG.
    pub fn save_png(&self, path: &Path) -> Result<()> {
        let root = BitMapBackend::new(path, self.size()).into_drawing_area();
        self.draw(&root)?;
        root.present().map_err(|error| anyhow!("{}: cannot write the piano roll: {error}", path.display()))
    }

    /// Draws onto any plotters area of `size()` pixels.
    pub fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let failed = |error: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing the piano roll failed: {error}");
        root.fill(&WHITE).map_err(failed)?;
        let (low, high) = self.pitch_range();
        let lane_height = (high - low + 1) as i32 * PIXELS_PER_SEMITONE as i32;
        let width = self.size().0 as i32;
        for (lane, continuation) in self.continuations.iter().enumerate() {
            let top = lane as i32 * (lane_height + LANE_GAP_PIXELS as i32);
            if lane > 0 {
                let gap = Rectangle::new([(0, top - LANE_GAP_PIXELS as i32), (width, top)], LANE_GAP_COLOUR.filled());
                root.draw(&gap).map_err(failed)?;
            }
            let lane_area = Lane { top, low, high, width };
            self.draw_grid(root, &lane_area).map_err(failed)?;
            self.draw_notes(root, &lane_area, self.prompt, 0.0, PROMPT_COLOUR).map_err(failed)?;
            self.draw_notes(root, &lane_area, continuation.notes, continuation.start_beats, CONTINUATION_COLOUR)
                .map_err(failed)?;
            let x = beat_x(continuation.start_beats);
            let boundary = Rectangle::new([(x - 1, top), (x + 1, top + lane_height)], BOUNDARY_COLOUR.filled());
            root.draw(&boundary).map_err(failed)?;
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
            root.draw(&PathElement::new(vec![(0, y), (lane.width, y)], OCTAVE_LINE_COLOUR))?;
        }
        let bars = ((self.prompt_beats + self.continuation_beats) / self.beats_per_bar).ceil() as usize;
        for bar in 0..=bars {
            let x = beat_x(bar as f64 * self.beats_per_bar);
            root.draw(&PathElement::new(vec![(x, lane.top), (x, lane.bottom())], BAR_LINE_COLOUR))?;
        }
        Ok(())
    }

    fn draw_notes<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        lane: &Lane,
        notes: &[Note],
        offset_beats: f64,
        colour: RGBColor,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        for note in notes {
            let left = beat_x(offset_beats + note.start_beats);
            let right = beat_x(offset_beats + note.end_beats()).max(left + 2);
            let top = lane.pitch_top(note.pitch);
            root.draw(&Rectangle::new([(left, top), (right, top + PIXELS_PER_SEMITONE as i32 - 1)], colour.filled()))?;
        }
        Ok(())
    }
}

/// Where one lane sits in the picture.
struct Lane {
    /// Top pixel row.
    top: i32,
    /// Lowest pitch drawn (bottom row).
    low: u8,
    /// Highest pitch drawn (top row).
    high: u8,
    /// Picture width in pixels.
    width: i32,
}

impl Lane {
    fn pitch_top(&self, pitch: u8) -> i32 {
        self.top + (self.high.saturating_sub(pitch)) as i32 * PIXELS_PER_SEMITONE as i32
    }

    fn bottom(&self) -> i32 {
        self.pitch_top(self.low) + PIXELS_PER_SEMITONE as i32
    }
}

fn beat_x(beats: f64) -> i32 {
    (beats * PIXELS_PER_BEAT as f64).round() as i32
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

    #[test]
    fn prompt_continuation_and_boundary_are_drawn_where_they_belong() {
        let prompt = [note(60, 0.0), note(64, 2.0)];
        let generated = [note(62, 1.0)];
        let real = [note(67, 0.0)];
        let roll = PianoRoll {
            prompt: &prompt,
            continuations: vec![
                Continuation { notes: &generated, start_beats: 4.0 },
                Continuation { notes: &real, start_beats: 4.0 },
            ],
            prompt_beats: 4.0,
            continuation_beats: 4.0,
            beats_per_bar: 4.0,
        };
        // Pitches 58..=69 (margin 2): 12 rows of 5 pixels per lane, two lanes and a gap.
        let (width, height) = roll.size();
        assert_eq!((width, height), (8 * 24, 2 * 60 + 8));
        let mut buffer = vec![0u8; (width * height * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
            roll.draw(&root).unwrap();
            root.present().unwrap();
        }
        let row = |lane: i32, pitch: u8| lane * 68 + (69 - pitch) as i32 * 5 + 2;
        assert_eq!(pixel(&buffer, width, 12, row(0, 60)), PROMPT_COLOUR, "C4 at beat 0.5, first lane");
        assert_eq!(pixel(&buffer, width, 12, row(1, 60)), PROMPT_COLOUR, "the prompt repeats in each lane");
        assert_eq!(pixel(&buffer, width, 5 * 24 + 12, row(0, 62)), CONTINUATION_COLOUR, "generated D at beat 5.5");
        assert_eq!(pixel(&buffer, width, 4 * 24 + 12, row(1, 67)), CONTINUATION_COLOUR, "real G at beat 4.5");
        assert_eq!(pixel(&buffer, width, 5 * 24 + 12, row(1, 62)), WHITE, "the lanes stay apart");
        assert_eq!(pixel(&buffer, width, 4 * 24, row(0, 65)), BOUNDARY_COLOUR);
        assert_eq!(pixel(&buffer, width, 4 * 24, row(1, 65)), BOUNDARY_COLOUR);
    }

    #[test]
    fn save_png_writes_a_png_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roll.png");
        let prompt = [note(60, 0.0)];
        let roll = PianoRoll {
            prompt: &prompt,
            continuations: vec![Continuation { notes: &[], start_beats: 1.0 }],
            prompt_beats: 1.0,
            continuation_beats: 1.0,
            beats_per_bar: 4.0,
        };
        roll.save_png(&path).unwrap();
        assert_eq!(&std::fs::read(&path).unwrap()[..4], b"\x89PNG");
    }
}
