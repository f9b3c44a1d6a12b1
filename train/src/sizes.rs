//! `continuo-train sizes`: the trade between a model's size and its quality, measured on the
//! machine that runs it: for each model file, its validation NLL (scored by the inference engine,
//! as `eval` does), the time of one engine step with the kernel this CPU gets, its parameters and
//! its file size; printed as a Markdown table and drawn as NLL against step time.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use continuo::engine::timing_input::{timing_token, WARM_UP_TOKENS};
use continuo::engine::{Engine, Kernel};
use continuo::model::{Architecture, ModelFile, WaveNetConfig};
use continuo_analysis::plot_font;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use crate::corpus::{is_validation, read_corpora, Piece};
use crate::eval::score_pieces;
use crate::plot::{LABEL_FONT_PIXELS, MARGIN_PIXELS, TITLE_FONT_PIXELS, WIDTH_PIXELS, X_LABEL_AREA_PIXELS, Y_LABEL_AREA_PIXELS};

/// Steps in one timed batch.
const STEPS_PER_BATCH: usize = 500;
/// Timed batches; the fastest is reported, as the one least disturbed on a shared machine
/// (whose hypervisor takes whole milliseconds now and then).
const TIMED_BATCHES: usize = 200;

/// The plugin's budget for one engine step, microseconds (issue 12: the new default's limit).
pub const STEP_BUDGET_MICROSECONDS: f64 = 30.0;

const HEIGHT_PIXELS: u32 = 560;
const POINT_RADIUS_PIXELS: i32 = 6;
const MODEL_COLOUR: RGBColor = RGBColor(40, 90, 200);
const BUDGET_COLOUR: RGBColor = RGBColor(210, 40, 40);

/// `continuo-train sizes` options.
#[derive(clap::Args, Clone, Debug)]
pub struct SizesOptions {
    /// A model file to measure (repeat for each size).
    #[arg(long, required = true)]
    pub model: Vec<PathBuf>,
    /// A name for each model in the plot and the table, in the order of `--model` (default: its
    /// shape, which several runs may share).
    #[arg(long)]
    pub label: Vec<String>,
    /// Folder of .mid files whose validation split scores the models (repeat for several).
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    /// Where to draw the plot (PNG).
    #[arg(long)]
    pub plot: PathBuf,
}

/// One model's measurements.
#[derive(Clone, Debug, Serialize)]
pub struct SizeReport {
    pub model: String,
    /// What the plot calls it.
    pub label: String,
    /// Residual channels, skip channels, stacks x layers.
    pub shape: String,
    pub parameters: usize,
    pub file_bytes: u64,
    pub valid_nll: f64,
    pub top1_accuracy: f64,
    /// Fastest batch's time per engine step, microseconds.
    pub step_microseconds: f64,
    /// The kernel the step was timed with.
    pub kernel: &'static str,
}

/// Measures every model, draws the plot and returns the reports in the order given.
pub fn sizes(options: &SizesOptions) -> Result<Vec<SizeReport>> {
    if !options.label.is_empty() && options.label.len() != options.model.len() {
        bail!(
            "{} labels for {} models: give one --label per --model, or none",
            options.label.len(),
            options.model.len()
        );
    }
    let corpus = read_corpora(&options.data, false, |warning| eprintln!("{warning}"))?;
    let validation: Vec<Piece> = corpus.pieces.into_iter().filter(|piece| is_validation(&piece.name)).collect();
    let measured = options.model.iter().map(|path| measure(path, &validation)).collect::<Result<Vec<_>>>()?;
    let (mut reports, mut engines): (Vec<SizeReport>, Vec<Engine>) = measured.into_iter().unzip();
    for (report, step) in reports.iter_mut().zip(fastest_steps_microseconds(&mut engines)) {
        report.step_microseconds = step;
    }
    for (report, label) in reports.iter_mut().zip(&options.label) {
        report.label = label.clone();
    }
    draw(&options.plot, &reports)?;
    Ok(reports)
}

/// A model's report on the validation pieces (its step time still to come) and its engine.
fn measure(path: &Path, validation: &[Piece]) -> Result<(SizeReport, Engine)> {
    let model = ModelFile::load(path)?;
    let Architecture::WaveNet(config) = model.meta.architecture else {
        bail!("{}: not a WaveNet (the engine runs WaveNets only)", path.display());
    };
    let mut engine = Engine::from_model_file(&model, &path.display().to_string())?;
    let scored = score_pieces(&mut engine, validation, false);
    let shape = shape(&config);
    let report = SizeReport {
        model: path.display().to_string(),
        label: shape.clone(),
        shape,
        parameters: model
            .tensors
            .iter()
            .filter(|(name, _)| !name.ends_with("_scale"))
            .map(|(_, tensor)| tensor.shape.iter().product::<usize>())
            .sum(),
        file_bytes: std::fs::metadata(path).with_context(|| path.display().to_string())?.len(),
        valid_nll: scored.nll_per_token(),
        top1_accuracy: scored.accuracy(),
        step_microseconds: f64::NAN,
        kernel: Kernel::detect().name(),
    };
    Ok((report, engine))
}

/// "C64 S128 2x10": residual and skip channels, stacks by layers per stack.
fn shape(config: &WaveNetConfig) -> String {
    format!("C{} S{} {}x{}", config.residual_channels, config.skip_channels, config.stacks, config.layers_per_stack)
}

/// Each engine's fastest batch, the batches taken in turn (one of each engine per round), so
/// that a spell of contention on a shared machine slows one batch of every model alike instead of
/// all the batches of one.
fn fastest_steps_microseconds(engines: &mut [Engine]) -> Vec<f64> {
    let mut checksum = 0.0f32;
    for engine in engines.iter_mut() {
        for index in 0..WARM_UP_TOKENS {
            checksum += engine.step(timing_token(index))[0];
        }
    }
    let mut fastest = vec![f64::INFINITY; engines.len()];
    for round in 0..TIMED_BATCHES {
        let first = WARM_UP_TOKENS + round * STEPS_PER_BATCH;
        for (engine, fastest) in engines.iter_mut().zip(&mut fastest) {
            let started = Instant::now();
            for index in first..first + STEPS_PER_BATCH {
                checksum += std::hint::black_box(engine.step(timing_token(index))[0]);
            }
            *fastest = fastest.min(started.elapsed().as_secs_f64() * 1e6 / STEPS_PER_BATCH as f64);
        }
    }
    std::hint::black_box(checksum);
    fastest
}

/// The Markdown table of the reports.
pub fn table(reports: &[SizeReport]) -> String {
    let mut lines = vec![
        "| model | path | shape | parameters | file size | validation NLL (nats/token) | top-1 | int8 step (µs) | kernel |".to_string(),
        "|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    lines.extend(reports.iter().map(|report| {
        format!(
            "| {} | `{}` | {} | {} | {:.2} MB | {:.4} | {:.1}% | {:.1} | {} |",
            report.label,
            report.model,
            report.shape,
            report.parameters,
            report.file_bytes as f64 / 1e6,
            report.valid_nll,
            100.0 * report.top1_accuracy,
            report.step_microseconds,
            report.kernel
        )
    }));
    lines.join("\n")
}

fn draw(path: &Path, reports: &[SizeReport]) -> Result<()> {
    plot_font::register();
    let root = BitMapBackend::new(path, (WIDTH_PIXELS, HEIGHT_PIXELS)).into_drawing_area();
    draw_on(&root, reports).map_err(|error| anyhow!("{}: cannot draw the plot: {error}", path.display()))?;
    root.present().map_err(|error| anyhow!("{}: cannot write the plot: {error}", path.display()))
}

fn draw_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    reports: &[SizeReport],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let slowest = reports.iter().map(|report| report.step_microseconds).fold(STEP_BUDGET_MICROSECONDS, f64::max);
    let (best, worst) = reports.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), report| {
        (low.min(report.valid_nll), high.max(report.valid_nll))
    });
    let padding = ((worst - best) * 0.15).max(0.02);
    let x_end = slowest * 1.15;
    let kernel = reports.first().map_or("", |report| report.kernel);
    let mut chart = ChartBuilder::on(root)
        .caption("Model size versus quality", (plot_font::FAMILY, TITLE_FONT_PIXELS))
        .margin(MARGIN_PIXELS)
        .x_label_area_size(X_LABEL_AREA_PIXELS)
        .y_label_area_size(Y_LABEL_AREA_PIXELS)
        .build_cartesian_2d(0.0..x_end, (best - padding)..(worst + padding))?;
    chart
        .configure_mesh()
        .x_desc(format!("time of one int8 engine step, µs ({kernel} kernel)"))
        .y_desc("validation NLL, nats per token")
        .label_style((plot_font::FAMILY, LABEL_FONT_PIXELS))
        .axis_desc_style((plot_font::FAMILY, LABEL_FONT_PIXELS))
        .draw()?;
    chart
        .draw_series(reports.iter().map(|report| {
            Circle::new((report.step_microseconds, report.valid_nll), POINT_RADIUS_PIXELS, MODEL_COLOUR.filled())
        }))?
        .label("model: validation NLL against step time")
        .legend(|(x, y)| Circle::new((x + 10, y), POINT_RADIUS_PIXELS, MODEL_COLOUR.filled()));
    chart.draw_series(reports.iter().map(|report| {
        // Labels of points in the right half go to their left, so none runs off the chart.
        let side = if report.step_microseconds > 0.5 * x_end { HPos::Right } else { HPos::Left };
        Text::new(
            format!("  {}  {:.3}  ", report.label, report.valid_nll),
            (report.step_microseconds, report.valid_nll),
            (plot_font::FAMILY, LABEL_FONT_PIXELS).into_font().color(&BLACK).pos(Pos::new(side, VPos::Bottom)),
        )
    }))?;
    chart
        .draw_series(LineSeries::new(
            [(STEP_BUDGET_MICROSECONDS, best - padding), (STEP_BUDGET_MICROSECONDS, worst + padding)],
            BUDGET_COLOUR.stroke_width(2),
        ))?
        .label(format!("step budget, {STEP_BUDGET_MICROSECONDS} µs"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BUDGET_COLOUR.stroke_width(2)));
    chart
        .configure_series_labels()
        .label_font((plot_font::FAMILY, LABEL_FONT_PIXELS))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(shape: &str, step_microseconds: f64, valid_nll: f64) -> SizeReport {
        SizeReport {
            model: format!("{shape}.safetensors"),
            label: format!("run {shape}"),
            shape: shape.to_string(),
            parameters: 1000,
            file_bytes: 2_500_000,
            valid_nll,
            top1_accuracy: 0.5,
            step_microseconds,
            kernel: "portable",
        }
    }

    #[test]
    fn the_table_has_a_row_per_model_with_its_figures() {
        let table = table(&[report("C64 S128 2x10", 7.44, 1.61331), report("C96 S192 2x10", 14.0, 1.55)]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(
            lines[2].contains("C64 S128 2x10") && lines[2].contains("1.6133") && lines[2].contains("7.4"),
            "{}",
            lines[2]
        );
        assert!(lines[3].contains("2.50 MB") && lines[3].contains("14.0"), "{}", lines[3]);
    }

    #[test]
    fn labels_must_name_every_model_or_none() {
        let options = SizesOptions {
            model: vec!["a.safetensors".into(), "b.safetensors".into()],
            label: vec!["only one".to_string()],
            data: vec!["songs".into()],
            plot: "sizes.png".into(),
        };
        let error = sizes(&options).unwrap_err().to_string();
        assert!(error.contains("1 labels for 2 models"), "{error}");
    }

    #[test]
    fn the_plot_is_drawn_with_its_points_and_budget_line() {
        plot_font::register();
        let mut pixels = vec![0u8; (WIDTH_PIXELS * HEIGHT_PIXELS * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH_PIXELS, HEIGHT_PIXELS)).into_drawing_area();
            draw_on(&root, &[report("C64 S128 2x10", 7.4, 1.61), report("C128 S256 2x10", 24.0, 1.50)]).unwrap();
            root.present().unwrap();
        }
        let count =
            |colour: RGBColor| pixels.chunks_exact(3).filter(|pixel| *pixel == [colour.0, colour.1, colour.2]).count();
        let (budget_line, points) = (count(BUDGET_COLOUR), count(MODEL_COLOUR));
        assert!(budget_line > 2 * 300 && points > 2 * 80, "{budget_line} budget-line pixels, {points} point pixels");
    }
}
