//! Continuations of held-out prompts by the network (through the engine's `continue_song`) and
//! by the Markov baseline, and the table that compares their statistics with the real ones.

use continuo::engine::generate::{continue_song, ContinuationRequest};
use continuo::engine::{Generator, Sampler};
use continuo::style_memory::StyleMemory;
use continuo::tokens::{decode_tokens, encode_notes, Event, Note, SequenceState, Token, TICKS_PER_BEAT, VOCAB_SIZE};
use serde::Serialize;

use crate::markov::MarkovModel;
use crate::phrases::{notes_between, HeldOutPhrase};
use crate::stats::{distance, half, Distance, Phrase, STATISTICS};

/// The network's continuation of a phrase, with the sampler reseeded per phrase (`seed` + the
/// phrase's index) so each phrase's draw does not depend on the ones before. A style `memory`
/// starts empty and hears the prompt, as the plugin's would hear the player.
pub fn network_continuation(
    generator: &mut Generator,
    mut memory: Option<&mut StyleMemory>,
    phrase: &HeldOutPhrase,
    request: &ContinuationRequest,
    seed: u64,
) -> Phrase {
    generator.sampler_mut().reseed(seed);
    if let Some(memory) = memory.as_deref_mut() {
        memory.forget();
    }
    let continuation = continue_song(generator, &phrase.prompt, request, memory);
    window_after(phrase, &continuation.notes, continuation.prompt_end_beats, request)
}

/// The Markov model's continuation of a phrase: tokens drawn from its distribution (as logits)
/// with the engine's sampler, so the same temperature, grammar mask and constraints apply.
pub fn markov_continuation(
    model: &MarkovModel,
    order: usize,
    phrase: &HeldOutPhrase,
    request: &ContinuationRequest,
    seed: u64,
) -> Phrase {
    let mut sampler = Sampler::new(seed);
    let mut tokens: Vec<Token> = encode_notes(&phrase.prompt.notes).tokens;
    tokens.pop(); // the prompt's End: the phrase goes on
    let mut state = SequenceState::default();
    tokens.iter().for_each(|&token| state.apply_token(token, |_| {}));
    let prompt_end_ticks = state.tick();
    let end_tick = prompt_end_ticks + continuation_ticks(phrase, request);
    let mut probabilities = vec![0.0; VOCAB_SIZE];
    let mut logits = vec![0.0f32; VOCAB_SIZE];
    while state.tick() < end_tick {
        model.distribution(&tokens, order, &mut probabilities);
        logits.iter_mut().zip(&probabilities).for_each(|(logit, p)| *logit = p.ln() as f32);
        let token = sampler.sample(&logits, &state, &request.options, &request.constraints);
        if Event::from_token(token) == Some(Event::End) {
            break;
        }
        state.apply_token(token, |_| {});
        tokens.push(token);
    }
    let prompt_end_beats = prompt_end_ticks as f64 / TICKS_PER_BEAT as f64;
    window_after(phrase, &decode_tokens(&tokens), prompt_end_beats, request)
}

fn continuation_ticks(phrase: &HeldOutPhrase, request: &ContinuationRequest) -> u64 {
    (request.bars as f64 * phrase.prompt.beats_per_bar() * TICKS_PER_BEAT as f64).round() as u64
}

/// The generated notes after the prompt's end, measured from there, in the requested window.
fn window_after(
    phrase: &HeldOutPhrase,
    notes: &[Note],
    prompt_end_beats: f64,
    request: &ContinuationRequest,
) -> Phrase {
    let continuation_beats = request.bars as f64 * phrase.prompt.beats_per_bar();
    Phrase {
        prompt: phrase.real.prompt.clone(),
        continuation: notes_between(notes, prompt_end_beats, prompt_end_beats + continuation_beats),
        continuation_beats,
        continuation_start_beats: prompt_end_beats,
    }
}

/// A set of continuations to compare with the real ones.
pub struct Candidate {
    /// Its name in the table.
    pub name: String,
    /// One continuation per held-out phrase, in the phrases' order.
    pub continuations: Vec<Phrase>,
}

/// One statistic compared.
#[derive(Clone, Debug, Serialize)]
pub struct QualityRow {
    /// The statistic's name.
    pub statistic: String,
    /// Mean value over the real continuations.
    pub real_mean: Option<f64>,
    /// Real continuations of the odd phrases against those of the even ones: the reference.
    pub real_vs_real: Distance,
    /// Per candidate: its mean and its odd phrases' continuations against the even real ones.
    pub candidates: Vec<CandidateDistance>,
}

/// A candidate's figures for one statistic.
#[derive(Clone, Debug, Serialize)]
pub struct CandidateDistance {
    /// The candidate's name.
    pub name: String,
    /// Mean value over its continuations.
    pub mean: Option<f64>,
    /// Its continuations of the odd phrases against the real continuations of the even ones.
    pub versus_real: Distance,
}

/// Compares every statistic. Each distance sets the odd phrases' continuations against the
/// even phrases' real continuations, so candidates and the real-vs-real reference are measured
/// on the same number of different phrases (no candidate is rewarded for copying its prompt's
/// own real continuation, and sample size affects all alike).
pub fn quality_table(real: &[Phrase], candidates: &[Candidate]) -> Vec<QualityRow> {
    let real_even = half(real, 0);
    STATISTICS
        .iter()
        .map(|&statistic| QualityRow {
            statistic: statistic.name().to_string(),
            real_mean: statistic.histogram(real).mean(),
            real_vs_real: distance(statistic, &half(real, 1), &real_even),
            candidates: candidates
                .iter()
                .map(|candidate| CandidateDistance {
                    name: candidate.name.clone(),
                    mean: statistic.histogram(&candidate.continuations).mean(),
                    versus_real: distance(statistic, &half(&candidate.continuations, 1), &real_even),
                })
                .collect(),
        })
        .collect()
}

/// The table as markdown: overlap (1 = identical) and symmetric KL (0 = identical) per set.
pub fn markdown_table(rows: &[QualityRow]) -> String {
    let mut lines = table_head(rows, "statistic", ": overlap / sym. KL");
    for row in rows {
        let means = columns(row).map(|(_, value)| mean(value));
        lines.push(table_line(&row.statistic, columns(row).map(|(distance, _)| cell(distance)), means));
    }
    lines.join("\n") + "\n"
}

/// Several runs' tables (one per seed, same statistics and candidates) as one: each overlap's
/// mean and sample standard deviation over the runs, and each mean value's mean.
pub fn seeds_markdown_table(runs: &[Vec<QualityRow>]) -> String {
    let title = format!("statistic: overlap, mean ± sd of {} runs", runs.len());
    let mut lines = table_head(&runs[0], &title, "");
    for (index, row) in runs[0].iter().enumerate() {
        let per_run: Vec<Vec<(&Distance, Option<f64>)>> = runs.iter().map(|run| columns(&run[index]).collect()).collect();
        let column = |at: usize| per_run.iter().map(move |run| run[at]);
        let overlaps = (0..per_run[0].len()).map(|at| spread(column(at).filter_map(|(distance, _)| distance.overlap)));
        let means = (0..per_run[0].len()).map(|at| mean(average(&column(at).filter_map(|(_, value)| value).collect::<Vec<_>>())));
        lines.push(table_line(&row.statistic, overlaps, means));
    }
    lines.join("\n") + "\n"
}

/// A row's columns in table order: the real-vs-real reference with the real mean, then each
/// candidate's distance with its mean.
fn columns(row: &QualityRow) -> impl Iterator<Item = (&Distance, Option<f64>)> {
    std::iter::once((&row.real_vs_real, row.real_mean))
        .chain(row.candidates.iter().map(|candidate| (&candidate.versus_real, candidate.mean)))
}

fn average(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Paired differences over several runs: for each `(candidate, reference)` pair of candidate
/// indices, per run the candidate's overlap minus the reference's (the same phrases and seeds),
/// then the mean ± standard error over the runs, starred beyond two standard errors of zero.
/// Pairing removes the phrases' share of the seed-to-seed spread, so a real difference between
/// two models shows in far fewer runs than the spread table needs.
pub fn paired_markdown_table(runs: &[Vec<QualityRow>], pairs: &[(usize, usize)]) -> String {
    let names = |at: usize| runs[0][0].candidates[at].name.as_str();
    let title = format!("statistic: overlap difference, mean ± se of {} paired runs (* beyond 2 se)", runs.len());
    let head = pairs.iter().map(|&(candidate, reference)| format!("{} − {}", names(candidate), names(reference)));
    let mut lines = vec![row_line(&title, head), format!("|---|{}", "---|".repeat(pairs.len()))];
    for (index, row) in runs[0].iter().enumerate() {
        let cells = pairs.iter().map(|&(candidate, reference)| {
            let overlap = |run: &Vec<QualityRow>, at: usize| run[index].candidates[at].versus_real.overlap;
            let differences = runs.iter().filter_map(|run| Some(overlap(run, candidate)? - overlap(run, reference)?));
            difference_cell(differences)
        });
        lines.push(row_line(&row.statistic, cells));
    }
    lines.join("\n") + "\n"
}

/// Mean, sample standard deviation and count of the values (`None` without any).
fn mean_and_sd(values: impl Iterator<Item = f64>) -> Option<(f64, f64, usize)> {
    let values: Vec<f64> = values.collect();
    let mean = average(&values)?;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() as f64 - 1.0).max(1.0);
    Some((mean, variance.sqrt(), values.len()))
}

/// "mean ± sd" (sample standard deviation) of the values (runs without one left out).
fn spread(values: impl Iterator<Item = f64>) -> String {
    mean_and_sd(values).map_or("n/a".to_string(), |(mean, sd, _)| format!("{mean:.3} ± {sd:.3}"))
}

/// "+mean ± se" of paired differences, starred when the mean lies beyond two standard errors.
fn difference_cell(differences: impl Iterator<Item = f64>) -> String {
    let Some((mean, sd, count)) = mean_and_sd(differences) else { return "n/a".to_string() };
    let standard_error = sd / (count as f64).sqrt();
    let star = if mean.abs() > 2.0 * standard_error { " *" } else { "" };
    format!("{mean:+.3} ± {standard_error:.3}{star}")
}

/// The header and rule: the reference column, one per candidate (`detail` says what the cells
/// hold), then the mean values of all.
fn table_head(rows: &[QualityRow], title: &str, detail: &str) -> Vec<String> {
    let names: Vec<&str> =
        rows.first().map_or(Vec::new(), |row| row.candidates.iter().map(|c| c.name.as_str()).collect());
    let columns = std::iter::once("real".to_string())
        .chain(names.iter().map(|name| name.to_string()))
        .map(|name| format!("{name} vs real{detail}"));
    let means = std::iter::once("mean: real".to_string()).chain(names.iter().map(|name| name.to_string()));
    vec![table_line(title, columns, means), format!("|---|---|{}---|", "---|".repeat(names.len()))]
}

/// `| first | a | b | ... | m1 / m2 / ... |`
fn table_line(first: &str, cells: impl Iterator<Item = String>, means: impl Iterator<Item = String>) -> String {
    format!("{} {} |", row_line(first, cells), means.collect::<Vec<_>>().join(" / "))
}

/// `| first | a | b | ... |`
fn row_line(first: &str, cells: impl Iterator<Item = String>) -> String {
    let cells: String = cells.map(|cell| format!(" {cell} |")).collect();
    format!("| {first} |{cells}")
}

fn cell(distance: &Distance) -> String {
    match (distance.overlap, distance.symmetric_kl) {
        (Some(overlap), Some(kl)) => format!("{overlap:.3} / {kl:.3}"),
        _ => "n/a".to_string(),
    }
}

fn mean(value: Option<f64>) -> String {
    value.map_or("n/a".to_string(), |v| format!("{v:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use continuo::engine::random_model::random_wavenet;
    use continuo::engine::{Constraints, Engine, SamplingOptions};
    use continuo::midi_file::Song;
    use continuo::model::WaveNetConfig;

    fn phrase_of(pitches: &[u8]) -> HeldOutPhrase {
        let notes: Vec<Note> = pitches
            .iter()
            .enumerate()
            .map(|(i, &pitch)| Note { pitch, velocity: 80, start_beats: i as f64 * 0.5, duration_beats: 0.5 })
            .collect();
        let beats = pitches.len() as f64 * 0.5;
        HeldOutPhrase {
            name: "test".into(),
            prompt: Song { notes: notes.clone(), tempo_map: Vec::new(), time_signature: (4, 4) },
            real: Phrase {
                prompt: notes.clone(),
                continuation: notes,
                continuation_beats: beats,
                continuation_start_beats: beats,
            },
            prompt_beats: beats,
            first_bar: 1,
        }
    }

    fn request(bars: u32) -> ContinuationRequest {
        ContinuationRequest { bars, options: SamplingOptions::default(), constraints: Constraints::default(), memory_strength: 0.0, follow_voices: false, repeat_strength: None, copy_strength: None }
    }

    #[test]
    fn the_markov_continuation_carries_on_a_pattern_it_learned() {
        let pattern = [60u8, 64, 67, 72, 67, 64, 60, 64];
        let melody: Vec<u8> = pattern.iter().copied().cycle().take(64).collect();
        let training = encode_notes(&phrase_of(&melody).prompt.notes).tokens;
        let model = MarkovModel::train(&[training], 6, crate::markov::Smoothing::WittenBell);
        let continuation = markov_continuation(&model, 6, &phrase_of(&melody[..16]), &request(2), 5);
        assert_eq!(continuation.continuation_beats, 8.0);
        assert!(continuation.continuation.len() >= 12, "{} notes", continuation.continuation.len());
        let in_pattern = continuation.continuation.iter().filter(|note| pattern.contains(&note.pitch)).count();
        assert!(in_pattern * 10 >= continuation.continuation.len() * 9, "{:?}", continuation.continuation);
        assert!(continuation.continuation.iter().all(|note| note.start_beats >= 0.0 && note.start_beats < 8.0));
    }

    #[test]
    fn network_continuations_fill_the_window_after_the_prompt() {
        let mut generator = Generator::new(Engine::from_model(&random_wavenet(small_config(), 3)).unwrap(), 1);
        let phrase = phrase_of(&[60, 62, 64, 65, 67, 69, 71, 72]);
        let first = network_continuation(&mut generator, None, &phrase, &request(1), 9);
        assert_eq!(first.continuation_beats, 4.0);
        assert!(first
            .continuation
            .iter()
            .all(|note| note.start_beats >= 0.0 && note.start_beats < 4.0 && note.end_beats() <= 4.0));
        let again = network_continuation(&mut generator, None, &phrase, &request(1), 9);
        assert_eq!(first.continuation, again.continuation, "same seed, same continuation");
    }

    #[test]
    fn the_style_memory_makes_continuations_quote_their_prompt() {
        let mut generator = Generator::new(Engine::from_model(&random_wavenet(small_config(), 5)).unwrap(), 1);
        let motif = [60, 64, 62, 67, 65, 60, 72, 71];
        let phrase = phrase_of(&[motif, motif, motif].concat());
        let mut memory = StyleMemory::new();
        let strong = ContinuationRequest { memory_strength: 1.0, ..request(2) };
        let reuse_over_seeds = |memory: Option<&mut StyleMemory>, generator: &mut Generator| {
            let mut memory = memory;
            (0..6)
                .map(|seed| {
                    let continuation = network_continuation(generator, memory.as_deref_mut(), &phrase, &strong, seed);
                    continuo::reuse::reuse(&continuation.prompt, &continuation.continuation).share()
                })
                .sum::<f64>()
        };
        let with_memory = reuse_over_seeds(Some(&mut memory), &mut generator);
        let without = reuse_over_seeds(None, &mut generator);
        assert!(with_memory > without + 1.0, "re-use summed over 6 seeds: {with_memory:.2} with, {without:.2} without");
    }

    fn small_config() -> WaveNetConfig {
        WaveNetConfig { residual_channels: 8, skip_channels: 8, stacks: 1, layers_per_stack: 3, conditioned: true, repeat_pointer: false, copy_keys: 0 }
    }

    #[test]
    fn a_candidate_equal_to_the_real_set_matches_the_reference() {
        let real: Vec<Phrase> = (0..6u8).map(|i| phrase_of(&[60 + i, 64, 67, 72]).real).collect();
        let rows = quality_table(&real, &[Candidate { name: "copy".into(), continuations: real.clone() }]);
        assert_eq!(rows.len(), STATISTICS.len());
        for row in &rows {
            assert_eq!(row.real_vs_real.overlap, row.candidates[0].versus_real.overlap, "{}", row.statistic);
            assert_eq!(row.real_mean, row.candidates[0].mean);
        }
        let table = markdown_table(&rows);
        assert_eq!(table.lines().count(), 2 + STATISTICS.len());
        assert!(table.contains("copy vs real"));
    }

    #[test]
    fn the_seeds_table_gives_each_overlaps_mean_and_spread() {
        let run = |overlap: f64, candidate_mean: f64| {
            let distance = Distance { overlap: Some(overlap), symmetric_kl: Some(0.1) };
            let candidate = CandidateDistance { name: "model".into(), mean: Some(candidate_mean), versus_real: distance };
            let real_vs_real = Distance { overlap: Some(0.8), symmetric_kl: Some(0.1) };
            vec![QualityRow { statistic: "range".into(), real_mean: Some(40.0), real_vs_real, candidates: vec![candidate] }]
        };
        let table = seeds_markdown_table(&[run(0.5, 30.0), run(0.7, 32.0), run(0.6, 34.0)]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "| statistic: overlap, mean ± sd of 3 runs | real vs real | model vs real | mean: real / model |");
        assert_eq!(lines[1], "|---|---|---|---|");
        assert_eq!(lines[2], "| range | 0.800 ± 0.000 | 0.600 ± 0.100 | 40.00 / 32.00 |");
    }

    #[test]
    fn the_paired_table_gives_each_difference_s_mean_and_standard_error() {
        let run = |new: f64, old: f64| {
            let candidate = |name: &str, overlap: f64| CandidateDistance {
                name: name.into(),
                mean: None,
                versus_real: Distance { overlap: Some(overlap), symmetric_kl: None },
            };
            let real_vs_real = Distance { overlap: Some(0.8), symmetric_kl: None };
            let candidates = vec![candidate("new", new), candidate("old", old)];
            vec![QualityRow { statistic: "key".into(), real_mean: None, real_vs_real, candidates }]
        };
        // Differences 0.10, 0.12, 0.08: mean 0.10, sd 0.02, standard error 0.02 / sqrt(3) = 0.0115.
        let steady = paired_markdown_table(&[run(0.6, 0.5), run(0.52, 0.4), run(0.78, 0.7)], &[(0, 1)]);
        let lines: Vec<&str> = steady.lines().collect();
        assert_eq!(lines[0], "| statistic: overlap difference, mean ± se of 3 paired runs (* beyond 2 se) | new − old |");
        assert_eq!(lines[1], "|---|---|");
        assert_eq!(lines[2], "| key | +0.100 ± 0.012 * |");
        // Differences +0.2, -0.2, +0.1: a mean of 0.033 within its standard error's noise.
        let noisy = paired_markdown_table(&[run(0.7, 0.5), run(0.3, 0.5), run(0.6, 0.5)], &[(0, 1)]);
        assert_eq!(noisy.lines().nth(2).unwrap(), "| key | +0.033 ± 0.120 |");
    }
}
