//! Running blocks without allocating or making a syscall on the calling thread, for the check
//! that runs `process()` on a thread where every syscall is forbidden: every buffer is sized
//! beforehand, and a block sorts, formats and collects nothing.

use clack_host::prelude::*;

use crate::{clap_transport, output_note, push_input, HarnessError, HostedPlugin, InputEvent, OutputNote, Transport};

/// The audio-port list a block hands the plugin, allocated once instead of per block.
pub struct BlockScratch {
    /// Output port descriptions, reused by every block.
    ports: AudioPorts,
}

impl Default for BlockScratch {
    fn default() -> Self {
        Self { ports: AudioPorts::with_capacity(2, 1) }
    }
}

impl HostedPlugin {
    /// Makes room for `events` input and `events` output events per block, so no block grows
    /// an event buffer.
    pub fn reserve_events(&mut self, events: usize) {
        self.input_events = EventBuffer::with_capacity(events);
        self.output_events = EventBuffer::with_capacity(events);
    }

    /// Runs one block like [`HostedPlugin::process`], without a syscall or an allocation on
    /// this thread: `sorted_events` must be in offset order and within the reserved capacity,
    /// the notes the plugin sends go to `on_note`, the audio stays in the harness' scratch, and
    /// no main-thread callback is served (a real host's audio thread serves none either).
    pub fn process_without_syscalls(
        &mut self,
        scratch: &mut BlockScratch,
        samples: usize,
        transport: Transport,
        sorted_events: &[(u32, InputEvent)],
        mut on_note: impl FnMut(OutputNote),
    ) -> Result<(), HarnessError> {
        let processor = self.processor.as_mut().ok_or(HarnessError::NotActive)?;
        self.input_events.clear();
        for &(offset, event) in sorted_events {
            push_input(&mut self.input_events, offset, event);
        }
        self.output_events.clear();
        let transport_event = clap_transport(&transport);
        let [left, right] = &mut self.output;
        let (left, right) = (&mut left[..samples], &mut right[..samples]);
        let mut outputs = scratch.ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only([&mut *left, &mut *right].into_iter()),
        }]);
        let result = processor.process(
            &InputAudioBuffers::empty(),
            &mut outputs,
            &self.input_events.as_input(),
            &mut self.output_events.as_output(),
            Some(self.samples_processed),
            Some(&transport_event),
        );
        result.map_err(|_| HarnessError::ProcessFailed)?;
        for event in self.output_events.iter() {
            if let Some(note) = output_note(event, self.samples_processed) {
                on_note(note);
            }
        }
        self.samples_processed += samples as u64;
        Ok(())
    }
}
