//! `cargo xtask random-model`: a random-weight WaveNet file, to try generation, quantization and
//! the benches before a trained model exists.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use continuo::engine::random_model::random_wavenet;
use continuo::model::WaveNetConfig;

/// Write a random-weight WaveNet model file (default architecture unless told otherwise).
#[derive(Parser, Debug)]
#[command(name = "cargo xtask random-model")]
struct Args {
    /// Where to write the model.
    #[arg(long)]
    out: PathBuf,
    /// Seed of the weights.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Residual channels.
    #[arg(long, default_value_t = WaveNetConfig::default().residual_channels)]
    channels: usize,
    /// Dilated layers per stack.
    #[arg(long, default_value_t = WaveNetConfig::default().layers_per_stack)]
    layers_per_stack: usize,
}

pub fn run(args: &[String]) -> Result<()> {
    let args = Args::parse_from(std::iter::once("random-model".to_string()).chain(args.iter().cloned()));
    let config = WaveNetConfig {
        residual_channels: args.channels,
        layers_per_stack: args.layers_per_stack,
        ..WaveNetConfig::default()
    };
    random_wavenet(config, args.seed).save(&args.out).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("wrote {} (random weights, {config:?})", args.out.display());
    Ok(())
}
