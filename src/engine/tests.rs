//! Engine tests: cached vs naive parity, SIMD vs portable, scoring.

use super::random_model::random_wavenet;
use super::*;
use crate::tokens::VOCAB_SIZE;
use rand::{Rng, SeedableRng};

/// A small model, so 10,000 naive steps stay quick: receptive field 1 + 2 * (1+2+4+8+16) = 63.
pub(crate) fn small_config() -> WaveNetConfig {
    WaveNetConfig { residual_channels: 16, skip_channels: 32, stacks: 2, layers_per_stack: 5, conditioned: true, repeat_pointer: false, copy_keys: 0 }
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
fn the_repeat_pointer_adds_its_bonus_to_the_repeated_token_in_both_engines() {
    let with_pointer = random_wavenet(WaveNetConfig { repeat_pointer: true, ..small_config() }, 7);
    let mut without_pointer = with_pointer.clone();
    without_pointer.meta.architecture = Architecture::WaveNet(small_config());
    without_pointer.tensors.remove(crate::model::names::REPEAT_BONUS);
    let bonus = with_pointer.f32(crate::model::names::REPEAT_BONUS).unwrap().to_vec();
    let (mut cached, mut naive) = (Engine::from_model(&with_pointer).unwrap(), NaiveEngine::from_model(&with_pointer).unwrap());
    let mut network_alone = Engine::from_model(&without_pointer).unwrap();
    let phrase = random_tokens(40, 8);
    let mut boosted_steps = 0;
    for (step, &token) in phrase.iter().cycle().take(3 * phrase.len()).enumerate() {
        let logits = cached.step(token).to_vec();
        assert!(max_difference(&logits, naive.step(token)) <= 1e-5, "step {step}");
        let alone = network_alone.step(token);
        let changed: Vec<usize> = (0..VOCAB_SIZE).filter(|&t| logits[t] != alone[t]).collect();
        match changed.as_slice() {
            [] => assert!(step < phrase.len() + repeat_pointer::MATCH_MIN_TOKENS - 1, "step {step}: no bonus on a repeat"),
            [next] => {
                assert_eq!(*next as Token, phrase[(step + 1) % phrase.len()], "step {step}: the bonus goes to the token that comes next");
                let added = logits[*next] - alone[*next];
                assert!(bonus.iter().any(|b| (b - added).abs() < 1e-5), "step {step}: {added} is not a bonus of the table");
                boosted_steps += 1;
            }
            more => panic!("step {step}: {} logits changed", more.len()),
        }
    }
    assert_eq!(boosted_steps, 2 * phrase.len() - repeat_pointer::MATCH_MIN_TOKENS + 1);
}

#[test]
fn a_repeat_strength_scales_the_bonus_and_corrects_the_last_logits() {
    let model = random_wavenet(WaveNetConfig { repeat_pointer: true, ..small_config() }, 9);
    let (mut whole, mut quarter) = (Engine::from_model(&model).unwrap(), Engine::from_model(&model).unwrap());
    let mut network_alone = Engine::from_model(&model.without_repeat_pointer()).unwrap();
    quarter.set_repeat_strength(0.25);
    let phrase = random_tokens(20, 10);
    let mut last_bonus = 0.0;
    for &token in phrase.iter().cycle().take(2 * phrase.len()) {
        let (whole, quarter, alone) = (whole.step(token).to_vec(), quarter.step(token).to_vec(), network_alone.step(token));
        let bonus: Vec<f32> = whole.iter().zip(alone).map(|(with, without)| with - without).collect();
        let quarter_bonus: Vec<f32> = quarter.iter().zip(alone).map(|(with, without)| with - without).collect();
        assert!(bonus.iter().zip(&quarter_bonus).all(|(b, q)| (0.25 * b - q).abs() < 1e-5));
        last_bonus = bonus.iter().copied().fold(0.0, |sum, b| sum + b.abs());
    }
    assert!(last_bonus > 0.0, "the last step repeats the phrase, so the pointer proposes");
    whole.set_repeat_strength(0.25);
    assert!(max_difference(whole.logits(), quarter.logits()) < 1e-5, "a new strength corrects the last step's logits");
}

#[test]
fn int8_cached_engine_matches_the_int8_naive_reference_on_every_kernel() {
    let model = quantize::quantize(&random_wavenet(small_config(), 3));
    for kernel in kernels::kernels_on_this_cpu("int8 engine vs naive reference") {
        let mut cached = Engine::with_kernel(&model, kernel).unwrap();
        let mut naive = NaiveEngine::from_model(&model).unwrap();
        for (step, token) in random_tokens(500, 4).into_iter().enumerate() {
            let difference = max_difference(cached.step(token), naive.step(token));
            assert!(difference <= 1e-5, "{kernel:?} step {step}: logits differ by {difference}");
        }
    }
}

/// The small model with a copy head of 8-wide keys.
fn copy_config() -> WaveNetConfig {
    WaveNetConfig { copy_keys: 8, ..small_config() }
}

/// Past the copy window, so the ring wraps.
const COPY_TEST_STEPS: usize = copy_head::COPY_WINDOW_TOKENS + 300;

#[test]
fn a_copy_head_matches_its_naive_reference_past_the_window_f32_and_int8_on_every_kernel() {
    let f32_model = random_wavenet(copy_config(), 12);
    let int8_model = quantize::quantize(&f32_model);
    let tokens = random_tokens(COPY_TEST_STEPS, 13);
    for kernel in kernels::kernels_on_this_cpu("copy head vs its naive reference") {
        for model in [&f32_model, &int8_model] {
            let mut cached = Engine::with_kernel(model, kernel).unwrap();
            let mut naive = NaiveEngine::from_model(model).unwrap();
            for (step, &token) in tokens.iter().enumerate() {
                let difference = max_difference(cached.step(token), naive.step(token));
                assert!(difference <= 1e-4, "{kernel:?} {:?} step {step}: logits differ by {difference}", model.meta.precision);
            }
        }
    }
}

/// The mixture of a copy head that attends evenly (queries of zero): `g * softmax(network) +
/// (share of each token among the last n tokens fed) * (1 - g)`, `g = e^b / (n + e^b)`.
fn evenly_copied(network_logits: &[f32], recent: &[Token], sentinel_bias: f32) -> Vec<f32> {
    let n = recent.len() as f64;
    let keep = (sentinel_bias as f64).exp() / (n + (sentinel_bias as f64).exp());
    let log_normaliser = crate::style_memory::log_sum_exp(network_logits);
    let mut probabilities: Vec<f64> = network_logits.iter().map(|&l| keep * (l as f64 - log_normaliser).exp()).collect();
    for &token in recent {
        probabilities[token as usize] += 1.0 / (n + (sentinel_bias as f64).exp());
    }
    probabilities.iter().map(|p| (p + copy_head::COPY_PROBABILITY_FLOOR as f64).ln() as f32).collect()
}

#[test]
fn a_copy_strength_of_zero_samples_the_network_alone_and_a_new_strength_remixes_the_last_step() {
    let model = random_wavenet(copy_config(), 16);
    let mut zero = Engine::from_model(&model).unwrap();
    zero.set_copy_strength(0.0);
    let mut alone = Engine::from_model(&model.without_copy_head()).unwrap();
    for token in random_tokens(300, 17) {
        let expected = evenly_copied(alone.step(token), &[], 0.0);
        assert!(max_difference(zero.step(token), &expected) <= 1e-5, "strength 0 is the network's log-softmax");
    }
    // With the repeat pointer too: a phrase played twice, so it proposes at the end.
    let both = random_wavenet(WaveNetConfig { repeat_pointer: true, ..copy_config() }, 18);
    let (mut whole, mut quarter) = (Engine::from_model(&both).unwrap(), Engine::from_model(&both).unwrap());
    quarter.set_copy_strength(0.25);
    let phrase = random_tokens(20, 19);
    for &token in phrase.iter().cycle().take(2 * phrase.len()) {
        let (whole, quarter) = (whole.step(token).to_vec(), quarter.step(token).to_vec());
        assert!(max_difference(&whole, &quarter) > 1e-3, "a quarter of the copying is another mixture");
    }
    for _ in 0..2 {
        whole.set_copy_strength(0.25);
        assert!(max_difference(whole.logits(), quarter.logits()) <= 1e-5, "the last step remixed, the pointer's bonus kept once");
    }
}

#[test]
fn an_even_copy_head_mixes_in_the_tokens_of_the_window_and_never_the_next_one() {
    let mut model = random_wavenet(copy_config(), 14);
    let query = crate::model::names::weight(crate::model::names::COPY_QUERY);
    for name in [query, crate::model::names::bias(crate::model::names::COPY_QUERY)] {
        let tensor = model.tensors.get_mut(&name).unwrap();
        *tensor = crate::model::StoredTensor::f32(tensor.shape.clone(), vec![0.0; tensor.shape.iter().product()]);
    }
    let sentinel_bias = model.f32(crate::model::names::COPY_SENTINEL_BIAS).unwrap()[0];
    let network_alone = model.without_copy_head();
    let (mut with_copy, mut alone) = (Engine::from_model(&model).unwrap(), Engine::from_model(&network_alone).unwrap());
    let network_only = |alone: &Engine| evenly_copied(alone.logits(), &[], sentinel_bias);
    assert!(max_difference(with_copy.logits(), &network_only(&alone)) < 1e-4, "after Start the window is empty");
    let tokens = random_tokens(COPY_TEST_STEPS, 15);
    for (step, &token) in tokens.iter().enumerate() {
        let fed = &tokens[..=step];
        let recent = &fed[fed.len().saturating_sub(copy_head::COPY_WINDOW_TOKENS)..];
        let expected = evenly_copied(alone.step(token), recent, sentinel_bias);
        let difference = max_difference(with_copy.step(token), &expected);
        assert!(difference <= 1e-4, "step {step}: logits differ from the closed form by {difference}");
    }
    with_copy.reset();
    alone.reset();
    assert!(max_difference(with_copy.logits(), &network_only(&alone)) < 1e-4, "a reset forgets the window");
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
fn every_kernel_gives_the_portable_engines_logits() {
    let kernels = kernels::kernels_on_this_cpu("whole engine vs portable");
    for model in [random_wavenet(small_config(), 7), quantize::quantize(&random_wavenet(small_config(), 7))] {
        for &kernel in &kernels {
            let mut simd = Engine::with_kernel(&model, kernel).unwrap();
            let mut portable = Engine::with_kernel(&model, Kernel::Portable).unwrap();
            for token in random_tokens(300, 8) {
                let difference = max_difference(simd.step(token), portable.step(token));
                assert!(difference <= 1e-4, "{kernel:?} {:?}: logits differ by {difference}", model.meta.precision);
            }
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

/// Failed before: the engine was built and its NaN and infinite logits sampled.
#[test]
fn a_model_whose_logits_are_not_finite_is_refused() {
    let mut model = random_wavenet(small_config(), 15);
    for tensor in model.tensors.values_mut() {
        if let crate::model::TensorData::F32(values) = &mut tensor.data {
            values.fill(1e30);
        }
    }
    let error = Engine::from_model(&model).unwrap_err().to_string();
    assert!(error.starts_with("model: gives a logit of ") && error.ends_with("of a test phrase; refused"), "{error}");
    let file_error = crate::model::ModelFile::from_bytes(&model.to_bytes(), "huge.safetensors").unwrap_err();
    assert!(file_error.to_string().contains("outside -10000..=10000"), "a file is refused before: {file_error}");
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

/// The contract's formulas written out over the whole sequence, in f64, straight from the file's
/// tensors: an independent check of the layer wiring (concat order, gate halves, head).
fn textbook_logits(model: &crate::model::ModelFile, tokens: &[Token]) -> Vec<Vec<f64>> {
    use crate::model::names;
    use crate::tokens::FEATURE_COUNT;
    let config = wavenet_config(model).unwrap();
    let (c, s) = (config.residual_channels, config.skip_channels);
    let tensor = |name: String| model.f32(&name).unwrap();
    let dense = |prefix: &str, input: &[f64]| -> Vec<f64> {
        let (weight, bias) = (tensor(names::weight(prefix)), tensor(names::bias(prefix)));
        bias.iter()
            .enumerate()
            .map(|(row, &b)| b as f64 + (0..input.len()).map(|i| weight[row * input.len() + i] as f64 * input[i]).sum::<f64>())
            .collect()
    };
    let mut state = SequenceState::default();
    let mut x: Vec<Vec<f64>> = Vec::new();
    for &token in tokens {
        state.apply_token(token, |_| {});
        let mut features = [0.0f32; FEATURE_COUNT];
        state.write_features(&mut features);
        let (embedding, conditioning) = (tensor(names::EMBEDDING.into()), tensor(names::CONDITIONING.into()));
        x.push(
            (0..c)
                .map(|ch| {
                    embedding[token as usize * c + ch] as f64
                        + (0..FEATURE_COUNT).map(|f| conditioning[ch * FEATURE_COUNT + f] as f64 * features[f] as f64).sum::<f64>()
                })
                .collect(),
        );
    }
    let mut skip = vec![vec![0.0f64; s]; tokens.len()];
    for (layer, dilation) in config.dilations().enumerate() {
        let input = x.clone();
        for t in 0..tokens.len() {
            let past = if t >= dilation { input[t - dilation].clone() } else { vec![0.0; c] };
            let h = dense(&names::dilated(layer), &[past, input[t].clone()].concat());
            let z: Vec<f64> = (0..c).map(|i| h[i].tanh() / (1.0 + (-h[c + i]).exp())).collect();
            for (x, r) in x[t].iter_mut().zip(dense(&names::residual(layer), &z)) {
                *x += r;
            }
            for (total, k) in skip[t].iter_mut().zip(dense(&names::skip(layer), &z)) {
                *total += k;
            }
        }
    }
    let relu = |v: Vec<f64>| v.into_iter().map(|a| a.max(0.0)).collect::<Vec<f64>>();
    skip.into_iter()
        .map(|total| dense(names::HEAD_OUTPUT, &relu(dense(names::HEAD_HIDDEN, &relu(total)))))
        .collect()
}

#[test]
fn engine_matches_the_textbook_formulas_of_the_contract() {
    let model = random_wavenet(small_config(), 13);
    let mut tokens = vec![Event::Start.token()];
    tokens.extend(random_tokens(150, 14));
    let expected = textbook_logits(&model, &tokens);
    let mut engine = Engine::from_model(&model).unwrap();
    for (step, &token) in tokens.iter().enumerate() {
        let logits = if step == 0 { engine.logits().to_vec() } else { engine.step(token).to_vec() };
        let difference = logits.iter().zip(&expected[step]).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
        assert!(difference < 1e-4, "step {step}: logits differ by {difference}");
    }
}
