//! The cost of Continuo's `process()` per 64-sample block at 48 kHz while it answers and the
//! player comes back in over the answer (the real plugin through the CLAP ABI, real-time mode,
//! timed around the call alone).
//! Budget: 64 samples at 48 kHz = 1.33 ms; goal: worst case <= 5% of it (67 us).
//!
//! `cargo bench -p continuo-harness --bench process` (set CONTINUO_CLAP to a bundled
//! Continuo.clap, or the bench builds the release plugin itself). Prints criterion's mean
//! and, over three whole answers, the worst block, the 99.9th percentile and the mean.

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

/// Plays a phrase untimed, then times every block of the answer; returns the timings.
fn time_one_answer(plugin: &mut HostedPlugin, cycle: usize) -> Vec<Duration> {
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
        let transport = Transport { playing: true, tempo_bpm: 120.0, position_beats: position, time_signature: (4, 4) };
        let mut audio = [Vec::with_capacity(BLOCK_SAMPLES), Vec::with_capacity(BLOCK_SAMPLES)];
        plugin.process(BLOCK_SAMPLES, transport, &block_events, &mut notes, &mut audio).expect("processes");
        timings.push(plugin.last_process_time());
        position += beats_per_block;
    }
    assert!(notes.iter().any(|note| note.on), "the plugin answered during the timed blocks");
    let ons = notes.iter().filter(|note| note.on).count();
    assert_eq!(ons, notes.len() - ons, "the player's return released every answer note");
    timings
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
                    pending = time_one_answer(&mut plugin, cycle);
                }
                total += pending.pop().expect("refilled above");
            }
            total
        })
    });
    let mut all: Vec<Duration> = (0..3).flat_map(|_| {
        cycle += 1;
        time_one_answer(&mut plugin, cycle)
    }).collect();
    all.sort();
    let mean = all.iter().sum::<Duration>() / all.len() as u32;
    let percentile = all[(all.len() as f64 * 0.999) as usize - 1];
    let worst = *all.last().expect("timed blocks");
    let budget = Duration::from_secs_f64(BLOCK_SAMPLES as f64 / SAMPLE_RATE);
    let goal = budget / 20;
    let over_goal = all.iter().filter(|&&time| time > goal).count();
    println!(
        "{} answer blocks: mean {:?}, 99.9th percentile {:?}, worst {:?} = {:.2}% of the {:?} budget; \
         {over_goal} blocks over the 5% goal ({goal:?}); slowest five {:?}",
        all.len(), mean, percentile, worst, worst.as_secs_f64() / budget.as_secs_f64() * 100.0, budget,
        &all[all.len() - 5..]
    );
}

criterion_group!(benches, process_while_answering);
criterion_main!(benches);
