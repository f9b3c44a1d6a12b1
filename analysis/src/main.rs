//! `continuo-analysis`: baselines for the model card and music-quality measurements.

mod baselines_command;
mod quality_command;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "continuo-analysis", about = "Baselines and music-quality measurements for Continuo")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the unigram and variable-order Markov baselines and score held-out pieces.
    Baselines(baselines_command::BaselinesArgs),
    /// Continue held-out phrases with a model and compare their statistics with the real continuations.
    Quality(quality_command::QualityArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Baselines(args) => baselines_command::run(&args),
        Command::Quality(args) => quality_command::run(&args),
    }
}
