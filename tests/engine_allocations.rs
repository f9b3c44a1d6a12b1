//! `Engine::step`, `Sampler::sample` and `Generator::sample_next` never allocate, and cloning an
//! engine copies its state, not its weights: a counting global allocator proves it. It counts
//! only the test's own thread: the test harness's threads may allocate at any time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use continuo::engine::quantize::quantize;
use continuo::engine::random_model::random_wavenet;
use continuo::engine::{Constraints, Engine, Generator, Sampler, SamplingOptions, ScaleMode};
use continuo::model::WaveNetConfig;
use continuo::tokens::{Event, VOCAB_SIZE};

/// The system allocator, counting this thread's allocations and reallocations.
struct CountingAllocator;

thread_local! {
    /// Allocations made by this thread (const-initialised, so reading it never allocates).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// Bytes this thread asked for in those allocations.
    static ALLOCATED_BYTES: Cell<usize> = const { Cell::new(0) };
}

fn count_one(bytes: usize) {
    ALLOCATIONS.with(|count| count.set(count.get() + 1));
    ALLOCATED_BYTES.with(|total| total.set(total.get() + bytes));
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one(layout.size());
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_during(work: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

fn bytes_allocated_during(work: impl FnOnce()) -> usize {
    let before = ALLOCATED_BYTES.with(Cell::get);
    work();
    ALLOCATED_BYTES.with(Cell::get) - before
}

/// Failed before: a clone (the worker makes one per answer) copied every weight, so it
/// allocated more than the weights' size.
#[test]
fn cloning_an_engine_or_a_generator_copies_its_state_not_its_weights() {
    let config = WaveNetConfig { residual_channels: 64, skip_channels: 128, stacks: 2, layers_per_stack: 6, conditioned: true, repeat_pointer: false, copy_keys: 0 };
    let f32_model = random_wavenet(config, 2);
    for model in [quantize(&f32_model), f32_model] {
        let engine = Engine::from_model(&model).unwrap();
        let generator = Generator::new(engine.clone(), 5);
        let weight_bytes = engine.weight_bytes_per_step();
        let engine_clone = bytes_allocated_during(|| drop(engine.clone()));
        let generator_clone = bytes_allocated_during(|| drop(generator.clone()));
        // The state: delay lines (2 * 63 steps of 64 floats, 32 KB) and scratch vectors; the
        // weights are 344 KB in int8.
        for cloned in [engine_clone, generator_clone] {
            assert!(cloned * 3 < weight_bytes, "{:?}: a clone allocates {cloned} bytes, the weights are {weight_bytes}", model.meta.precision);
        }
    }
}

#[test]
fn stepping_and_sampling_never_allocate() {
    // With the repeat pointer (the tokens below cycle, so it finds repeats and proposes) and a
    // copy head, whose ring of keys wraps after its window.
    let config = WaveNetConfig { residual_channels: 32, skip_channels: 64, stacks: 2, layers_per_stack: 6, conditioned: true, repeat_pointer: true, copy_keys: 16 };
    let f32_model = random_wavenet(config, 1);
    let options = SamplingOptions { temperature: 0.9, top_k: 50, top_p: 0.95, greedy: false };
    // A single voice, so the voice and leap limits' masking runs too.
    let constraints =
        Constraints { pitch_low: 40, pitch_high: 90, root: 7, mode: ScaleMode::Major, allow_end: true, ..Constraints::default() }
            .with_voice_limit(1);
    for model in [quantize(&f32_model), f32_model] {
        let mut engine = Engine::from_model(&model).unwrap();
        let mut sampler = Sampler::new(3);
        let mut generator = Generator::new(engine.clone(), 4);
        let count = allocations_during(|| {
            for step in 0..(continuo::engine::copy_head::COPY_WINDOW_TOKENS as u32 + 100) {
                let token = (step * 7919 % (VOCAB_SIZE as u32 - 1) + 1) as u16;
                engine.step(token);
                let state = engine.state().clone();
                sampler.sample(engine.logits(), &state, &options, &constraints);
                generator.sample_next(&options, &constraints, |_| {});
            }
            engine.reset();
            generator.feed(Event::TimeShift(12).token());
        });
        assert_eq!(count, 0, "{:?} engine allocated {count} times", model.meta.precision);
    }
}
