//! The cost of Continuo's `process()` per 64-sample block at 48 kHz while it answers and the
//! player comes back in over the answer (the real plugin through the CLAP ABI, real-time mode,
//! timed around the call alone).
//! Budget: 64 samples at 48 kHz = 1.33 ms; goal: worst case <= 5% of it (67 us).
//!
//! `cargo bench -p continuo-harness --bench process` (set CONTINUO_CLAP to a bundled
//! Continuo.clap, or the bench builds the release plugin itself). Prints criterion's mean
//! and, over three whole answers, the worst block, the 99.9th percentile and the mean, where
//! the slowest blocks fell, and the same figures for as many idle blocks (transport stopped,
//! nothing played or answered): the floor the machine and the host's call set under any plugin.

#[path = "../tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::time::Duration;

use continuo_harness::{HostedPlugin, Playback, Transport};
use criterion::{criterion_group, criterion_main, Criterion};
use support::{load, phrase, SAMPLE_RATE};

/// The block size of the goal.
const BLOCK_SAMPLES: usize = 64;
/// The phrase ends on beat 4; the default 2-bar answer spans beats 5 to 13.
const ANSWER_START_BEATS: f64 = 5.0;
const ANSWER_END_BEATS: f64 = 13.0;
/// The player starts a new phrase half-way through the answer, so the timed blocks also carry
/// played notes: the answer is interrupted (its notes released) and the new phrase is heard.
const PLAYER_RETURNS_BEATS: f64 = 9.0;
/// Lets the worker sample the answer ahead before the timed blocks (it runs ahead of the
/// playhead in a DAW too; here blocks run faster than real time).
const WORKER_HEAD_START: Duration = Duration::from_millis(50);

/// One timed block: how long `process()` took, and where the block fell.
#[derive(Clone, Copy)]
struct BlockTiming {
    /// The call alone, as the harness timed it.
    time: Duration,
    /// The block's start, in beats from the phrase's start.
    beat: f64,
    /// Player events and answer notes (on and off) the block carried.
    events_in: usize,
    notes_out: usize,
    /// Page faults and involuntary context switches the calling thread took during the block.
    faults: i64,
    preempted: i64,
}

/// The calling thread's page faults (minor and major) and involuntary context switches so far
/// (read outside the timed call).
fn thread_interruptions() -> (i64, i64) {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    (usage.ru_minflt + usage.ru_majflt, usage.ru_nivcsw)
}

/// Plays a phrase untimed, then times every block of the answer; returns the timings.
fn time_one_answer(plugin: &mut HostedPlugin, cycle: usize) -> Vec<BlockTiming> {
    let start_beats = cycle as f64 * 100.0;
    let playback = Playback { start_beats, ..Playback::default() };
    let events: Vec<_> = phrase(start_beats).into_iter().collect();
    plugin.perform(playback, &events, ANSWER_START_BEATS - 0.25, || BLOCK_SAMPLES).expect("plays");
    std::thread::sleep(WORKER_HEAD_START);
    let beats_per_block = BLOCK_SAMPLES as f64 / SAMPLE_RATE * 2.0;
    let mut position = start_beats + ANSWER_START_BEATS - 0.25;
    let played = phrase(start_beats + PLAYER_RETURNS_BEATS);
    let (mut notes, mut timings, mut block_events) = (vec![], vec![], Vec::with_capacity(played.len()));
    while position < start_beats + ANSWER_END_BEATS + 0.5 {
        block_events.clear();
        block_events.extend(
            played
                .iter()
                .filter(|(beat, _)| (position..position + beats_per_block).contains(beat))
                .map(|&(beat, event)| (((beat - position) / beats_per_block * BLOCK_SAMPLES as f64) as u32, event)),
        );
        let transport = Transport::at(position, true);
        let mut audio = [Vec::with_capacity(BLOCK_SAMPLES), Vec::with_capacity(BLOCK_SAMPLES)];
        let (notes_before, (faults_before, preempted_before)) = (notes.len(), thread_interruptions());
        plugin.process(BLOCK_SAMPLES, transport, &block_events, &mut notes, &mut audio).expect("processes");
        let (faults_after, preempted_after) = thread_interruptions();
        timings.push(BlockTiming {
            time: plugin.last_process_time(),
            beat: position - start_beats,
            events_in: block_events.len(),
            notes_out: notes.len() - notes_before,
            faults: faults_after - faults_before,
            preempted: preempted_after - preempted_before,
        });
        position += beats_per_block;
    }
    assert!(notes.iter().any(|note| note.on), "the plugin answered during the timed blocks");
    let ons = notes.iter().filter(|note| note.on).count();
    assert_eq!(ons, notes.len() - ons, "the player's return released every answer note");
    timings
}

/// Times `blocks` blocks with the transport stopped and nothing played: `process()` only
/// clears the output and reads the parameters.
fn time_idle_blocks(plugin: &mut HostedPlugin, blocks: usize) -> Vec<Duration> {
    let transport = Transport::at(0.0, false);
    let (mut notes, mut audio) = (vec![], [Vec::with_capacity(BLOCK_SAMPLES), Vec::with_capacity(BLOCK_SAMPLES)]);
    (0..blocks)
        .map(|_| {
            audio.iter_mut().for_each(Vec::clear);
            plugin.process(BLOCK_SAMPLES, transport, &[], &mut notes, &mut audio).expect("processes");
            plugin.last_process_time()
        })
        .collect()
}

/// Mean, 99.9th percentile and worst of `times` (sorted here), and how many went over the goal.
fn summary(times: &mut [Duration]) -> String {
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let percentile = times[(times.len() as f64 * 0.999) as usize - 1];
    let worst = *times.last().expect("timed blocks");
    let budget = Duration::from_secs_f64(BLOCK_SAMPLES as f64 / SAMPLE_RATE);
    let goal = budget / 20;
    let over_goal = times.iter().filter(|&&time| time > goal).count();
    format!(
        "{} blocks: mean {mean:?}, 99.9th percentile {percentile:?}, worst {worst:?} = {:.2}% of the {budget:?} budget; \
         {over_goal} blocks over the 5% goal ({goal:?})",
        times.len(), worst.as_secs_f64() / budget.as_secs_f64() * 100.0
    )
}

fn process_while_answering(criterion: &mut Criterion) {
    let mut plugin = load(false, SAMPLE_RATE);
    let mut cycle = 0;
    let mut pending: Vec<Duration> = vec![];
    criterion.bench_function("process 64 samples at 48 kHz while answering", |bencher| {
        bencher.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                if pending.is_empty() {
                    cycle += 1;
                    pending = time_one_answer(&mut plugin, cycle).iter().map(|block| block.time).collect();
                }
                total += pending.pop().expect("refilled above");
            }
            total
        })
    });
    let mut answers: Vec<BlockTiming> = (0..3).flat_map(|_| {
        cycle += 1;
        time_one_answer(&mut plugin, cycle)
    }).collect();
    let mut times: Vec<Duration> = answers.iter().map(|block| block.time).collect();
    println!("answering: {}", summary(&mut times));
    let faulted = answers.iter().filter(|block| block.faults > 0).count();
    let preempted = answers.iter().filter(|block| block.preempted > 0).count();
    println!("  {faulted} blocks took page faults, {preempted} were preempted; the slowest five:");
    answers.sort_by_key(|block| std::cmp::Reverse(block.time));
    for block in &answers[..5] {
        println!(
            "  {:?} at beat {:.3} of the phrase: {} player events in, {} answer notes out, {} page faults, {} preemptions",
            block.time, block.beat, block.events_in, block.notes_out, block.faults, block.preempted
        );
    }
    println!("idle: {}", summary(&mut time_idle_blocks(&mut plugin, times.len())));
}

criterion_group!(benches, process_while_answering);
criterion_main!(benches);
