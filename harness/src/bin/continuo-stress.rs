//! `continuo-stress PLUGIN.clap [SEED]`: plays phrases through a plugin in real-time mode over many
//! random buffer sizes (1..=8192), sample rates, transport jumps and stops, resets,
//! reactivations, model swaps, a host queue that refuses events, parameter changes (any value
//! in range, bypass included) and phrases that interrupt answers. Run on a debug build with
//! `assert_process_allocs`, the plugin aborts the process if `process()` allocates. Each sample
//! rate ends with the transport rolling for a block and then stopping, so every note is due to
//! end (a transport that stays stopped does not end answers: the plugin answers on its own clock;
//! a stop does): the run fails unless every note-on the plugin sent got its note-off on the same
//! channel and key.
//! One block per sample rate carries every controller of every channel: nice-plug permits the
//! allocation its event queue would need then, but warns ("Input event buffer filled up!"),
//! which the test looks for. `SEED` (a whole number) draws another run; the test uses the
//! default, and longer hunts try many.

use std::path::{Path, PathBuf};

use continuo_harness::workload::{push_controller_burst, Xorshift};
use continuo_harness::{check_balanced, HostedPlugin, InputEvent, OutputNote, Transport};

/// Blocks per sample rate.
const BLOCKS_PER_RATE: usize = 600;
/// Largest block a host may send.
const MAX_BLOCK: u32 = 8192;
/// Stopped-transport blocks that end each sample rate: room for note-offs a refusing host
/// queue sends back to be retried.
const CLOSING_BLOCKS: usize = 64;
/// The sustain pedal's controller number.
const SUSTAIN_CONTROLLER: u8 = 64;
/// The random run the test plays.
const DEFAULT_SEED: u64 = 0x2545_F491_4F6C_DD1D;

fn main() {
    let mut arguments = std::env::args().skip(1);
    let path: PathBuf = arguments.next().expect("usage: continuo-stress PLUGIN.clap [SEED]").into();
    let seed = arguments.next().map_or(DEFAULT_SEED, |seed| seed.parse().expect("SEED is a whole number"));
    let mut plugin = HostedPlugin::load(&path).unwrap_or_else(|error| panic!("{error}"));
    plugin.set_offline(false).expect("real-time mode");
    // Xorshift needs a state other than zero.
    let mut random = Xorshift(seed.max(1));
    let mut notes_out = vec![];
    let parameter_ids: Vec<(u32, f64)> = plugin.parameters().iter().map(|p| (p.id, p.max)).collect();
    let mut disruptions = Disruptions::default();
    for sample_rate in [22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0] {
        plugin.activate(sample_rate, MAX_BLOCK).expect("activates");
        let mut transport = Transport::at(0.0, true);
        for block in 0..BLOCKS_PER_RATE {
            let samples = 1 + random.below(MAX_BLOCK as u64) as usize;
            let events = if block == BLOCKS_PER_RATE / 2 {
                let mut burst = vec![];
                push_controller_burst(&mut burst, samples);
                burst
            } else {
                random_events(&mut random, samples, block, &parameter_ids)
            };
            transport.tempo_bpm = 60.0 + random.below(120) as f64;
            let mut audio = [Vec::new(), Vec::new()];
            plugin.process(samples, transport, &events, &mut notes_out, &mut audio).expect("processes");
            transport.position_beats += samples as f64 / sample_rate * transport.tempo_bpm / 60.0;
            disrupt(&mut plugin, &mut random, &mut transport, sample_rate, &mut disruptions);
        }
        // Stopping the transport ends every note, and a host that takes every event gets them
        // all. It must be a stop: with the transport stopped all along, the answer due plays on.
        plugin.set_output_capacity(None);
        for playing in std::iter::once(true).chain(std::iter::repeat_n(false, CLOSING_BLOCKS)) {
            transport.playing = playing;
            plugin.process(512, transport, &[], &mut notes_out, &mut [Vec::new(), Vec::new()]).expect("processes");
        }
        plugin.deactivate();
    }
    if let Err(problem) = check_balanced(&notes_out) {
        eprintln!("a note was left hanging or ended twice: {problem}");
        std::process::exit(1);
    }
    let ons = notes_out.iter().filter(|note: &&OutputNote| note.on).count();
    println!(
        "{} blocks at 5 sample rates ({disruptions:?}): the plugin sent {ons} note-ons, each with its note-off, and never allocated in process()",
        5 * BLOCKS_PER_RATE
    );
}

/// How often each way of cutting the music short happened.
#[derive(Debug, Default)]
struct Disruptions {
    jumps: usize,
    starts_and_stops: usize,
    resets: usize,
    reactivations: usize,
    model_swaps: usize,
    refusing_queues: usize,
}

/// Now and then, something a host does between blocks.
fn disrupt(plugin: &mut HostedPlugin, random: &mut Xorshift, transport: &mut Transport, sample_rate: f64, count: &mut Disruptions) {
    match random.below(60) {
        0 => {
            transport.position_beats = random.below(64) as f64 / 4.0;
            count.jumps += 1;
        }
        1 => {
            transport.playing = !transport.playing;
            count.starts_and_stops += 1;
        }
        2 => {
            plugin.restart_processing().expect("processing restarts");
            count.resets += 1;
        }
        3 => {
            plugin.deactivate();
            plugin.activate(sample_rate, MAX_BLOCK).expect("reactivates");
            count.reactivations += 1;
        }
        4 => {
            let model = if random.below(2) == 0 { default_model_path() } else { PathBuf::from("/nonexistent/model.safetensors") };
            swap_model(plugin, &model);
            count.model_swaps += 1;
        }
        5 => {
            let capacity = (random.below(3) != 0).then(|| random.below(4) as usize);
            plugin.set_output_capacity(capacity);
            count.refusing_queues += 1;
        }
        _ => {}
    }
}

/// The model shipped with the project.
fn default_model_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/default-model.safetensors")
}

/// Loads the plugin's own state with another model path, as a project reload would.
fn swap_model(plugin: &mut HostedPlugin, model: &Path) {
    let saved = plugin.save_state().expect("the plugin saves its state");
    // nice-plug writes the JSON's length (8 bytes, little-endian), then the JSON, where the
    // model path is a JSON string holding a JSON string.
    let json = String::from_utf8(saved[8..].to_vec()).expect("nice-plug saves JSON");
    let field = "\"model\":\"";
    let start = json.find(field).expect("the model path is saved") + field.len();
    let end = start + json[start..].find("\\\"\"").expect("the model path ends") + 3;
    let path = model.display().to_string().replace('\\', "\\\\\\\\").replace('"', "\\\\\\\"");
    let edited = format!("{}\\\"{path}\\\"\"{}", &json[..start], &json[end..]);
    let bytes: Vec<u8> = (edited.len() as u64).to_le_bytes().into_iter().chain(edited.into_bytes()).collect();
    plugin.load_state(&bytes).expect("the state loads");
}

/// Mostly phrases with pauses, on the first channel and now and then on any other (drums
/// included), with controllers; now and then a parameter change to any value in range.
fn random_events(random: &mut Xorshift, samples: usize, block: usize, parameters: &[(u32, f64)]) -> Vec<(u32, InputEvent)> {
    let mut events = vec![];
    // Play in bursts: 4 blocks in 10 carry notes, the rest is silence the plugin answers, and
    // the next burst interrupts.
    if block % 10 < 4 {
        for _ in 0..random.below(4) {
            let key = 48 + random.below(30) as u8;
            let offset = random.below(samples as u64) as u32;
            let off_offset = offset.max(random.below(samples as u64) as u32);
            if random.below(4) == 0 {
                let channel = random.below(16) as u8;
                events.push((offset, InputEvent::Midi([0x90 | channel, key, 1 + random.below(127) as u8])));
                events.push((off_offset, InputEvent::Midi([0x80 | channel, key, 0])));
            } else {
                events.push((offset, InputEvent::NoteOn { key, velocity: 0.3 + random.below(70) as f64 / 100.0 }));
                events.push((off_offset, InputEvent::NoteOff { key }));
            }
        }
    }
    if random.below(8) == 0 {
        events.push((random.below(samples as u64) as u32, InputEvent::Sustain { down: random.below(2) == 0 }));
    }
    if random.below(8) == 0 {
        let channel = random.below(16) as u8;
        let message = match random.below(4) {
            0 => [0xB0 | channel, SUSTAIN_CONTROLLER, random.below(128) as u8],
            1 => [0xE0 | channel, random.below(128) as u8, random.below(128) as u8],
            2 => [0xD0 | channel, random.below(128) as u8, 0],
            _ => [0xB0 | channel, 1, random.below(128) as u8],
        };
        events.push((random.below(samples as u64) as u32, InputEvent::Midi(message)));
    }
    if random.below(6) == 0 && !parameters.is_empty() {
        let (id, max) = parameters[random.below(parameters.len() as u64) as usize];
        events.push((0, InputEvent::Param { id, value: random.below(1001) as f64 / 1000.0 * max }));
    }
    events
}


