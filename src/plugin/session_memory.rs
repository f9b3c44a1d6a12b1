//! The worker's style memory of this session: it learns what the player plays (never
//! Continuo's own answers, which would teach it its own habits), steers every answer, and
//! travels with the project through a persisted text field that the worker, never the audio
//! thread, writes and reads.

use std::sync::{PoisonError, RwLock};

use super::heard_stream::HeardStream;
use super::saved_memory::{decode, encode_into, SavedMemoryError};
use crate::style_memory::StyleMemory;
use crate::tokens::{Event, KeyEvent};

/// The style memory and what keeps it learning and saved.
#[derive(Debug)]
pub struct SessionMemory {
    /// What the player played, as the core's variable-order memory. Allocated once, with the
    /// worker; never cloned.
    memory: StyleMemory,
    /// The player's key events as tokens: their own stream, so the answers' notes between
    /// phrases are not learned, and with the silences between phrases left out, so the memory
    /// learns how one phrase leads into the next (an answer's context skips its gap the same
    /// way).
    player: HeardStream,
    /// The saved text last written to (or read from) the project's field: a field that differs
    /// from it was loaded by the host.
    published: String,
    /// Whether the memory learned or forgot since `published` was written.
    changed: bool,
}

impl Default for SessionMemory {
    fn default() -> Self {
        SessionMemory {
            memory: StyleMemory::new(),
            player: HeardStream::joining_phrases(),
            published: String::new(),
            changed: false,
        }
    }
}

impl SessionMemory {
    /// The player played `key` at `stream_tick`: learn its tokens.
    pub fn learn(&mut self, stream_tick: u64, key: KeyEvent) {
        let Self { memory, player, .. } = self;
        player.push(stream_tick, key, |token| memory.learn(token));
        self.changed = true;
    }

    /// The stream clock restarts (a reset): the player's next notes start a new stream; the
    /// memory keeps what it learned.
    pub fn restart_stream(&mut self) {
        self.player = HeardStream::joining_phrases();
    }

    /// Empties the memory (the Forget action).
    pub fn forget(&mut self) {
        self.memory.forget();
        self.changed = true;
    }

    /// The memory, to steer with.
    pub fn memory_mut(&mut self) -> &mut StyleMemory {
        &mut self.memory
    }

    /// How many notes (note-ons) the memory holds.
    pub fn notes_held(&self) -> usize {
        self.memory.learned_tokens().filter(|&token| matches!(Event::from_token(token), Some(Event::NoteOn(_)))).count()
    }

    /// Brings the memory and the project's saved field together: a field the host changed (a
    /// project or state was loaded) replaces the memory; otherwise a memory that changed is
    /// written to the field. A saved memory that cannot be restored is refused (the error says
    /// why), the memory is left empty and the field says so.
    pub fn sync_with_saved(&mut self, saved: &RwLock<String>) -> Result<(), SavedMemoryError> {
        let mut saved = saved.write().unwrap_or_else(PoisonError::into_inner);
        let mut restored = Ok(());
        if *saved != self.published {
            restored = self.restore(&saved);
            self.changed = true;
        }
        if self.changed {
            encode_into(self.memory.learned_tokens(), &mut self.published);
            saved.clone_from(&self.published);
            self.changed = false;
        }
        restored
    }

    fn restore(&mut self, text: &str) -> Result<(), SavedMemoryError> {
        let restored = decode(text).and_then(|tokens| Ok(self.memory.restore(&tokens)?));
        if restored.is_err() {
            self.memory.forget();
        }
        restored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::style_memory::MEMORY_CAPACITY_TOKENS;

    fn played(memory: &mut SessionMemory) {
        for (index, pitch) in [60u8, 62, 64].into_iter().enumerate() {
            let tick = index as u64 * 12;
            memory.learn(tick, KeyEvent::On { pitch, velocity: 90 });
            memory.learn(tick + 6, KeyEvent::Off { pitch });
        }
    }

    #[test]
    fn a_learned_memory_is_saved_and_a_loaded_one_restored() {
        let field = RwLock::new(String::new());
        let mut memory = SessionMemory::default();
        played(&mut memory);
        memory.sync_with_saved(&field).unwrap();
        let saved = field.read().unwrap().clone();
        assert!(!saved.is_empty());
        assert_eq!(memory.notes_held(), 3);

        let mut reopened = SessionMemory::default();
        let loaded = RwLock::new(saved.clone());
        reopened.sync_with_saved(&loaded).unwrap();
        assert!(reopened.memory.learned_tokens().eq(memory.memory.learned_tokens()), "the same tokens come back");
        assert_eq!(*loaded.read().unwrap(), saved, "and the field keeps them");
    }

    #[test]
    fn a_corrupt_or_oversized_saved_memory_is_refused_and_leaves_it_empty() {
        let oversized = "0000".repeat(MEMORY_CAPACITY_TOKENS + 1);
        let unknown_token = "ffff".to_string();
        let refused = [("00zz".to_string(), "not hex"), (oversized, "at most"), (unknown_token, "outside the vocabulary")];
        for (text, problem) in refused {
            let mut memory = SessionMemory::default();
            played(&mut memory);
            let field = RwLock::new(text);
            let error = memory.sync_with_saved(&field).unwrap_err().to_string();
            assert!(error.contains(problem), "{error}");
            assert_eq!(memory.notes_held(), 0, "refused: the memory is empty");
            assert_eq!(*field.read().unwrap(), "", "and the field says so");
        }
    }

    #[test]
    fn forgetting_empties_the_memory_and_the_field_and_a_restart_keeps_what_was_learned() {
        let field = RwLock::new(String::new());
        let mut memory = SessionMemory::default();
        played(&mut memory);
        memory.restart_stream();
        played(&mut memory);
        assert_eq!(memory.notes_held(), 6);
        memory.sync_with_saved(&field).unwrap();
        memory.forget();
        memory.sync_with_saved(&field).unwrap();
        assert_eq!((memory.notes_held(), field.read().unwrap().as_str()), (0, ""));
    }
}
