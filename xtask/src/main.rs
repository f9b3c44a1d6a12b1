//! `cargo xtask`: the project's commands. Bundling goes to nice-plug-xtask; training and
//! evaluation run the `continuo-train` crate in release (the one profile that builds burn).

use anyhow::{bail, Result};

mod bundle_notices;
mod demo;
mod generate;
mod host_tests;
mod quantize;
mod random_model;
mod release_run;
mod system_packages;

const USAGE: &str = "usage: cargo xtask <command> [args]

commands:
  bundle continuo [--release]   build Continuo.clap and Continuo.vst3 into target/bundled
  train --data DIR --out RUN    train a model on a folder of .mid files (see `train --help`)
  train --init MODEL --data DIR --out RUN
                                fine-tune a model (the default: assets/default-model.safetensors)
  eval --model FILE --data DIR  score a model on a folder of .mid files (see `eval --help`)
  fit-pointer --model FILE --data DIR --out FILE
                                fit a model's repeat pointer on the training split
  sizes --model A --model B --data DIR --plot PNG
                                validation NLL against engine step time, as a table and a plot
  generate --model FILE --prompt phrase.mid --bars 8 -o out.mid
                                continue a phrase (see `generate --help`)
  quantize --model f32.safetensors --out int8.safetensors
                                int8 weights with per-row scales
  random-model --out FILE       a random-weight WaveNet, to try the tools before training
  baselines --data DIR          unigram and Markov baselines on the same split (see `baselines --help`)
  quality --model FILE --data DIR --out DIR
                                statistics of continuations of held-out phrases vs the real ones
  demo [--seed N]               play a phrase into the real plugin; write demo/answer.mid and .wav
  test                          the whole test suite: bundles, host tests (CLAP, VST3), cargo test --workspace";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "bundle" | "bundle-universal" => {
            nice_plug_xtask::main_with_args("cargo xtask", std::iter::once(command).chain(rest))?;
            let root = std::env::current_dir()?;
            bundle_notices::add_to_bundles(&root, &host_tests::target_dir().join("bundled"))?;
            Ok(())
        }
        "known-packages" => nice_plug_xtask::main_with_args("cargo xtask", std::iter::once(command).chain(rest)),
        "train" | "eval" | "fit-pointer" | "sizes" => run_trainer(&command, &rest),
        "generate" => generate::run(&rest),
        "quantize" => quantize::run(&rest),
        "random-model" => random_model::run(&rest),
        "baselines" | "quality" => release_run::run_package("continuo-analysis", &command, &rest),
        "test" => host_tests::test(),
        "demo" => demo::demo(&rest),
        "" | "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command '{other}'\n\n{USAGE}"),
    }
}

/// Runs a `continuo-train` subcommand, built in release.
fn run_trainer(command: &str, args: &[String]) -> Result<()> {
    release_run::run_package("continuo-train", command, args)
}
