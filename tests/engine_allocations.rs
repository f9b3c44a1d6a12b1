//! `Engine::step`, `Sampler::sample` and `Generator::sample_next` never allocate: a counting
//! global allocator proves it. (One test in this file, so no other thread allocates meanwhile.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use continuo::engine::quantize::quantize;
use continuo::engine::random_model::random_wavenet;
use continuo::engine::{Constraints, Engine, Generator, Sampler, SamplingOptions, ScaleMode};
use continuo::model::WaveNetConfig;
use continuo::tokens::{Event, VOCAB_SIZE};

/// The system allocator, counting allocations and reallocations.
struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_during(work: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    work();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn stepping_and_sampling_never_allocate() {
    let config = WaveNetConfig { residual_channels: 32, skip_channels: 64, stacks: 2, layers_per_stack: 6, conditioned: true };
    let f32_model = random_wavenet(config, 1);
    let options = SamplingOptions { temperature: 0.9, top_k: 50, top_p: 0.95, greedy: false };
    let constraints = Constraints { pitch_low: 40, pitch_high: 90, root: 7, mode: ScaleMode::Major, allow_end: true };
    for model in [quantize(&f32_model), f32_model] {
        let mut engine = Engine::from_model(&model).unwrap();
        let mut sampler = Sampler::new(3);
        let mut generator = Generator::new(engine.clone(), 4);
        let count = allocations_during(|| {
            for step in 0..2000u32 {
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
