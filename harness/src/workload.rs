//! What the stress and syscall-free runs play: a deterministic random source and the largest
//! burst of events a host may send in one block.

use crate::InputEvent;

/// MIDI channels a host may send on.
const MIDI_CHANNELS: u8 = 16;
/// Controllers per channel in the burst block: all of them.
const BURST_CONTROLLERS_PER_CHANNEL: u8 = 128;
/// Keys of the chord struck in the burst block.
const BURST_CHORD_KEYS: std::ops::Range<u8> = 36..96;

/// The most a host can send at once: every controller of every channel, and a chord struck at
/// the block's start and released at its end.
pub fn push_controller_burst(events: &mut Vec<(u32, InputEvent)>, samples: usize) {
    let last = samples as u32 - 1;
    for channel in 0..MIDI_CHANNELS {
        for controller in 0..BURST_CONTROLLERS_PER_CHANNEL {
            events.push((0, InputEvent::controller(channel, controller, 0)));
        }
    }
    events.extend(BURST_CHORD_KEYS.map(|key| (0, InputEvent::NoteOn { key, velocity: 0.5 })));
    events.extend(BURST_CHORD_KEYS.map(|key| (last, InputEvent::NoteOff { key })));
}

/// A tiny deterministic random source (xorshift64): runs repeat exactly.
pub struct Xorshift(pub u64);

impl Xorshift {
    /// A value in `0..bound` (0 for a bound of 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}
