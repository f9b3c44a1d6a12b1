//! `continuo-stress PLUGIN.clap`: plays phrases through a plugin in real-time mode over many
//! random buffer sizes (1..=8192), sample rates, transport jumps and stops, and parameter
//! changes. Run on a debug build with `assert_process_allocs`, the plugin aborts the process
//! if `process()` allocates; a clean exit means it never did. One block per sample rate carries
//! every controller of every channel: nice-plug permits the allocation its event queue would
//! need then, but warns ("Input event buffer filled up!"), which the test looks for.

use std::path::PathBuf;

use continuo_harness::{HostedPlugin, InputEvent, OutputNote, Transport};

/// Blocks per sample rate.
const BLOCKS_PER_RATE: usize = 600;
/// Largest block a host may send.
const MAX_BLOCK: u32 = 8192;

fn main() {
    let path: PathBuf = std::env::args_os().nth(1).expect("usage: continuo-stress PLUGIN.clap").into();
    let mut plugin = HostedPlugin::load(&path).unwrap_or_else(|error| panic!("{error}"));
    plugin.set_offline(false).expect("real-time mode");
    let mut random = Xorshift(0x2545_F491_4F6C_DD1D);
    let mut notes_out = vec![];
    let parameter_ids: Vec<(u32, f64)> = plugin.parameters().iter().map(|p| (p.id, p.max)).collect();
    for sample_rate in [22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0] {
        plugin.activate(sample_rate, MAX_BLOCK).expect("activates");
        let mut position_beats = 0.0;
        let mut playing = true;
        for block in 0..BLOCKS_PER_RATE {
            let samples = 1 + random.below(MAX_BLOCK as u64) as usize;
            let events = if block == BLOCKS_PER_RATE / 2 {
                controller_burst(samples)
            } else {
                random_events(&mut random, samples, block, &parameter_ids)
            };
            let transport = Transport { playing, tempo_bpm: 60.0 + random.below(120) as f64, position_beats, time_signature: (4, 4) };
            let mut audio = [Vec::new(), Vec::new()];
            plugin.process(samples, transport, &events, &mut notes_out, &mut audio).expect("processes");
            position_beats += samples as f64 / sample_rate * transport.tempo_bpm / 60.0;
            match random.below(40) {
                0 => position_beats = random.below(64) as f64 / 4.0,
                1 => playing = !playing,
                _ => {}
            }
        }
        plugin.deactivate();
    }
    let ons = notes_out.iter().filter(|note: &&OutputNote| note.on).count();
    println!("{} blocks at 5 sample rates: the plugin sent {ons} note-ons and never allocated in process()", 5 * BLOCKS_PER_RATE);
}

/// Mostly phrases with pauses; now and then a parameter change (not bypass-like extremes
/// only: any value in range).
fn random_events(random: &mut Xorshift, samples: usize, block: usize, parameters: &[(u32, f64)]) -> Vec<(u32, InputEvent)> {
    let mut events = vec![];
    // Play in bursts: 4 blocks in 10 carry notes, the rest is silence the plugin answers.
    if block % 10 < 4 {
        for _ in 0..random.below(4) {
            let key = 48 + random.below(30) as u8;
            let offset = random.below(samples as u64) as u32;
            events.push((offset, InputEvent::NoteOn { key, velocity: 0.3 + random.below(70) as f64 / 100.0 }));
            events.push((offset.max(random.below(samples as u64) as u32), InputEvent::NoteOff { key }));
        }
    }
    if random.below(8) == 0 {
        events.push((random.below(samples as u64) as u32, InputEvent::Sustain { down: random.below(2) == 0 }));
    }
    if random.below(6) == 0 && !parameters.is_empty() {
        let (id, max) = parameters[random.below(parameters.len() as u64) as usize];
        events.push((0, InputEvent::Param { id, value: (random.below(1001) as f64 / 1000.0 * max).round().min(max) }));
    }
    events
}

/// The most a host can send at once: every controller of every channel, and a chord.
fn controller_burst(samples: usize) -> Vec<(u32, InputEvent)> {
    let controllers = (0..16u8).flat_map(|channel| (0..128u8).map(move |controller| InputEvent::Controller { channel, controller, value: 0 }));
    let chord = (36..96u8).map(|key| InputEvent::NoteOn { key, velocity: 0.5 });
    let release = (36..96u8).map(|key| (samples as u32 - 1, InputEvent::NoteOff { key }));
    controllers.chain(chord).map(|event| (0, event)).chain(release).collect()
}

/// A tiny deterministic random source (xorshift64).
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}
