//! The memory's counts: for each context it has heard (a hash of up to `max_order` tokens), how
//! often each token followed it. Fixed capacity, chosen at construction: an open-addressing table
//! of contexts and a pool of followers, with a free list, so learning and forgetting a token never
//! allocate and cost `O(max_order)` lookups.

use crate::markov::splitmix64;
use crate::tokens::Token;

/// Marks "no follower" in the linked lists.
const NONE: u32 = u32::MAX;

/// One context the memory has heard.
#[derive(Clone, Copy, Debug, Default)]
struct ContextSlot {
    /// The context's hash.
    hash: u64,
    /// How often the context was followed by anything; 0 marks an empty slot (a context whose
    /// count falls to 0 is deleted).
    total: u32,
    /// How many distinct tokens followed it (Witten-Bell's escape count).
    distinct: u32,
    /// The first of its followers in the pool, or `NONE`.
    first: u32,
}

/// One token that followed one context.
#[derive(Clone, Copy, Debug)]
struct Follower {
    /// The token.
    token: Token,
    /// How often it followed.
    count: u32,
    /// The context's next follower, or `NONE` (the free list reuses this link).
    next: u32,
}

/// What the memory heard after one context.
#[derive(Clone, Copy, Debug)]
pub struct ContextCounts<'a> {
    /// Times the context was followed by anything.
    pub total: u32,
    /// Distinct tokens that followed.
    pub distinct: u32,
    /// Where its followers are.
    first: u32,
    /// The pool they live in.
    pool: &'a [Follower],
}

impl<'a> ContextCounts<'a> {
    /// Each follower and its count.
    pub fn followers(&self) -> impl Iterator<Item = (Token, u32)> + 'a {
        let pool = self.pool;
        let mut index = self.first;
        std::iter::from_fn(move || {
            let follower = pool.get(index as usize)?;
            index = follower.next;
            Some((follower.token, follower.count))
        })
    }
}

/// Follower counts per context hash, bounded.
#[derive(Clone, Debug)]
pub struct ContextCountTable {
    /// Open addressing with linear probing; a power of two long, at most half full.
    slots: Vec<ContextSlot>,
    /// Follower records, linked per context.
    pool: Vec<Follower>,
    /// Head of the list of unused records in `pool`.
    free: u32,
}

impl ContextCountTable {
    /// A table for at most `max_pairs` distinct (context, follower) pairs at once.
    pub fn new(max_pairs: usize) -> Self {
        let slot_count = (2 * max_pairs.max(1)).next_power_of_two();
        let mut table = ContextCountTable {
            slots: vec![ContextSlot::default(); slot_count],
            pool: vec![Follower { token: 0, count: 0, next: NONE }; max_pairs],
            free: NONE,
        };
        table.clear();
        table
    }

    /// Forgets every count (keeps the memory): all slots empty, every record on the free list.
    pub fn clear(&mut self) {
        self.slots.fill(ContextSlot::default());
        let count = self.pool.len();
        for (index, follower) in self.pool.iter_mut().enumerate() {
            *follower = Follower { token: 0, count: 0, next: if index + 1 < count { index as u32 + 1 } else { NONE } };
        }
        self.free = if count > 0 { 0 } else { NONE };
    }

    /// What followed the context with this hash, if it was heard.
    pub fn get(&self, hash: u64) -> Option<ContextCounts<'_>> {
        let slot = &self.slots[self.find(hash).ok()?];
        Some(ContextCounts { total: slot.total, distinct: slot.distinct, first: slot.first, pool: &self.pool })
    }

    /// Counts `token` once more after the context. Panics if more distinct pairs are held than
    /// the table was built for (the memory's bounds make that impossible).
    pub fn add(&mut self, hash: u64, token: Token) {
        let index = match self.find(hash) {
            Ok(index) => index,
            Err(empty) => {
                self.slots[empty] = ContextSlot { hash, total: 0, distinct: 0, first: NONE };
                empty
            }
        };
        let mut follower = self.slots[index].first;
        while follower != NONE && self.pool[follower as usize].token != token {
            follower = self.pool[follower as usize].next;
        }
        if follower == NONE {
            follower = self.free;
            assert_ne!(follower, NONE, "more (context, follower) pairs than the table holds");
            self.free = self.pool[follower as usize].next;
            self.pool[follower as usize] = Follower { token, count: 0, next: self.slots[index].first };
            self.slots[index].first = follower;
            self.slots[index].distinct += 1;
        }
        self.pool[follower as usize].count += 1;
        self.slots[index].total += 1;
    }

    /// Takes back one `add(hash, token)`: the pair and the context disappear when their counts
    /// reach zero.
    pub fn remove(&mut self, hash: u64, token: Token) {
        let Ok(index) = self.find(hash) else { return };
        let mut previous = NONE;
        let mut follower = self.slots[index].first;
        while follower != NONE && self.pool[follower as usize].token != token {
            previous = follower;
            follower = self.pool[follower as usize].next;
        }
        if follower == NONE {
            return;
        }
        let slot = &mut self.slots[index];
        slot.total -= 1;
        self.pool[follower as usize].count -= 1;
        if self.pool[follower as usize].count == 0 {
            let next = self.pool[follower as usize].next;
            if previous == NONE {
                slot.first = next;
            } else {
                self.pool[previous as usize].next = next;
            }
            slot.distinct -= 1;
            self.pool[follower as usize].next = self.free;
            self.free = follower;
        }
        if slot.total == 0 {
            self.delete_slot(index);
        }
    }

    /// The slot holding `hash`, or the empty slot where it would go.
    fn find(&self, hash: u64) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut index = home(hash, mask);
        loop {
            let slot = &self.slots[index];
            if slot.total == 0 {
                return Err(index);
            }
            if slot.hash == hash {
                return Ok(index);
            }
            index = (index + 1) & mask;
        }
    }

    /// Empties a slot, moving later slots of the same probe run back (no tombstones, so a long
    /// session's churn never fills the table).
    fn delete_slot(&mut self, mut hole: usize) {
        let mask = self.slots.len() - 1;
        let mut index = hole;
        loop {
            index = (index + 1) & mask;
            let ContextSlot { hash, total, .. } = self.slots[index];
            if total == 0 {
                break;
            }
            // The entry may fill the hole if its home does not lie cyclically in (hole, index].
            let distance_to_home = index.wrapping_sub(home(hash, mask)) & mask;
            let distance_to_hole = index.wrapping_sub(hole) & mask;
            if distance_to_home >= distance_to_hole {
                self.slots[hole] = self.slots[index];
                hole = index;
            }
        }
        self.slots[hole] = ContextSlot::default();
    }
}

/// Where a hash's probe run starts.
fn home(hash: u64, mask: usize) -> usize {
    (splitmix64(hash) as usize) & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn followers(table: &ContextCountTable, hash: u64) -> Vec<(Token, u32)> {
        let mut list: Vec<_> = table.get(hash).map(|counts| counts.followers().collect()).unwrap_or_default();
        list.sort_unstable();
        list
    }

    #[test]
    fn counts_match_a_hash_map_through_adds_and_removes() {
        // A small table, with colliding probe runs, against a plain map of counts.
        let mut table = ContextCountTable::new(64);
        let mut reference: HashMap<(u64, Token), u32> = HashMap::new();
        let mut live: Vec<(u64, Token)> = Vec::new();
        let mut state = 7u64;
        for step in 0..20_000 {
            state = splitmix64(state);
            let remove = !live.is_empty() && (live.len() >= 60 || state.is_multiple_of(3));
            if remove {
                let (hash, token) = live.swap_remove((state >> 8) as usize % live.len());
                table.remove(hash, token);
                *reference.get_mut(&(hash, token)).unwrap() -= 1;
            } else {
                let pair = ((state >> 20) % 12, (state >> 40) as Token % 5);
                table.add(pair.0, pair.1);
                *reference.entry(pair).or_default() += 1;
                live.push(pair);
            }
            if step % 97 == 0 {
                for hash in 0..12u64 {
                    let mut expected: Vec<(Token, u32)> = reference
                        .iter()
                        .filter(|(&(h, _), &count)| h == hash && count > 0)
                        .map(|(&(_, token), &count)| (token, count))
                        .collect();
                    expected.sort_unstable();
                    assert_eq!(followers(&table, hash), expected, "context {hash} at step {step}");
                    if let Some(counts) = table.get(hash) {
                        assert_eq!(counts.total, expected.iter().map(|&(_, count)| count).sum::<u32>());
                        assert_eq!(counts.distinct as usize, expected.len());
                    }
                }
            }
        }
    }

    #[test]
    fn a_cleared_table_holds_its_full_capacity_again() {
        let mut table = ContextCountTable::new(8);
        for token in 0..8 {
            table.add(1, token);
        }
        table.clear();
        assert!(table.get(1).is_none());
        for token in 0..8 {
            table.add(2 + token as u64, token);
        }
        assert_eq!(followers(&table, 9), vec![(7, 1)]);
    }
}
