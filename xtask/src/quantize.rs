//! `cargo xtask quantize`: writes the int8 version of an f32 model file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use continuo::engine::quantize::quantize;
use continuo::model::ModelFile;

/// Quantize a model's matrices to int8 (per-row scales); the engine loads either file.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask quantize")]
struct Args {
    /// The f32 model file.
    #[arg(long)]
    model: PathBuf,
    /// Where to write the int8 model file.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: &[String]) -> Result<()> {
    let args = Args::parse_from(std::iter::once("quantize".to_string()).chain(args.iter().cloned()));
    let model = ModelFile::load(&args.model)?;
    let int8 = quantize(&model);
    int8.save(&args.out).with_context(|| format!("cannot write {}", args.out.display()))?;
    let size = |path: &PathBuf| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{} ({} bytes) -> {} ({} bytes, int8)",
        args.model.display(),
        size(&args.model),
        args.out.display(),
        size(&args.out)
    );
    Ok(())
}
