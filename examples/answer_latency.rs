//! `cargo run --release --example answer_latency`: how long after the audio thread asks for an
//! answer its first note is ready on the audio side, with the worker idle beforehand (the usual
//! case: the request comes after a pause). Prints the median, 90th percentile and worst of
//! `TRIALS` requests. A measurement, not a test: the numbers depend on the machine.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use continuo::engine::{Constraints, ScaleMode};
use continuo::plugin::display::display_channels;
use continuo::plugin::schedule::{AnswerMessage, AnswerSource};
use continuo::plugin::worker::{AnswerRequest, HeardFrom, LiveSettings, ToWorker, WorkerHandle};
use continuo::style_memory::MEASURED_STRENGTH;
use continuo::tokens::KeyEvent;

/// Requests measured.
const TRIALS: u64 = 200;
/// Pause before each request, so the worker is idle when it comes.
const IDLE_BEFORE_REQUEST: Duration = Duration::from_millis(20);
/// Ticks between the heard phrase and each answer.
const ANSWER_GAP_TICKS: u64 = 24;
/// Length of each answer (the worker is stopped after its first note anyway).
const ANSWER_TICKS: u64 = 192;

fn main() {
    let live = Arc::new(LiveSettings::default());
    live.temperature.store(1.0, Ordering::Relaxed);
    live.top_p.store(0.95, Ordering::Relaxed);
    // The style memory on, as by default: it learns the phrases and steers every token.
    live.style_memory.store(MEASURED_STRENGTH, Ordering::Relaxed);
    // The editor's feed of sampled notes: nobody reads it here, it just fills and drops.
    let (_, sampled, _) = display_channels();
    let (model_path, saved_memory) = (Arc::new(RwLock::new(String::new())), Arc::new(RwLock::new(String::new())));
    let mut worker = WorkerHandle::spawn(model_path, saved_memory, live, sampled);
    let constraints = Constraints { pitch_low: 36, pitch_high: 96, root: 0, mode: ScaleMode::Chromatic, ..Constraints::default() };
    let mut tick = 0;
    let mut latencies = vec![];
    for answer_id in 1..=TRIALS {
        for pitch in [60, 64, 67] {
            worker.tell(ToWorker::Heard { tick, key: KeyEvent::On { pitch, velocity: 90 }, from: HeardFrom::Player });
            worker.tell(ToWorker::Heard { tick: tick + 6, key: KeyEvent::Off { pitch }, from: HeardFrom::Player });
            tick += 12;
        }
        std::thread::sleep(IDLE_BEFORE_REQUEST);
        let start_tick = tick + ANSWER_GAP_TICKS;
        let request = AnswerRequest { answer_id, start_tick, end_tick: start_tick + ANSWER_TICKS, seed: answer_id, constraints, follow_voices: true };
        let asked = Instant::now();
        worker.live().current_answer.store(answer_id, Ordering::Release);
        worker.tell(ToWorker::Answer(request));
        loop {
            match worker.poll() {
                Some(AnswerMessage::Note { answer_id: id, .. }) | Some(AnswerMessage::Done { answer_id: id }) if id == answer_id => break,
                _ => std::hint::spin_loop(),
            }
        }
        latencies.push(asked.elapsed());
        worker.live().current_answer.store(0, Ordering::Release);
        std::thread::sleep(IDLE_BEFORE_REQUEST);
        worker.discard_answers();
        tick = start_tick + ANSWER_TICKS;
    }
    latencies.sort();
    let at = |fraction: f64| latencies[((latencies.len() - 1) as f64 * fraction) as usize];
    println!(
        "answer request -> first note on the audio side, {TRIALS} requests to an idle worker: median {:?}, p90 {:?}, worst {:?}",
        at(0.5),
        at(0.9),
        at(1.0)
    );
}
