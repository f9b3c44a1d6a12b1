//! Training curves as a PNG a reader can read: a title, epochs and nats per token on labelled
//! axes with values, and a legend. The y range follows the training and validation curves; a
//! reference level (the unigram baseline, the `--init` model) is drawn as a dashed line only
//! where it fits without squeezing the curves, and named with its value in the legend either way.

use std::path::Path;

use anyhow::{anyhow, Result};
use continuo_analysis::plot_font;
use plotters::prelude::*;

use crate::checkpoint::EpochMetrics;

// The look every chart of the trainer shares (the curves here, the size comparison in `sizes`).
pub(crate) const WIDTH_PIXELS: u32 = 900;
const HEIGHT_PIXELS: u32 = 540;
pub(crate) const MARGIN_PIXELS: u32 = 16;
pub(crate) const TITLE_FONT_PIXELS: u32 = 24;
pub(crate) const LABEL_FONT_PIXELS: u32 = 16;
pub(crate) const X_LABEL_AREA_PIXELS: u32 = 48;
pub(crate) const Y_LABEL_AREA_PIXELS: u32 = 72;
/// How far above the curves' highest value a reference level may lie and still be drawn: the
/// curves keep at least 1/1.3 of the chart's height.
const REFERENCE_HEADROOM: f64 = 1.3;
/// Empty space above and below the curves, as a share of their span.
const CURVE_PADDING_SHARE: f64 = 0.08;

const TRAIN_COLOUR: RGBColor = RGBColor(40, 90, 200);
const VALID_COLOUR: RGBColor = RGBColor(210, 40, 40);
const UNIGRAM_COLOUR: RGBColor = RGBColor(110, 110, 160);
const INIT_COLOUR: RGBColor = RGBColor(30, 150, 60);

/// The levels the curves are compared with.
#[derive(Clone, Copy, Debug)]
pub struct Baselines {
    /// Validation NLL of the unigram baseline (train-split frequencies), nats per token.
    pub unigram_nll: f64,
    /// Validation NLL of the `--init` model before training, when the run started from one.
    pub init_nll: Option<f64>,
}

/// A horizontal reference line with its legend text.
struct Reference {
    name: &'static str,
    nll: f64,
    colour: RGBColor,
}

/// Draws the curves of `history` into `path`.
pub fn plot_curves(path: &Path, history: &[EpochMetrics], baselines: &Baselines) -> Result<()> {
    plot_font::register();
    let root = BitMapBackend::new(path, (WIDTH_PIXELS, HEIGHT_PIXELS)).into_drawing_area();
    draw_curves(&root, history, baselines).map_err(|error| anyhow!("{}: cannot draw curves: {error}", path.display()))?;
    root.present().map_err(|error| anyhow!("{}: cannot write curves: {error}", path.display()))
}

fn draw_curves<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    history: &[EpochMetrics],
    baselines: &Baselines,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let references = references(baselines);
    let (low, high) = y_range(history, &references);
    let last_epoch = history.last().map_or(1, |metrics| metrics.epoch).max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .margin(MARGIN_PIXELS)
        .caption("Training curves", (plot_font::FAMILY, TITLE_FONT_PIXELS))
        .x_label_area_size(X_LABEL_AREA_PIXELS)
        .y_label_area_size(Y_LABEL_AREA_PIXELS)
        .build_cartesian_2d(0.0..last_epoch + 0.5, low..high)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("nats per token")
        .x_label_formatter(&|epoch| format!("{epoch:.0}"))
        .y_label_formatter(&|nll| format!("{nll:.2}"))
        .label_style((plot_font::FAMILY, LABEL_FONT_PIXELS))
        .axis_desc_style((plot_font::FAMILY, LABEL_FONT_PIXELS))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let line = |pick: fn(&EpochMetrics) -> f64| history.iter().map(move |m| (m.epoch as f64, pick(m)));
    for (name, pick, colour) in [
        ("training loss", (|m: &EpochMetrics| m.train_loss) as fn(&EpochMetrics) -> f64, TRAIN_COLOUR),
        ("validation NLL", |m: &EpochMetrics| m.valid_nll, VALID_COLOUR),
    ] {
        chart
            .draw_series(LineSeries::new(line(pick), colour.stroke_width(2)).point_size(3))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    for reference in references {
        let fits = reference.nll <= high;
        let label = match fits {
            true => format!("{} {:.3}", reference.name, reference.nll),
            false => format!("{} {:.3} (above the chart)", reference.name, reference.nll),
        };
        let points = match fits {
            true => dashes(0.0, last_epoch + 0.5, reference.nll),
            false => Vec::new(),
        };
        let colour = reference.colour;
        chart
            .draw_series(points.into_iter().map(|dash| PathElement::new(dash, colour.stroke_width(2))))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((plot_font::FAMILY, LABEL_FONT_PIXELS))
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()
}

fn references(baselines: &Baselines) -> Vec<Reference> {
    let unigram = Reference { name: "unigram baseline", nll: baselines.unigram_nll, colour: UNIGRAM_COLOUR };
    let init =
        baselines.init_nll.map(|nll| Reference { name: "--init model before training", nll, colour: INIT_COLOUR });
    std::iter::once(unigram).chain(init).collect()
}

/// The y range: the curves with some padding, stretched to take in each reference level that
/// lies no higher than `REFERENCE_HEADROOM` times the curves' top.
fn y_range(history: &[EpochMetrics], references: &[Reference]) -> (f64, f64) {
    let mut curves = history.iter().flat_map(|m| [m.train_loss, m.valid_nll]).filter(|v| v.is_finite());
    let span = |values: &mut dyn Iterator<Item = f64>| {
        values.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| (low.min(v), high.max(v)))
    };
    let (mut low, mut high) = span(&mut curves);
    if low > high {
        (low, high) = span(&mut references.iter().map(|reference| reference.nll));
    }
    let curves_top = high;
    for reference in references.iter().filter(|reference| reference.nll <= curves_top * REFERENCE_HEADROOM) {
        (low, high) = (low.min(reference.nll), high.max(reference.nll));
    }
    let padding = ((high - low) * CURVE_PADDING_SHARE).max(0.01);
    ((low - padding).max(0.0), high + padding)
}

/// Dashes of a horizontal line at `y` from `x_start` to `x_end`: 40 dashes with gaps between.
fn dashes(x_start: f64, x_end: f64, y: f64) -> Vec<Vec<(f64, f64)>> {
    const DASHES: usize = 40;
    let step = (x_end - x_start) / DASHES as f64;
    (0..DASHES).map(|dash| vec![(x_start + dash as f64 * step, y), (x_start + (dash as f64 + 0.6) * step, y)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize, train_loss: f64, valid_nll: f64) -> EpochMetrics {
        let (valid_accuracy, tokens_per_second, elapsed_seconds) = (0.5, 1.0, 1.0);
        EpochMetrics { epoch, steps: epoch * 10, train_loss, valid_nll, valid_accuracy, tokens_per_second, elapsed_seconds }
    }

    fn reference(nll: f64) -> Reference {
        Reference { name: "r", nll, colour: BLACK }
    }

    #[test]
    fn a_far_unigram_level_does_not_squeeze_the_curves() {
        let history = [epoch(1, 2.4, 2.2), epoch(2, 1.9, 1.8)];
        let (low, high) = y_range(&history, &[reference(4.66)]);
        assert!(low > 1.6 && low < 1.8 && high > 2.4 && high < 2.6, "{low}..{high}");
        let (_, with_near) = y_range(&history, &[reference(2.8)]);
        assert!(with_near > 2.8, "a level within the headroom is taken in: {with_near}");
    }

    /// Width and height from a PNG's header (IHDR, big-endian, bytes 16..24).
    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        (word(16), word(20))
    }

    #[test]
    fn the_chart_has_its_lines_text_and_size() {
        let history: Vec<EpochMetrics> = (1..=6).map(|e| epoch(e, 2.5 - 0.1 * e as f64, 2.4 - 0.08 * e as f64)).collect();
        let baselines = Baselines { unigram_nll: 4.66, init_nll: Some(2.45) };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        plot_curves(&path, &history, &baselines).unwrap();
        assert_eq!(png_size(&std::fs::read(&path).unwrap()), (WIDTH_PIXELS, HEIGHT_PIXELS));

        plot_font::register();
        let mut pixels = vec![0u8; (WIDTH_PIXELS * HEIGHT_PIXELS * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH_PIXELS, HEIGHT_PIXELS)).into_drawing_area();
            draw_curves(&root, &history, &baselines).unwrap();
            root.present().unwrap();
        }
        let count = |colour: RGBColor| pixels.chunks_exact(3).filter(|p| (p[0], p[1], p[2]) == (colour.0, colour.1, colour.2)).count();
        for colour in [TRAIN_COLOUR, VALID_COLOUR, INIT_COLOUR] {
            assert!(count(colour) > 100, "{colour:?}: {} pixels", count(colour));
        }
        assert!(count(UNIGRAM_COLOUR) < 100, "the unigram level is above the chart, only in the legend");
        let dark = pixels.chunks_exact(3).filter(|p| p.iter().all(|&c| c < 80)).count();
        assert!(dark > 2000, "axes, numbers and text: {dark} dark pixels");
    }
}
