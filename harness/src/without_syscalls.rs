//! Running blocks without allocating or making a syscall on the calling thread, for the check
//! that runs `process()` on a thread where every syscall is forbidden: the plugin's audio
//! processor moves to that thread as a real host's audio thread holds it (the instance, its
//! main-thread calls and its editor stay on the thread that loaded it), every buffer is sized
//! beforehand, and a block sorts, formats and collects nothing.

use clack_host::prelude::*;

use crate::{clap_transport, output_note, push_input, HarnessError, HarnessHost, HostedPlugin, InputEvent, OutputNote, Transport};

/// The audio thread's half of a hosted plugin: its processor and every buffer a block needs.
pub struct AudioThreadPlugin {
    /// Activated on the main thread; started by [`AudioThreadPlugin::start`] on the audio thread.
    processor: PluginAudioProcessor<HarnessHost>,
    /// Output port descriptions, reused by every block.
    ports: AudioPorts,
    /// Left and right output, sized to the largest block.
    output: [Vec<f32>; 2],
    /// Input event scratch, with room for the most events a block may carry.
    input_events: EventBuffer,
    /// Output event scratch, with the same room.
    output_events: EventBuffer,
    /// Samples processed since activation.
    samples_processed: u64,
}

impl HostedPlugin {
    /// Activates the plugin for an audio thread of its own: blocks up to `max_block` samples
    /// with up to `events` input and `events` output events each. Send the result to that
    /// thread; this plugin keeps serving main-thread calls (parameters, state, the editor).
    pub fn activate_for_audio_thread(
        &mut self,
        sample_rate: f64,
        max_block: u32,
        events: usize,
    ) -> Result<AudioThreadPlugin, HarnessError> {
        let configuration = PluginAudioConfiguration { sample_rate, min_frames_count: 1, max_frames_count: max_block };
        let stopped = self
            .instance
            .activate(|_, _| (), configuration)
            .map_err(|error| HarnessError::Refused(format!("activate: {error:?}")))?;
        Ok(AudioThreadPlugin {
            processor: stopped.into(),
            ports: AudioPorts::with_capacity(2, 1),
            output: [vec![0.0; max_block as usize], vec![0.0; max_block as usize]],
            input_events: EventBuffer::with_capacity(events),
            output_events: EventBuffer::with_capacity(events),
            samples_processed: 0,
        })
    }
}

impl AudioThreadPlugin {
    /// Starts processing; call on the audio thread, before syscalls are forbidden there.
    pub fn start(&mut self) -> Result<(), HarnessError> {
        self.processor.ensure_processing_started().map(|_| ()).map_err(|error| HarnessError::Refused(format!("start: {error:?}")))
    }

    /// Runs one block like [`HostedPlugin::process`], without a syscall or an allocation on
    /// this thread: `sorted_events` must be in offset order and within the reserved capacity,
    /// the notes the plugin sends go to `on_note`, the audio stays in the scratch, and no
    /// main-thread callback is served (a real host's audio thread serves none either).
    pub fn process_without_syscalls(
        &mut self,
        samples: usize,
        transport: Transport,
        sorted_events: &[(u32, InputEvent)],
        mut on_note: impl FnMut(OutputNote),
    ) -> Result<(), HarnessError> {
        let processor = self.processor.as_started_mut().map_err(|_| HarnessError::NotActive)?;
        self.input_events.clear();
        for &(offset, event) in sorted_events {
            push_input(&mut self.input_events, offset, event);
        }
        self.output_events.clear();
        let transport_event = clap_transport(&transport);
        let [left, right] = &mut self.output;
        let (left, right) = (&mut left[..samples], &mut right[..samples]);
        let mut outputs = self.ports.with_output_buffers([AudioPortBuffer {
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
