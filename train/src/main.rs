//! `continuo-train`: train, evaluate and benchmark Continuo models (run through `cargo xtask`).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use continuo_train::eval::{eval, EvalOptions};
use continuo_train::options::TrainOptions;
use continuo_train::pointer::{fit_pointer_command, FitPointerOptions};
use continuo_train::sizes::{sizes, table, SizesOptions};
use continuo_train::train::{train, Start};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Train and evaluate Continuo models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the training options costs nothing worth boxing them.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Train a WaveNet (or the LSTM baseline) on a folder of .mid files, from random weights or
    /// (--init) from a model file: fine-tuning.
    Train {
        /// Continue the run in this folder from its last checkpoint (other options are ignored:
        /// the run keeps the ones it started with, and a run begun with --init goes on from its
        /// checkpoint, not from the --init file).
        #[arg(long, conflicts_with_all = ["data", "out"])]
        resume: Option<PathBuf>,
        /// With --resume: train on until this epoch (a run's own limit otherwise).
        #[arg(long, requires = "resume")]
        until_epoch: Option<usize>,
        /// With --resume: train on until this many minutes of training in all, the time before
        /// included (a run's own --max-minutes otherwise, which would end a resumed run that has
        /// spent it after one epoch).
        #[arg(long, requires = "resume")]
        until_minutes: Option<f64>,
        #[command(flatten)]
        options: Option<TrainOptions>,
    },
    /// Score a model on a folder of .mid files.
    Eval(EvalOptions),
    /// Fit a WaveNet's repeat pointer (the logit bonus for repeating what came after an earlier
    /// occurrence of the last tokens) on the training split of folders of .mid files.
    FitPointer(FitPointerOptions),
    /// Measure model files against each other: validation NLL, engine step time, parameters and
    /// file size, as a Markdown table and a plot of NLL against step time.
    Sizes(SizesOptions),
    /// Training throughput on random tokens (the protocol of shared/tools/wavenet_torch.py).
    BenchThroughput {
        #[arg(long, default_value_t = 16)]
        batch: usize,
        #[arg(long, default_value_t = 1024)]
        seq: usize,
        #[arg(long, default_value_t = 5)]
        steps: usize,
    },
}

fn main() -> Result<()> {
    continuo_train::allocator::keep_freed_buffers();
    match Cli::parse().command {
        Command::Train { resume, until_epoch, until_minutes, options } => {
            let start = match resume {
                Some(run) => Start::Resume { run, until_epoch, until_minutes },
                None => Start::New(options.expect("clap requires --data and --out without --resume")),
            };
            train(start, |line| eprintln!("{line}"))?;
        }
        Command::Eval(options) => println!("{}", eval(&options)?),
        Command::FitPointer(options) => {
            let fit = fit_pointer_command(&options)?;
            println!("{fit}\nwrote {}", options.out.display());
        }
        Command::Sizes(options) => {
            println!("{}", table(&sizes(&options)?));
            eprintln!("drew {}", options.plot.display());
        }
        Command::BenchThroughput { batch, seq, steps } => {
            let device = burn::prelude::Device::flex();
            let throughput = continuo_train::bench::measure(Default::default(), batch, seq, steps, &device, |step, seconds| {
                eprintln!("step {step} {seconds:.3}s")
            })?;
            println!(
                "RESULT burn-flex batch={batch} seq={seq} s/step={:.3} tokens/s={:.0}",
                throughput.seconds_per_step, throughput.tokens_per_second
            );
        }
    }
    Ok(())
}
