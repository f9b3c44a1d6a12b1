use super::*;
use crate::markov::splitmix64;

/// The memory's distribution computed the slow, obvious way: count every heard occurrence of
/// each context by scanning the learned tokens.
fn naive_memory_distribution(learned: &[Token], context: &[Token], network: &[f64]) -> (usize, Vec<f64>) {
    let followers_of = |order: usize| -> Vec<Token> {
        let wanted = &context[context.len() - order..];
        (order..learned.len()).filter(|&end| &learned[end - order..end] == wanted).map(|end| learned[end]).collect()
    };
    let matched = (1..=MEMORY_MAX_ORDER.min(context.len())).take_while(|&order| !followers_of(order).is_empty()).count();
    let mut distribution = network.to_vec();
    for order in 1..=matched {
        let followers = followers_of(order);
        let mut distinct = followers.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let denominator = (followers.len() + distinct.len()) as f64;
        let escape = distinct.len() as f64 / denominator;
        distribution.iter_mut().for_each(|p| *p *= escape);
        for &token in &followers {
            distribution[token as usize] += 1.0 / denominator;
        }
    }
    (matched, distribution)
}

fn softmax(logits: &[f32]) -> Vec<f64> {
    let normalizer = log_sum_exp(logits);
    logits.iter().map(|&logit| (logit as f64 - normalizer).exp()).collect()
}

fn random_logits(seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..VOCAB_SIZE)
        .map(|_| {
            state = splitmix64(state);
            (state % 1000) as f32 / 100.0 - 5.0
        })
        .collect()
}

/// Tokens from a small alphabet with repeated phrases, so long contexts recur.
fn phrase_stream(length: usize, seed: u64) -> Vec<Token> {
    let phrases: [&[Token]; 3] = [&[10, 11, 12, 13, 10], &[20, 11, 12, 21], &[30, 31, 10, 11, 12, 14]];
    let mut state = seed;
    let mut stream = Vec::with_capacity(length + 8);
    while stream.len() < length {
        state = splitmix64(state);
        stream.extend_from_slice(phrases[(state % 3) as usize]);
        if state.is_multiple_of(5) {
            stream.push(40 + (state >> 32) as Token % 4);
        }
    }
    stream.truncate(length);
    stream
}

#[test]
fn recall_and_mixing_agree_with_the_naive_counts_after_the_ring_wraps() {
    agrees_with_the_naive_counts(StyleMemory::new(), MEMORY_CAPACITY_TOKENS, 4_111);
}

#[test]
fn a_smaller_memory_agrees_with_the_naive_counts_of_its_last_tokens() {
    agrees_with_the_naive_counts(StyleMemory::with_capacity(500), 500, 257);
}

/// Feeds `memory`, which holds `capacity` tokens, a stream that wraps its ring, and every `every`
/// tokens (and at the end) checks what it holds, recalls and mixes against counting the last
/// `capacity` tokens naively.
fn agrees_with_the_naive_counts(mut memory: StyleMemory, capacity: usize, every: usize) {
    let stream = phrase_stream(capacity + 3_000, 3);
    for (index, &token) in stream.iter().enumerate() {
        memory.learn(token);
        if index % every != every - 1 && index != stream.len() - 1 {
            continue;
        }
        let held = &stream[(index + 1).saturating_sub(capacity)..=index];
        assert!(memory.learned_tokens().eq(held.iter().copied()), "holds the last tokens, oldest first");
        let context = &stream[index + 1 - MEMORY_MAX_ORDER..=index];
        let mut followed = MemoryContext::default();
        context.iter().for_each(|&token| followed.push(token));
        let mut logits = random_logits(index as u64);
        let network = softmax(&logits);
        let (matched, expected) = naive_memory_distribution(held, context, &network);
        let recall = memory.recall(&followed);
        assert_eq!(recall.matched_order, matched);
        for token in 0..VOCAB_SIZE as Token {
            let got = memory.probability(&recall, token, network[token as usize]);
            assert!((got - expected[token as usize]).abs() < 1e-9, "token {token}: {got} vs {}", expected[token as usize]);
        }
        let weight = 0.6;
        memory.mix_into_logits(&recall, weight, &mut logits);
        for (token, mixed) in softmax(&logits).iter().enumerate() {
            let want = (1.0 - weight) * network[token] + weight * expected[token];
            assert!((mixed - want).abs() < 1e-5, "mixed token {token}: {mixed} vs {want}");
        }
    }
}

#[test]
fn a_repeated_motif_is_predicted_more_strongly_the_longer_it_matches() {
    let motif: [Token; 6] = [60, 200, 62, 200, 64, 200];
    let mut memory = StyleMemory::new();
    for _ in 0..3 {
        motif.iter().for_each(|&token| memory.learn(token));
    }
    let mut context = MemoryContext::default();
    let mut probabilities = Vec::new();
    for &token in &motif[..5] {
        context.push(token);
        let mut logits = vec![0.0f32; VOCAB_SIZE];
        let recall = memory.steer(&context, &mut logits, MEASURED_STRENGTH);
        let next = motif[probabilities.len() + 1];
        probabilities.push((recall.matched_order, softmax(&logits)[next as usize]));
    }
    assert!(probabilities.windows(2).all(|pair| pair[1].0 > pair[0].0), "{probabilities:?}");
    assert!(probabilities.windows(2).all(|pair| pair[1].1 > pair[0].1), "{probabilities:?}");
    assert!(probabilities[0].1 > 1.0 / VOCAB_SIZE as f64, "even one matched token helps");
}

#[test]
fn strength_zero_leaves_the_network_alone() {
    let mut memory = StyleMemory::new();
    phrase_stream(500, 9).iter().for_each(|&token| memory.learn(token));
    let mut context = MemoryContext::default();
    phrase_stream(20, 9).iter().for_each(|&token| context.push(token));
    let mut logits = random_logits(1);
    let before = logits.clone();
    let recall = memory.steer(&context, &mut logits, 0.0);
    assert!(recall.matched_order > 0);
    assert_eq!(logits, before);
    assert!(StyleMemory::weight(&recall, 1.0) > StyleMemory::weight(&recall, MEASURED_STRENGTH));
    assert!(StyleMemory::weight(&recall, 1.0) <= MAX_MEMORY_WEIGHT);
}

#[test]
fn a_saved_memory_round_trips_and_a_bad_one_leaves_it_empty() {
    let mut memory = StyleMemory::new();
    phrase_stream(MEMORY_CAPACITY_TOKENS + 50, 4).iter().for_each(|&token| memory.learn(token));
    let saved: Vec<Token> = memory.learned_tokens().collect();
    let mut restored = StyleMemory::new();
    restored.restore(&saved).unwrap();
    assert!(restored.learned_tokens().eq(saved.iter().copied()));
    let (mut a, mut b) = (random_logits(2), random_logits(2));
    let mut context = MemoryContext::default();
    saved[saved.len() - 4..].iter().for_each(|&token| context.push(token));
    memory.steer(&context, &mut a, 1.0);
    restored.steer(&context, &mut b, 1.0);
    assert_eq!(a, b, "the restored memory predicts as the original");

    assert_eq!(restored.restore(&vec![10; MEMORY_CAPACITY_TOKENS + 1]), Err(MemoryError::TooLong(MEMORY_CAPACITY_TOKENS + 1)));
    assert!(restored.is_empty());
    restored.restore(&saved).unwrap();
    assert_eq!(restored.restore(&[10, VOCAB_SIZE as Token]), Err(MemoryError::UnknownToken(VOCAB_SIZE as Token)));
    assert!(restored.is_empty());
}

#[test]
fn forgetting_empties_it() {
    let mut memory = StyleMemory::new();
    phrase_stream(300, 5).iter().for_each(|&token| memory.learn(token));
    memory.forget();
    assert!(memory.is_empty());
    let mut context = MemoryContext::default();
    phrase_stream(300, 5).iter().for_each(|&token| context.push(token));
    assert_eq!(memory.recall(&context), Recall { matched_order: 0, network_share: 1.0 });
}
