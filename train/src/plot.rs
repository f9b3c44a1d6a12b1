//! Training curves as a PNG: training loss (blue), validation NLL (red) and the unigram
//! baseline (grey) per epoch, in nats per token. No text is drawn, so no font is needed.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::checkpoint::EpochMetrics;

const WIDTH_PIXELS: u32 = 800;
const HEIGHT_PIXELS: u32 = 480;
const MARGIN_PIXELS: u32 = 20;

/// Draws the curves of `history` into `path`.
pub fn plot_curves(path: &Path, history: &[EpochMetrics], unigram_nll: f64) -> Result<()> {
    let root = BitMapBackend::new(path, (WIDTH_PIXELS, HEIGHT_PIXELS)).into_drawing_area();
    let fail = |error: &dyn std::fmt::Display| anyhow!("{}: cannot draw curves: {error}", path.display());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let values = history.iter().flat_map(|m| [m.train_loss, m.valid_nll]).chain([unigram_nll]);
    let (low, high) = values.fold((f64::INFINITY, 0.0f64), |(low, high), v| (low.min(v), high.max(v)));
    let epochs = history.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .margin(MARGIN_PIXELS)
        .build_cartesian_2d(0.0..epochs + 1.0, (low * 0.9).max(0.0)..high * 1.05)
        .map_err(|e| fail(&e))?;
    chart.configure_mesh().disable_x_mesh().x_labels(0).y_labels(0).draw().map_err(|e| fail(&e))?;
    let line = |pick: fn(&EpochMetrics) -> f64| history.iter().map(move |m| (m.epoch as f64, pick(m)));
    chart.draw_series(LineSeries::new(line(|m| m.train_loss), BLUE.stroke_width(2))).map_err(|e| fail(&e))?;
    chart.draw_series(LineSeries::new(line(|m| m.valid_nll), RED.stroke_width(2))).map_err(|e| fail(&e))?;
    let unigram = [(0.0, unigram_nll), (epochs + 1.0, unigram_nll)];
    chart.draw_series(LineSeries::new(unigram, RGBColor(150, 150, 150).stroke_width(1))).map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
