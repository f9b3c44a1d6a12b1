//! `cargo run --release --no-default-features --example engine_steps -- KERNEL PRECISION STEPS`:
//! feeds the default architecture (random weights) `STEPS` tokens with one kernel (`avx512-vnni`,
//! `avx-vnni`, `avx2`, `neon` or `portable`) and precision (`int8` or `f32`), after a warm-up.
//! `--channels N` takes N residual and 2N skip channels instead of 64 and 128 (e.g. 96, the
//! larger default candidate of BENCHMARKS.md); `--copy-keys K` adds a copy head with K-wide keys.
//! Made to be counted, not timed: under
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*timed_steps*'` the
//! instructions of `timed_steps` divided by `STEPS` are the instructions of one step, the same
//! on every run (a shared, noisy machine does not change them). With `--best-of BATCHES` it also
//! times `BATCHES` batches of `STEPS` steps and prints the fastest batch's time per step: on a
//! shared machine, the batch least disturbed by other jobs.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use continuo::engine::quantize::quantize;
use continuo::engine::random_model::random_wavenet;
use continuo::engine::timing_input::{timing_token, WARM_UP_TOKENS};
use continuo::engine::{Engine, Kernel};
use continuo::model::WaveNetConfig;

/// The counted part: `steps` engine steps.
#[inline(never)]
fn timed_steps(engine: &mut Engine, first: usize, steps: usize) -> f32 {
    (first..first + steps).map(|index| black_box(engine.step(timing_token(index))[0])).sum()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(((kernel_name, precision, steps), options)) = split_arguments(&args) else {
        eprintln!("usage: engine_steps KERNEL PRECISION STEPS [--best-of BATCHES] [--channels N] [--copy-keys K]");
        eprintln!("  KERNEL: avx512-vnni, avx-vnni, avx2, neon or portable; PRECISION: int8 or f32");
        return ExitCode::FAILURE;
    };
    let Some(channels) = options.channels.parse::<usize>().ok().filter(|&channels| channels > 0) else {
        eprintln!("engine_steps: N must be a whole number above 0, not {:?}", options.channels);
        return ExitCode::FAILURE;
    };
    let Ok(copy_keys) = options.copy_keys.parse::<usize>() else {
        eprintln!("engine_steps: K must be a whole number, not {:?}", options.copy_keys);
        return ExitCode::FAILURE;
    };
    let Ok(batches) = options.best_of.parse::<usize>() else {
        eprintln!("engine_steps: BATCHES must be a whole number, not {:?}", options.best_of);
        return ExitCode::FAILURE;
    };
    let Ok(steps) = steps.parse::<usize>() else {
        eprintln!("engine_steps: STEPS must be a whole number, not {steps:?}");
        return ExitCode::FAILURE;
    };
    let survey = Kernel::survey();
    let Some((_, available)) = survey.iter().find(|(name, _)| name == kernel_name) else {
        let names: Vec<&str> = survey.iter().map(|(name, _)| *name).collect();
        eprintln!("engine_steps: no kernel {kernel_name:?} on this architecture (it has {names:?})");
        return ExitCode::FAILURE;
    };
    let Some(kernel) = *available else {
        eprintln!("engine_steps: this CPU (or the emulator running it) lacks kernel {kernel_name}");
        return ExitCode::FAILURE;
    };
    let config = WaveNetConfig { residual_channels: channels, skip_channels: 2 * channels, copy_keys, ..WaveNetConfig::default() };
    let f32_model = random_wavenet(config, 1);
    let model = match precision.as_str() {
        "int8" => quantize(&f32_model),
        "f32" => f32_model,
        other => {
            eprintln!("engine_steps: PRECISION must be int8 or f32, not {other:?}");
            return ExitCode::FAILURE;
        }
    };
    let mut engine = match Engine::with_kernel(&model, kernel) {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("engine_steps: a model with {channels} channels is refused: {error}");
            return ExitCode::FAILURE;
        }
    };
    for index in 0..WARM_UP_TOKENS {
        engine.step(timing_token(index));
    }
    let checksum = timed_steps(&mut engine, WARM_UP_TOKENS, steps);
    println!("{kernel_name} {precision}: {steps} steps, logit checksum {checksum}");
    if batches > 0 {
        let best = (0..batches)
            .map(|batch| {
                let start = Instant::now();
                timed_steps(&mut engine, WARM_UP_TOKENS + (batch + 1) * steps, steps);
                start.elapsed()
            })
            .min()
            .expect("at least one batch");
        println!("{kernel_name} {precision}: best of {batches} batches: {:.2} us per step", best.as_secs_f64() * 1e6 / steps as f64);
    }
    ExitCode::SUCCESS
}

/// The options after the three positional arguments, as given (parsed by the caller).
struct Options<'a> {
    best_of: &'a str,
    channels: &'a str,
    copy_keys: &'a str,
}

/// KERNEL, PRECISION, STEPS and the options; `None` for anything else.
fn split_arguments(args: &[String]) -> Option<((&String, &String, &String), Options<'_>)> {
    let [kernel, precision, steps, rest @ ..] = args else { return None };
    let mut options = Options { best_of: "0", channels: "64", copy_keys: "0" };
    for pair in rest.chunks(2) {
        match pair {
            [flag, value] if flag == "--best-of" => options.best_of = value,
            [flag, value] if flag == "--channels" => options.channels = value,
            [flag, value] if flag == "--copy-keys" => options.copy_keys = value,
            _ => return None,
        }
    }
    Some(((kernel, precision, steps), options))
}
