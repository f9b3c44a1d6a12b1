//! The piano roll: the phrase Continuo heard and its answer on the song timeline, scrolling
//! with the playhead, with the host's bars and beats. Drawn on an iced canvas each frame.

use nice_plug_iced::iced::mouse::Cursor;
use nice_plug_iced::iced::widget::canvas::{self, Frame, Geometry, Path, Stroke, Text};
use nice_plug_iced::iced::{Color, Pixels, Point, Rectangle, Renderer, Size, Theme};

use crate::plugin::display::{RollNote, Voice};

/// Beats shown before the playhead.
pub const PAST_BEATS: f64 = 12.0;
/// Beats shown after the playhead (where answers appear as they are sampled).
pub const AHEAD_BEATS: f64 = 12.0;
/// Width of the pitch labels at the left, in logical pixels.
const LABEL_WIDTH_PX: f32 = 30.0;
/// A sounding phrase note is drawn to the playhead; a sounding answer note at least this long.
const OPEN_ANSWER_NOTE_BEATS: f64 = 0.25;

/// The phrase's colour: a pure, saturated blue, so tests find it in screenshots.
pub const PHRASE_COLOR: Color = Color::from_rgb8(0x40, 0xC4, 0xFF);
/// The answer's colour: a pure, saturated orange.
pub const ANSWER_COLOR: Color = Color::from_rgb8(0xFF, 0x91, 0x00);
const BACKGROUND: Color = Color::from_rgb8(0x1C, 0x1D, 0x22);
const BLACK_KEY_ROW: Color = Color::from_rgb8(0x17, 0x18, 0x1C);
const BEAT_LINE: Color = Color::from_rgb8(0x2E, 0x30, 0x38);
const BAR_LINE: Color = Color::from_rgb8(0x5A, 0x5E, 0x6E);
const PLAYHEAD: Color = Color::from_rgb8(0xF0, 0xF0, 0xF0);
const LABEL: Color = Color::from_rgb8(0x9A, 0x9E, 0xAE);

/// One frame of the roll.
pub struct RollView {
    /// The notes to draw (any outside the view are skipped).
    pub notes: Vec<RollNote>,
    /// The playhead in song beats.
    pub playhead_beat: f64,
    /// Quarter-note beats per bar, for the bar lines.
    pub beats_per_bar: f64,
    /// The lowest and highest rows drawn (MIDI keys).
    pub keys: (u8, u8),
}

/// Where beats and keys fall in the roll's bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RollGeometry {
    /// Size of the roll in logical pixels.
    pub size: (f32, f32),
    /// The first beat shown, at the left edge of the notes area.
    pub first_beat: f64,
    /// The lowest and highest keys shown.
    pub keys: (u8, u8),
}

impl RollGeometry {
    /// The x of a song beat.
    pub fn x(&self, beat: f64) -> f32 {
        let width = self.size.0 - LABEL_WIDTH_PX;
        LABEL_WIDTH_PX + ((beat - self.first_beat) / (PAST_BEATS + AHEAD_BEATS)) as f32 * width
    }

    /// Height of one key's row.
    pub fn row_height(&self) -> f32 {
        self.size.1 / (self.keys.1 - self.keys.0 + 1) as f32
    }

    /// The top y of a key's row (high keys at the top).
    pub fn row_top(&self, key: u8) -> f32 {
        (self.keys.1 - key.clamp(self.keys.0, self.keys.1)) as f32 * self.row_height()
    }
}

/// The keys to draw: the answer's range, widened to every note in view and to two octaves.
pub fn key_range(notes: &[RollNote], answer_range: (u8, u8)) -> (u8, u8) {
    const MIN_KEYS: u8 = 24;
    let low = notes.iter().map(|note| note.key).chain([answer_range.0]).min().unwrap_or(answer_range.0);
    let high = notes.iter().map(|note| note.key).chain([answer_range.1]).max().unwrap_or(answer_range.1);
    let missing = MIN_KEYS.saturating_sub(high - low);
    (low.saturating_sub(missing / 2), high.saturating_add(missing - missing / 2).min(127))
}

fn is_black_key(key: u8) -> bool {
    matches!(key % 12, 1 | 3 | 6 | 8 | 10)
}

impl<Message> canvas::Program<Message> for RollView {
    type State = ();

    fn draw(&self, _state: &(), renderer: &Renderer, _theme: &Theme, bounds: Rectangle, _cursor: Cursor) -> Vec<Geometry> {
        let mut frame = Frame::new(renderer, bounds.size());
        let geometry = RollGeometry { size: (bounds.width, bounds.height), first_beat: self.playhead_beat - PAST_BEATS, keys: self.keys };
        frame.fill_rectangle(Point::ORIGIN, bounds.size(), BACKGROUND);
        self.draw_rows(&mut frame, &geometry);
        self.draw_grid(&mut frame, &geometry);
        for note in &self.notes {
            self.draw_note(&mut frame, &geometry, note);
        }
        let playhead_x = geometry.x(self.playhead_beat);
        let playhead = Path::line(Point::new(playhead_x, 0.0), Point::new(playhead_x, bounds.height));
        frame.stroke(&playhead, Stroke::default().with_color(PLAYHEAD).with_width(2.0));
        vec![frame.into_geometry()]
    }
}

impl RollView {
    fn draw_rows(&self, frame: &mut Frame, geometry: &RollGeometry) {
        let width = geometry.size.0;
        for key in self.keys.0..=self.keys.1 {
            let top = geometry.row_top(key);
            if is_black_key(key) {
                frame.fill_rectangle(Point::new(LABEL_WIDTH_PX, top), Size::new(width - LABEL_WIDTH_PX, geometry.row_height()), BLACK_KEY_ROW);
            }
            if key % 12 == 0 {
                frame.fill_text(Text {
                    content: format!("C{}", key as i32 / 12 - 1),
                    position: Point::new(2.0, top + geometry.row_height() - 11.0),
                    color: LABEL,
                    size: Pixels(10.0),
                    ..Text::default()
                });
            }
        }
    }

    fn draw_grid(&self, frame: &mut Frame, geometry: &RollGeometry) {
        let first = geometry.first_beat.ceil() as i64;
        let last = (geometry.first_beat + PAST_BEATS + AHEAD_BEATS).floor() as i64;
        let beats_per_bar = self.beats_per_bar.max(0.25);
        for beat in first..=last {
            let x = geometry.x(beat as f64);
            let on_bar = (beat as f64 / beats_per_bar).fract().abs() < 1e-6;
            let (color, width) = if on_bar { (BAR_LINE, 1.5) } else { (BEAT_LINE, 1.0) };
            frame.stroke(&Path::line(Point::new(x, 0.0), Point::new(x, geometry.size.1)), Stroke::default().with_color(color).with_width(width));
        }
    }

    fn draw_note(&self, frame: &mut Frame, geometry: &RollGeometry, note: &RollNote) {
        let (color, end_beat) = match note.voice {
            Voice::Phrase => (PHRASE_COLOR, note.end_beat.unwrap_or(self.playhead_beat)),
            Voice::Answer => (ANSWER_COLOR, note.end_beat.unwrap_or(note.start_beat + OPEN_ANSWER_NOTE_BEATS)),
        };
        let left = geometry.x(note.start_beat).max(LABEL_WIDTH_PX);
        let right = geometry.x(end_beat.max(note.start_beat + 1.0 / 32.0)).min(geometry.size.0);
        if right <= left {
            return;
        }
        let height = (geometry.row_height() - 1.0).max(1.0);
        frame.fill_rectangle(Point::new(left, geometry.row_top(note.key)), Size::new(right - left, height), color);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_range_covers_the_answer_range_every_note_and_two_octaves() {
        let note = |key| RollNote { voice: Voice::Phrase, key, velocity: 90, start_beat: 0.0, end_beat: None };
        assert_eq!(key_range(&[], (36, 96)), (36, 96));
        assert_eq!(key_range(&[note(30), note(100)], (36, 96)), (30, 100));
        assert_eq!(key_range(&[], (60, 62)), (49, 73), "narrow ranges widen to two octaves");
    }

    #[test]
    fn the_playhead_sits_past_beats_in_and_high_keys_are_drawn_on_top() {
        let geometry = RollGeometry { size: (LABEL_WIDTH_PX + 240.0, 100.0), first_beat: 8.0, keys: (60, 69) };
        assert_eq!(geometry.x(8.0 + PAST_BEATS), LABEL_WIDTH_PX + 240.0 * (PAST_BEATS / (PAST_BEATS + AHEAD_BEATS)) as f32);
        assert_eq!((geometry.row_height(), geometry.row_top(69), geometry.row_top(60)), (10.0, 0.0, 90.0));
    }
}
