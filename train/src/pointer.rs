//! Fitting the repeat pointer (`continuo::engine::repeat_pointer`) to a network: the engine plays
//! training pieces with the pointer beside it, and each cell of the bonus table (a match length
//! by the proposed event's kind) gets the logit bonus that maximizes the likelihood of the
//! tokens that cell proposed for. Each cell's likelihood is concave in its one bonus, so a
//! bracketing search finds it exactly; cells that never proposed stay at 0.

use std::path::PathBuf;

use anyhow::{Context, Result};
use continuo::corpus::fnv1a;
use continuo::engine::repeat_pointer::{Pointer, RepeatPointer, BONUS_COUNT};
use continuo::engine::{score_prediction, Engine};
use continuo::model::ModelFile;

use crate::corpus::{read_corpora, Piece};
use crate::eval::SplitChoice;

/// `continuo-train fit-pointer` options.
#[derive(clap::Args, Clone, Debug)]
pub struct FitPointerOptions {
    /// The model file (.safetensors, f32 or int8); a table it has is replaced.
    #[arg(long)]
    pub model: PathBuf,
    /// Folder of .mid files, read recursively (repeat for several).
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    /// Which of their files to fit on: the training side of the shared split, or every file
    /// (a folder that is all training data, as a benchmark's train folder).
    #[arg(long, value_enum, default_value_t = SplitChoice::Training)]
    pub split: SplitChoice,
    /// Where to write the model with its fitted pointer.
    #[arg(long)]
    pub out: PathBuf,
    /// Training tokens to read at most.
    #[arg(long, default_value_t = FIT_TOKENS)]
    pub max_tokens: usize,
}

/// Fits the pointer of `--model` on `--data` (its `--split`) and writes it to `--out`.
pub fn fit_pointer_command(options: &FitPointerOptions) -> Result<PointerFit> {
    let model = ModelFile::load(&options.model)?;
    let corpus = read_corpora(&options.data, false, |warning| eprintln!("{warning}"))?;
    let training: Vec<Piece> = corpus.pieces.into_iter().filter(|piece| options.split.includes(piece)).collect();
    anyhow::ensure!(!training.is_empty(), "{}: no training pieces to fit the repeat pointer on", corpus.summary.folder);
    let fit = fit_pointer(&model, &training, options.max_tokens).with_context(|| options.model.display().to_string())?;
    fit.model.save(&options.out).with_context(|| format!("{}: cannot write", options.out.display()))?;
    Ok(fit)
}

/// Training tokens a fit reads at most: the 35 numbers settle long before, and it keeps the fit
/// to a minute of f32 steps for the default network.
pub const FIT_TOKENS: usize = 1_000_000;
/// The bonus is searched within this many nats either way: past it a copy is certain anyway.
pub const MAX_BONUS_NATS: f64 = 10.0;

/// A fitted model and what the fit saw.
pub struct PointerFit {
    /// The model with its new bonus table.
    pub model: ModelFile,
    /// Training tokens scored.
    pub tokens: usize,
    /// Of those, the tokens the pointer proposed something for.
    pub proposed: usize,
    /// Of those, the tokens it proposed rightly.
    pub hits: usize,
    /// Mean NLL of the scored tokens by the network alone, nats per token.
    pub nll_without: f64,
    /// The same with the fitted pointer.
    pub nll_with: f64,
}

impl std::fmt::Display for PointerFit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let share = |part: usize, of: usize| 100.0 * part as f64 / of.max(1) as f64;
        write!(
            f,
            "repeat pointer fitted on {} training tokens: it proposed for {:.1}% of them, rightly for {:.1}% of those; training NLL {:.4} -> {:.4} nats/token",
            self.tokens,
            share(self.proposed, self.tokens),
            share(self.hits, self.proposed),
            self.nll_without,
            self.nll_with
        )
    }
}

/// One proposal the network's prediction was scored against: the network's probability of the
/// proposed token, and whether it came.
struct Observation {
    probability: f64,
    hit: bool,
}

/// Fits the pointer's bonus table to `model`'s network on up to `max_tokens` tokens of `pieces`
/// (taken in an order fixed by their names, so a capped fit samples every collection).
pub fn fit_pointer(model: &ModelFile, pieces: &[Piece], max_tokens: usize) -> Result<PointerFit> {
    let network = model.without_repeat_pointer();
    let mut engine = Engine::from_model(&network).context("fitting the repeat pointer")?;
    let mut order: Vec<&Piece> = pieces.iter().collect();
    order.sort_by_key(|piece| fnv1a(piece.name.as_bytes()));
    let (mut tokens, mut nll_without) = (0, 0.0);
    let mut by_cell: Vec<Vec<Observation>> = (0..BONUS_COUNT).map(|_| Vec::new()).collect();
    for piece in order {
        if tokens >= max_tokens {
            break;
        }
        engine.reset();
        let mut pointer = RepeatPointer::new();
        pointer.push(piece.tokens[0]);
        for &target in &piece.tokens[1..] {
            let logits = engine.logits();
            let target_nll = score_prediction(logits, engine.state(), target, false).nll_nats;
            nll_without += target_nll;
            if let Some(proposal) = pointer.proposal() {
                // ln p(proposed) = its logit - ln Z, and ln Z = the target's NLL + the target's logit.
                let log_probability = (logits[proposal.token as usize] - logits[target as usize]) as f64 - target_nll;
                let observation = Observation { probability: log_probability.exp(), hit: proposal.token == target };
                by_cell[proposal.bonus_index()].push(observation);
            }
            engine.step(target);
            pointer.push(target);
            tokens += 1;
        }
    }
    let mut bonus = vec![0.0f32; BONUS_COUNT];
    let mut gain = 0.0;
    for (seen, value) in by_cell.iter().zip(&mut bonus) {
        if !seen.is_empty() {
            let best = argmin_convex(|b| added_nll(seen, b), -MAX_BONUS_NATS, MAX_BONUS_NATS);
            gain += added_nll(seen, best);
            *value = best as f32;
        }
    }
    let observations = by_cell.iter().flatten();
    Ok(PointerFit {
        model: model.with_repeat_bonus(bonus),
        tokens,
        proposed: observations.clone().count(),
        hits: observations.filter(|observation| observation.hit).count(),
        nll_without: nll_without / tokens.max(1) as f64,
        nll_with: (nll_without + gain) / tokens.max(1) as f64,
    })
}

/// What a bonus `b` on the proposed token's logit adds to the NLL of these observations: the
/// proposed token's probability `p` becomes `p e^b / (1 + p (e^b - 1))`, every other token's
/// shrinks by that denominator.
fn added_nll(observations: &[Observation], b: f64) -> f64 {
    let grown = b.exp() - 1.0;
    observations
        .iter()
        .map(|observation| (1.0 + observation.probability * grown).ln() - if observation.hit { b } else { 0.0 })
        .sum()
}

/// The minimum of a convex function on `[low, high]`, by golden-section search.
fn argmin_convex(f: impl Fn(f64) -> f64, mut low: f64, mut high: f64) -> f64 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    while high - low > 1e-4 {
        let (a, b) = (high - ratio * (high - low), low + ratio * (high - low));
        if f(a) < f(b) {
            high = b;
        } else {
            low = a;
        }
    }
    (low + high) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use continuo::engine::random_model::random_wavenet;
    use continuo::model::{names, WaveNetConfig};
    use continuo::tokens::{encode_notes, Note};

    /// A piece that plays the same 8-note phrase four times.
    fn repeating_piece(name: &str, lowest: u8) -> Piece {
        let notes: Vec<Note> = (0..32)
            .map(|index| Note { pitch: lowest + [0, 4, 7, 12, 7, 4, 2, 5][index % 8], velocity: 80, start_beats: index as f64 * 0.5, duration_beats: 0.5 })
            .collect();
        Piece { name: name.into(), folder: "data".into(), tokens: encode_notes(&notes).tokens, length_beats: 16.0, pitch_range: (lowest, lowest + 12) }
    }

    #[test]
    fn a_fit_on_repeating_pieces_trusts_long_matches_and_lowers_their_nll() {
        let config = WaveNetConfig { residual_channels: 8, skip_channels: 8, stacks: 1, layers_per_stack: 3, conditioned: true, repeat_pointer: false, copy_keys: 0 };
        let network = random_wavenet(config, 3);
        let pieces = [repeating_piece("a.mid", 48), repeating_piece("b.mid", 60)];
        let fit = fit_pointer(&network, &pieces, FIT_TOKENS).unwrap();
        assert_eq!(fit.tokens, pieces.iter().map(|piece| piece.tokens.len() - 1).sum::<usize>());
        assert!(fit.hits * 20 > fit.proposed * 19, "the phrase repeats exactly: {} hits of {}", fit.hits, fit.proposed);
        assert!(fit.proposed > fit.tokens / 2, "{} of {}", fit.proposed, fit.tokens);
        assert!(fit.nll_with < fit.nll_without - 1.0, "{} -> {}", fit.nll_without, fit.nll_with);
        let bonus = fit.model.f32(names::REPEAT_BONUS).unwrap();
        assert!(bonus.iter().any(|&b| b as f64 > MAX_BONUS_NATS - 0.01), "certain repeats get the largest bonus: {bonus:?}");
        let refit = fit_pointer(&fit.model, &pieces[..1], FIT_TOKENS).unwrap();
        assert_eq!(refit.nll_without, fit_pointer(&network, &pieces[..1], FIT_TOKENS).unwrap().nll_without, "a refit starts from the network alone");
    }

    #[test]
    fn the_bonus_makes_the_proposed_probability_the_hit_rate() {
        // A proposal the network gives 0.2 that comes 3 times in 4: the best bonus raises 0.2
        // to 0.75, e^b = (0.75 / 0.25) / (0.2 / 0.8) = 12.
        let seen: Vec<Observation> = (0..400).map(|index| Observation { probability: 0.2, hit: index % 4 != 0 }).collect();
        let best = argmin_convex(|b| added_nll(&seen, b), -MAX_BONUS_NATS, MAX_BONUS_NATS);
        assert!((best - 12f64.ln()).abs() < 1e-3, "{best}");
        assert!(added_nll(&seen, best) < 0.0);
        assert!(added_nll(&seen, 0.0).abs() < 1e-12, "no bonus changes nothing");
    }
}
