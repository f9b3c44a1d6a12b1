//! Engine tests: cached vs naive parity, SIMD vs portable, scoring.

use super::random_model::random_wavenet;
use super::*;
use crate::tokens::VOCAB_SIZE;
use rand::{Rng, SeedableRng};

/// A small model, so 10,000 naive steps stay quick: receptive field 1 + 2 * (1+2+4+8+16) = 63.
pub(crate) fn small_config() -> WaveNetConfig {
    WaveNetConfig { residual_channels: 16, skip_channels: 32, stacks: 2, layers_per_stack: 5, conditioned: true }
}

/// Random tokens from the whole vocabulary but `Pad`, grammatical or not.
fn random_tokens(count: usize, seed: u64) -> Vec<Token> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    (0..count).map(|_| rng.random_range(1..VOCAB_SIZE as Token)).collect()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn cached_engine_matches_the_naive_reference_over_10000_steps() {
    let model = random_wavenet(small_config(), 1);
    let mut cached = Engine::from_model(&model).unwrap();
    let mut naive = NaiveEngine::from_model(&model).unwrap();
    assert!(max_difference(cached.logits(), naive.logits()) <= 1e-5);
    for (step, token) in random_tokens(10_000, 2).into_iter().enumerate() {
        let difference = max_difference(cached.step(token), naive.step(token));
        assert!(difference <= 1e-5, "step {step}: logits differ by {difference}");
    }
    assert_eq!(cached.state(), naive.state());
}

#[test]
fn int8_cached_engine_matches_the_int8_naive_reference() {
    let model = quantize::quantize(&random_wavenet(small_config(), 3));
    let mut cached = Engine::from_model(&model).unwrap();
    let mut naive = NaiveEngine::from_model(&model).unwrap();
    for (step, token) in random_tokens(500, 4).into_iter().enumerate() {
        let difference = max_difference(cached.step(token), naive.step(token));
        assert!(difference <= 1e-5, "step {step}: logits differ by {difference}");
    }
}

#[test]
fn int8_logits_stay_close_to_f32() {
    let model = random_wavenet(small_config(), 5);
    let mut f32_engine = Engine::from_model(&model).unwrap();
    let mut int8_engine = Engine::from_model(&quantize::quantize(&model)).unwrap();
    let mut worst: f32 = 0.0;
    for token in random_tokens(300, 6) {
        worst = worst.max(max_difference(f32_engine.step(token), int8_engine.step(token)));
    }
    assert!(worst > 0.0, "int8 really runs quantized");
    assert!(worst < 0.15, "int8 logits drift by {worst}");
}

#[test]
fn simd_and_portable_engines_agree() {
    for model in [random_wavenet(small_config(), 7), quantize::quantize(&random_wavenet(small_config(), 7))] {
        let mut simd = Engine::from_model(&model).unwrap();
        let mut portable = Engine::with_kernel(&model, Kernel::Portable).unwrap();
        for token in random_tokens(300, 8) {
            let difference = max_difference(simd.step(token), portable.step(token));
            assert!(difference <= 1e-4, "{:?}: logits differ by {difference}", model.meta.precision);
        }
    }
}

#[test]
fn reset_gives_the_same_logits_as_a_fresh_engine() {
    let model = random_wavenet(small_config(), 9);
    let fresh = Engine::from_model(&model).unwrap();
    let mut used = fresh.clone();
    let tokens = random_tokens(200, 10);
    for &token in &tokens {
        used.step(token);
    }
    used.reset();
    assert_eq!(used.logits(), fresh.logits());
    assert_eq!(used.state(), fresh.state());
}

#[test]
fn lstm_models_are_refused_with_the_reason() {
    let mut model = random_wavenet(small_config(), 11);
    model.meta.architecture =
        crate::model::Architecture::Lstm(crate::model::LstmConfig { embedding: 4, hidden: 4, layers: 1 });
    let error = Engine::from_model(&model).unwrap_err().to_string();
    assert!(error.contains("LSTM"), "{error}");
}

#[test]
fn score_is_the_mean_negative_log_softmax_of_each_next_token() {
    let model = random_wavenet(small_config(), 12);
    let mut engine = Engine::from_model(&model).unwrap();
    let notes: Vec<crate::tokens::Note> = (0..8)
        .map(|i| crate::tokens::Note { pitch: 60 + i, velocity: 80, start_beats: i as f64 * 0.5, duration_beats: 0.5 })
        .collect();
    let tokens = crate::tokens::encode_notes(&notes).tokens;
    let scored = score(&mut engine, &tokens, false);
    assert_eq!(scored.scored_tokens, tokens.len() - 1);
    // Recompute by hand from the logits of a separate engine.
    let mut check = Engine::from_model(&model).unwrap();
    let mut nll = 0.0f64;
    for &token in &tokens[1..] {
        let logits = check.logits();
        let log_sum: f64 = logits.iter().map(|&l| (l as f64).exp()).sum::<f64>().ln();
        nll += log_sum - logits[token as usize] as f64;
        check.step(token);
    }
    assert!((scored.nll_nats - nll).abs() < 1e-6 * nll.abs().max(1.0), "{} vs {nll}", scored.nll_nats);
    let masked = score(&mut engine, &tokens, true);
    assert!(masked.nll_nats < scored.nll_nats, "renormalizing over legal events raises their probabilities");
    assert!(masked.correct_top1 >= scored.correct_top1);
}
