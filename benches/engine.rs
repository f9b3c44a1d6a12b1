//! Engine speed: step latency (f32, int8) for the default model and a few sizes, cached vs the
//! naive reference, and the effective weight bandwidth (criterion's throughput = weight bytes
//! per step / step time) beside this machine's read bandwidth at cache and memory sizes and
//! beside the int8 step's products alone, and the style memory's cost per sampled token with a
//! full memory (to set beside the int8 step).
//!
//! `cargo bench --no-default-features --bench engine`

use std::hint::black_box;
use std::time::Duration;

use continuo::engine::quantize::quantize;
use continuo::engine::random_model::random_wavenet;
use continuo::engine::repeat_pointer::BONUS_COUNT;
use continuo::engine::timing_input::{timing_token, WARM_UP_TOKENS};
use continuo::engine::{Engine, Kernel, NaiveEngine, QuantizedInput, Write};
use continuo::model::{dense_layers, names, ModelFile, WaveNetConfig};
use continuo::style_memory::{MemoryContext, StyleMemory, MEMORY_CAPACITY_TOKENS};
use continuo::tokens::Token;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput};


fn config(channels: usize, layers_per_stack: usize) -> WaveNetConfig {
    WaveNetConfig { residual_channels: channels, skip_channels: 2 * channels, stacks: 2, layers_per_stack, conditioned: true, repeat_pointer: false, copy_keys: 0 }
}

fn warmed_engine(model: &ModelFile) -> Engine {
    warmed_engine_with(model, Kernel::detect())
}

fn warmed_engine_with(model: &ModelFile, kernel: Kernel) -> Engine {
    let mut engine = Engine::with_kernel(model, kernel).expect("valid model");
    for index in 0..WARM_UP_TOKENS {
        engine.step(timing_token(index));
    }
    engine
}

/// Step latency of the cached engine, f32 and int8 (the fastest kernel), with weight bytes per
/// step as throughput.
fn bench_step(c: &mut Criterion) {
    let sizes = [
        ("default C64 S128 2x10 rf2047", WaveNetConfig::default()),
        ("C32 S64 2x10 rf2047", config(32, 10)),
        ("C128 S256 2x10 rf2047", config(128, 10)),
        ("C64 S128 2x8 rf511", config(64, 8)),
        ("C64 S128 2x12 rf8191", config(64, 12)),
    ];
    let mut group = c.benchmark_group("step");
    for (name, config) in sizes {
        let f32_model = random_wavenet(config, 1);
        for model in [quantize(&f32_model), f32_model] {
            let id = format!("{}/{name}", format!("{:?}", model.meta.precision).to_lowercase());
            bench_one_step(&mut group, &id, warmed_engine(&model));
        }
    }
    group.finish();
}

/// The default model's int8 step with every int8 kernel this CPU runs (the others are named as
/// skipped), and its f32 step with the fastest kernel, in the same run.
fn bench_default_step_per_kernel(c: &mut Criterion) {
    let f32_model = random_wavenet(WaveNetConfig::default(), 1);
    let int8_model = quantize(&f32_model);
    let mut group = c.benchmark_group("default_step_per_kernel");
    for (name, kernel) in kernels_here("default_step_per_kernel") {
        bench_one_step(&mut group, &format!("int8 {name}"), warmed_engine_with(&int8_model, kernel));
    }
    // The f32 products run the AVX2 + FMA kernel on every x86 SIMD kernel.
    bench_one_step(&mut group, "f32", warmed_engine(&f32_model));
    group.finish();
}

/// The default model's int8 step reduced to its matrix-vector products, in the step's order and
/// shapes (every matrix its own, as in the step, so they stream from L2 as the step's do), each
/// reading a fixed input: the step as it would run if the gate, the activation quantizations and
/// the chain from one product to the next took no time. Beside `read_bandwidth` it shows how far
/// the products are from the roofline; beside `default_step_per_kernel`, what the rest costs.
fn bench_default_products_alone(c: &mut Criterion) {
    let config = WaveNetConfig::default();
    let model = quantize(&random_wavenet(config, 1));
    // The last layer's residual product feeds nothing, and the engine leaves it out.
    let unused = names::residual(config.layer_count() - 1);
    let layouts: Vec<_> =
        dense_layers(&model.meta.architecture, model.meta.vocab_size).into_iter().filter(|layout| layout.prefix != unused).collect();
    let mut group = c.benchmark_group("default_step_products_alone");
    for (name, kernel) in kernels_here("default_step_products_alone") {
        let mut products: Vec<_> = layouts
            .iter()
            .map(|layout| {
                let weights = model.i8(&names::weight(&layout.prefix)).expect("int8 weights");
                let scales = model.f32(&names::weight_scale(&layout.prefix)).expect("row scales");
                let matrix = kernel.pack_i8(weights, scales, layout.inputs);
                let bias = model.f32(&names::bias(&layout.prefix)).expect("bias").to_vec();
                let values: Vec<f32> = (0..layout.inputs).map(|index| (index as f32 * 0.37).sin()).collect();
                let mut input = vec![0; layout.inputs];
                let scale = kernel.quantize_input(&values, &mut input);
                (matrix, bias, input, scale, vec![0.0; layout.outputs])
            })
            .collect();
        let bytes = products.iter().map(|(matrix, ..)| matrix.bytes()).sum::<usize>();
        let step_bytes = warmed_engine_with(&model, kernel).weight_bytes_per_step();
        assert_eq!(bytes, step_bytes, "the products alone read the bytes the engine's step reads");
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(format!("int8 {name}"), |b| {
            b.iter(|| {
                for (matrix, bias, input, scale, out) in &mut products {
                    kernel.matvec_i8(matrix, QuantizedInput { values: input, scale: *scale }, bias, out, Write::Set);
                }
                black_box(products.last().map(|(.., out)| out[0]))
            })
        });
    }
    group.finish();
}

/// Times `engine.step` on the token cycle, with its weight bytes per step as throughput.
fn bench_one_step(group: &mut BenchmarkGroup<WallTime>, id: &str, mut engine: Engine) {
    group.throughput(Throughput::Bytes(engine.weight_bytes_per_step() as u64));
    let mut index = 0;
    group.bench_function(id, |b| {
        b.iter(|| {
            index += 1;
            black_box(engine.step(timing_token(index))[0])
        })
    });
}

/// The default int8 step with and without a repeat pointer, in the same run, on a played
/// stream that repeats, so the pointer follows its matches and proposes.
fn bench_repeat_pointer(c: &mut Criterion) {
    let network = quantize(&random_wavenet(WaveNetConfig::default(), 1));
    let with_pointer = network.with_repeat_bonus(vec![1.0; BONUS_COUNT]);
    let mut group = c.benchmark_group("repeat_pointer");
    for (id, model) in [("int8 default, network alone", &network), ("int8 default, with the pointer", &with_pointer)] {
        let mut engine = warmed_engine(model);
        let mut index = 0;
        group.bench_function(id, |b| {
            b.iter(|| {
                index += 1;
                black_box(engine.step(played_token(index))[0])
            })
        });
    }
    group.finish();
}

/// The default step with and without a copy head of 32-wide keys (the shipped model's
/// architecture), int8 with every kernel this CPU runs and f32 with the fastest, in the same run,
/// its window of keys full (the engines are warmed past it): the shipped model's speed-ups over
/// AVX2 and over f32 from one run.
fn bench_copy_head(c: &mut Criterion) {
    let mut group = c.benchmark_group("copy_head");
    let kernels = kernels_here("copy_head");
    for (part, copy_keys) in [("network alone", 0), ("with a copy head of 32", 32)] {
        let f32_model = random_wavenet(WaveNetConfig { copy_keys, ..WaveNetConfig::default() }, 1);
        let int8_model = quantize(&f32_model);
        for &(name, kernel) in &kernels {
            bench_one_step(&mut group, &format!("int8 {name}, {part}"), warmed_engine_with(&int8_model, kernel));
        }
        bench_one_step(&mut group, &format!("f32, {part}"), warmed_engine(&f32_model));
    }
    group.finish();
}

/// Every kernel this CPU runs, by name; names on standard error those it lacks, for `group`.
fn kernels_here(group: &str) -> Vec<(&'static str, Kernel)> {
    let survey = Kernel::survey().into_iter();
    survey
        .filter_map(|(name, kernel)| {
            if kernel.is_none() {
                eprintln!("{group}: skips int8 {name}: this CPU lacks it");
            }
            kernel.map(|kernel| (name, kernel))
        })
        .collect()
}

/// A played stream's token: 48-token phrases over 24 distinct tokens, in five variants that
/// take turns, so contexts recur with several followers each, as a player's repeated motifs do.
fn played_token(index: usize) -> Token {
    let (position, variant) = (index % 48, index / 48 % 5);
    timing_token((position * 7 + variant * 3) % 24)
}

/// Cost per sampled token of the style memory with a full memory after a context it matches
/// at full length: recall, then mixing into the default int8 model's logits.
fn bench_style_memory(c: &mut Criterion) {
    let mut memory = StyleMemory::new();
    let mut context = MemoryContext::default();
    for index in 0..MEMORY_CAPACITY_TOKENS {
        memory.learn(played_token(index));
        context.push(played_token(index));
    }
    let logits = warmed_engine(&quantize(&random_wavenet(WaveNetConfig::default(), 1))).logits().to_vec();
    let mut steered = logits.clone();
    c.bench_function("style memory steer, full memory", |b| {
        b.iter(|| {
            steered.copy_from_slice(&logits);
            black_box(memory.steer(&context, &mut steered, 1.0).matched_order)
        })
    });
}

/// The cached engine and the naive reference on the default model (receptive field 2047),
/// in the same run.
fn bench_cached_vs_naive(c: &mut Criterion) {
    let model = random_wavenet(WaveNetConfig::default(), 1);
    let mut group = c.benchmark_group("cached_vs_naive_rf2047_f32");
    let mut cached = warmed_engine(&model);
    let mut index = 0;
    group.bench_function("cached", |b| {
        b.iter(|| {
            index += 1;
            black_box(cached.step(timing_token(index))[0])
        })
    });
    let mut naive = NaiveEngine::from_model(&model).expect("valid model");
    for index in 0..WARM_UP_TOKENS {
        naive.push(timing_token(index));
    }
    group.sample_size(10);
    group.bench_function("naive", |b| {
        b.iter(|| {
            index += 1;
            black_box(naive.step(timing_token(index))[0])
        })
    });
    group.finish();
}

/// Read bandwidth: summing a buffer that fits L1, L2, L3, or only main memory.
fn bench_read_bandwidth(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_bandwidth");
    for kib in [16usize, 512, 8 * 1024, 256 * 1024] {
        let buffer: Vec<f32> = (0..kib * 256).map(|i| i as f32).collect();
        group.throughput(Throughput::Bytes((kib * 1024) as u64));
        group.bench_function(BenchmarkId::from_parameter(format!("{kib}KiB")), |b| {
            b.iter(|| black_box(sum_widest(black_box(&buffer))))
        });
    }
    group.finish();
}

/// The sum below with the widest vectors this CPU has (AVX2 as the engine uses), so the
/// roofline is not limited by the instruction set.
fn sum_widest(values: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        unsafe fn sum_avx2(values: &[f32]) -> f32 {
            sum_with_lanes(values)
        }
        // SAFETY: the CPU has AVX2.
        return unsafe { sum_avx2(values) };
    }
    sum_with_lanes(values)
}

/// A sum with 32 independent partial sums, so it is limited by loads, not by add latency.
#[inline(always)]
fn sum_with_lanes(values: &[f32]) -> f32 {
    let mut sums = [0.0f32; 32];
    for chunk in values.chunks_exact(32) {
        for (sum, value) in sums.iter_mut().zip(chunk) {
            *sum += value;
        }
    }
    sums.iter().sum()
}

fn short_runs() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = short_runs();
    targets = bench_default_step_per_kernel, bench_default_products_alone, bench_step, bench_cached_vs_naive, bench_read_bandwidth, bench_style_memory, bench_repeat_pointer, bench_copy_head
}
criterion_main!(benches);
