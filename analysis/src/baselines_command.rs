//! `baselines`: the unigram and Markov figures of MODEL.md and BENCHMARKS.md.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use continuo::corpus::Split;
use continuo_analysis::baseline::{evaluate, Evaluation, ScoredPiece};
use continuo_analysis::dataset::{read_pieces, Piece, Selection};
use continuo_analysis::markov::{MarkovModel, Smoothing};
use serde_json::json;

#[derive(clap::Args)]
pub struct BaselinesArgs {
    /// Folder of .mid files (repeatable): train on its train split, score its validation split.
    #[arg(long = "data", required = true)]
    data: Vec<PathBuf>,
    /// Score this folder instead of the validation split (training then uses every --data file).
    #[arg(long)]
    test: Option<PathBuf>,
    /// With --test: choose the Markov order on this folder (else on the test folder itself).
    #[arg(long)]
    valid: Option<PathBuf>,
    /// Longest Markov context, in tokens; every order up to it is scored.
    #[arg(long, default_value_t = 16)]
    max_order: usize,
    /// `witten-bell` (PPM-C escapes), `modified-discount` (count-dependent discounts estimated
    /// from the data) or `discount=D` (absolute discounting, 0 < D < 1).
    #[arg(long, default_value = "modified-discount", value_parser = parse_smoothing)]
    smoothing: Smoothing,
    /// Also print nats per quarter-note frame (total nats / total piece length in beats).
    #[arg(long)]
    frames: bool,
    /// Write every figure to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_smoothing(text: &str) -> Result<Smoothing, String> {
    match text {
        "witten-bell" => return Ok(Smoothing::WittenBell),
        "modified-discount" => return Ok(Smoothing::ModifiedDiscount),
        _ => {}
    }
    let discount = text.strip_prefix("discount=").and_then(|value| value.parse::<f64>().ok());
    match discount {
        Some(d) if d > 0.0 && d < 1.0 => Ok(Smoothing::Discount(d)),
        _ => Err(format!("'{text}': expected witten-bell, modified-discount or discount=D with 0 < D < 1")),
    }
}

pub fn run(args: &BaselinesArgs) -> Result<()> {
    let started = Instant::now();
    let training_side = if args.test.is_some() { Selection::All } else { Selection::Side(Split::Train) };
    let train = read_pieces(&args.data, training_side)?;
    if train.is_empty() {
        bail!("no readable training pieces in {:?}", args.data);
    }
    let sequences: Vec<_> = train.iter().map(|piece| piece.tokens.clone()).collect();
    let model = MarkovModel::train(&sequences, args.max_order, args.smoothing);
    let train_tokens: usize = sequences.iter().map(Vec::len).sum();
    eprintln!("trained on {} pieces, {train_tokens} tokens in {:.1} s", train.len(), started.elapsed().as_secs_f64());

    let (scored_name, scored) = match &args.test {
        Some(test) => ("test", read_pieces(std::slice::from_ref(test), Selection::All)?),
        None => ("validation", read_pieces(&args.data, Selection::Side(Split::Validation))?),
    };
    if scored.is_empty() {
        bail!("no readable pieces to score");
    }
    let evaluation = evaluate(&model, &scored_pieces(&scored));
    let selection = match &args.valid {
        Some(valid) if args.test.is_some() => {
            Some(evaluate(&model, &scored_pieces(&read_pieces(std::slice::from_ref(valid), Selection::All)?)))
        }
        _ => None,
    };
    let chosen = selection.as_ref().unwrap_or(&evaluation).best_order();
    print_table(scored_name, &evaluation, chosen, args.frames);
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        let report = json!({
            "data": args.data, "test": args.test, "valid": args.valid,
            "smoothing": format!("{:?}", args.smoothing), "max_order": args.max_order,
            "train_pieces": train.len(), "train_tokens": train_tokens,
            "scored": scored_name, "chosen_order": chosen,
            "chosen_on": if selection.is_some() { "valid" } else { scored_name },
            "evaluation": evaluation, "selection_evaluation": selection,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}

fn scored_pieces(pieces: &[Piece]) -> Vec<ScoredPiece<'_>> {
    pieces.iter().map(|piece| ScoredPiece { tokens: &piece.tokens, length_beats: piece.song.length_beats() }).collect()
}

/// A markdown table: one row per order, the unigram first, the chosen order marked.
fn print_table(scored_name: &str, evaluation: &Evaluation, chosen: usize, frames: bool) {
    println!(
        "{scored_name}: {} pieces, {} tokens, {:.0} beats{}",
        evaluation.pieces,
        evaluation.tokens,
        evaluation.length_beats,
        if evaluation.illegal_targets > 0 {
            format!(", {} targets the grammar rejects", evaluation.illegal_targets)
        } else {
            String::new()
        }
    );
    let frame_header = if frames { " nats/frame | masked nats/frame |" } else { "" };
    println!("| model | NLL/token | top-1 | masked NLL/token | masked top-1 |{frame_header}");
    println!("|---|---|---|---|---|{}", if frames { "---|---|" } else { "" });
    for score in &evaluation.orders {
        let name = match score.order {
            0 => "unigram (add-one)".to_string(),
            order if order == chosen => format!("Markov order {order} (chosen)"),
            order => format!("Markov order {order}"),
        };
        let tokens = evaluation.tokens as f64;
        let frame_cells = if frames {
            format!(
                " {:.3} | {:.3} |",
                score.total_nats / evaluation.length_beats,
                score.masked_total_nats / evaluation.length_beats
            )
        } else {
            String::new()
        };
        println!(
            "| {name} | {:.4} | {:.4} | {:.4} | {:.4} |{frame_cells}",
            score.total_nats / tokens,
            score.correct as f64 / tokens,
            score.masked_total_nats / tokens,
            score.masked_correct as f64 / tokens,
        );
    }
}
