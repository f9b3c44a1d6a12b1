//! Music statistics of phrases, and distances between the statistics of two sets of phrases:
//! how far generated continuations are from real ones, beside how far real continuations are
//! from other real continuations (the reference a good generator should approach).

use continuo::reuse::reuse;
use continuo::tokens::{beats_to_ticks, Note, TICKS_PER_BEAT};
use serde::Serialize;

/// A prompt and what follows it.
#[derive(Clone, Debug)]
pub struct Phrase {
    /// The notes the musician played, from beat 0 (decides the key).
    pub prompt: Vec<Note>,
    /// The notes that follow, from beat 0 at the end of the prompt.
    pub continuation: Vec<Note>,
    /// Length of the continuation window in beats (for the note density).
    pub continuation_beats: f64,
    /// Where the continuation starts, in beats from the prompt's start: the bar line for a real
    /// one, the prompt's last note-off for a generated one (a generator cannot hear a final rest).
    pub continuation_start_beats: f64,
}

/// A key: tonic pitch class and mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// 0 = C .. 11 = B.
    pub root: u8,
    /// Minor (else major).
    pub minor: bool,
}

/// Krumhansl-Kessler key profiles (probe-tone ratings), from the tonic up.
const MAJOR_PROFILE: [f64; 12] = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88];
const MINOR_PROFILE: [f64; 12] = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17];
/// Major scale degrees in semitones from the tonic.
const MAJOR_SCALE: [u8; 7] = [0, 2, 4, 5, 7, 9, 11];
/// Minor: natural minor plus the raised seventh of harmonic minor, both common in this music.
const MINOR_SCALE: [u8; 8] = [0, 2, 3, 5, 7, 8, 10, 11];

/// Duration-weighted pitch-class histogram.
pub fn pitch_class_weights(notes: &[Note]) -> [f64; 12] {
    let mut weights = [0.0; 12];
    for note in notes {
        weights[(note.pitch % 12) as usize] += note.duration_beats.max(1.0 / TICKS_PER_BEAT as f64);
    }
    weights
}

/// The key whose Krumhansl-Kessler profile correlates best with the notes' duration-weighted
/// pitch classes (the Krumhansl-Schmuckler algorithm). `None` for no notes.
pub fn estimate_key(notes: &[Note]) -> Option<Key> {
    if notes.is_empty() {
        return None;
    }
    let weights = pitch_class_weights(notes);
    let candidates = (0..12u8).flat_map(|root| [Key { root, minor: false }, Key { root, minor: true }]);
    candidates.max_by(|a, b| key_correlation(&weights, *a).total_cmp(&key_correlation(&weights, *b)))
}

fn key_correlation(weights: &[f64; 12], key: Key) -> f64 {
    let profile = if key.minor { &MINOR_PROFILE } else { &MAJOR_PROFILE };
    let rotated: Vec<f64> = (0..12).map(|pc| profile[(pc + 12 - key.root as usize) % 12]).collect();
    pearson(weights, &rotated)
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let (mean_a, mean_b) = (mean(a), mean(b));
    let covariance: f64 = a.iter().zip(b).map(|(x, y)| (x - mean_a) * (y - mean_b)).sum();
    let spread = |values: &[f64], m: f64| values.iter().map(|x| (x - m).powi(2)).sum::<f64>().sqrt();
    covariance / (spread(a, mean_a) * spread(b, mean_b)).max(f64::MIN_POSITIVE)
}

/// Whether a pitch belongs to the key's scale.
pub fn in_key(pitch: u8, key: Key) -> bool {
    let degree = (pitch + 12 - key.root) % 12;
    if key.minor {
        MINOR_SCALE.contains(&degree)
    } else {
        MAJOR_SCALE.contains(&degree)
    }
}

/// The statistics compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistic {
    /// Pitch class of each note.
    PitchClass,
    /// Pitch of each note.
    Pitch,
    /// Highest minus lowest pitch of each continuation, in semitones.
    PitchSpan,
    /// Notes per beat of each continuation.
    Density,
    /// Ticks between successive distinct onsets.
    InterOnset,
    /// MIDI velocity of each note.
    Velocity,
    /// Notes sounding at each distinct onset.
    Polyphony,
    /// Semitones between the highest notes of successive distinct onsets: how the top line
    /// moves (a network that spells chords across registers leaps where real lines step).
    TopLineLeap,
    /// Share of each continuation's notes in the key estimated from its prompt.
    InKeyShare,
    /// How much of each continuation re-uses its prompt's interval and rhythm n-grams
    /// (`continuo::reuse`).
    PromptReuse,
}

/// Every statistic, in table order.
pub const STATISTICS: [Statistic; 10] = [
    Statistic::PitchClass,
    Statistic::Pitch,
    Statistic::PitchSpan,
    Statistic::Density,
    Statistic::InterOnset,
    Statistic::Velocity,
    Statistic::Polyphony,
    Statistic::TopLineLeap,
    Statistic::InKeyShare,
    Statistic::PromptReuse,
];

/// Inter-onset intervals are bucketed at these upper edges, in ticks (24 per beat): 32nd,
/// triplet 16th, 16th, triplet 8th, 8th, ..., a whole bar; longer ones share the last bucket.
const INTER_ONSET_EDGES_TICKS: [f64; 13] = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 36.0, 48.0, 72.0, 96.0];

/// How a statistic's values become histogram bins.
enum Binning {
    /// Bins of `width` from `low`; values beyond the last bin go into it.
    Uniform { low: f64, width: f64, bins: usize },
    /// Bin i holds values up to `edges[i]`; one extra bin holds the rest.
    Edges(&'static [f64]),
}

impl Binning {
    fn bins(&self) -> usize {
        match self {
            Binning::Uniform { bins, .. } => *bins,
            Binning::Edges(edges) => edges.len() + 1,
        }
    }

    fn bin(&self, value: f64) -> usize {
        match self {
            Binning::Uniform { low, width, bins } => (((value - low) / width).floor().max(0.0) as usize).min(bins - 1),
            Binning::Edges(edges) => edges.iter().position(|&edge| value <= edge).unwrap_or(edges.len()),
        }
    }
}

impl Statistic {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::PitchClass => "pitch-class histogram",
            Statistic::Pitch => "pitch histogram",
            Statistic::PitchSpan => "pitch range (span, semitones)",
            Statistic::Density => "note density (notes/beat)",
            Statistic::InterOnset => "inter-onset interval (ticks)",
            Statistic::Velocity => "velocity",
            Statistic::Polyphony => "polyphony at onsets",
            Statistic::TopLineLeap => "top line's leaps (semitones)",
            Statistic::InKeyShare => "share of notes in the prompt's key",
            Statistic::PromptReuse => "re-use of the prompt's interval/rhythm 3-grams",
        }
    }

    fn binning(self) -> Binning {
        match self {
            Statistic::PitchClass => Binning::Uniform { low: 0.0, width: 1.0, bins: 12 },
            Statistic::Pitch => Binning::Uniform { low: 0.0, width: 1.0, bins: 128 },
            Statistic::PitchSpan => Binning::Uniform { low: 0.0, width: 3.0, bins: 17 },
            Statistic::Density => Binning::Uniform { low: 0.0, width: 0.5, bins: 25 },
            Statistic::InterOnset => Binning::Edges(&INTER_ONSET_EDGES_TICKS),
            Statistic::Velocity => Binning::Uniform { low: 0.0, width: 8.0, bins: 16 },
            Statistic::Polyphony => Binning::Uniform { low: 1.0, width: 1.0, bins: 10 },
            Statistic::TopLineLeap => Binning::Uniform { low: 0.0, width: 1.0, bins: 25 },
            Statistic::InKeyShare | Statistic::PromptReuse => Binning::Uniform { low: 0.0, width: 0.1, bins: 11 },
        }
    }

    /// The statistic's values for one phrase's continuation (none when it has no notes).
    pub fn values(self, phrase: &Phrase) -> Vec<f64> {
        let notes = &phrase.continuation;
        if notes.is_empty() {
            return Vec::new();
        }
        match self {
            Statistic::PitchClass => notes.iter().map(|note| (note.pitch % 12) as f64).collect(),
            Statistic::Pitch => notes.iter().map(|note| note.pitch as f64).collect(),
            Statistic::PitchSpan => {
                let pitches = notes.iter().map(|note| note.pitch);
                vec![(pitches.clone().max().unwrap_or(0) - pitches.min().unwrap_or(0)) as f64]
            }
            Statistic::Density => vec![notes.len() as f64 / phrase.continuation_beats],
            Statistic::InterOnset => onset_ticks(notes).windows(2).map(|pair| (pair[1] - pair[0]) as f64).collect(),
            Statistic::Velocity => notes.iter().map(|note| note.velocity as f64).collect(),
            Statistic::Polyphony => polyphony_at_onsets(notes),
            Statistic::TopLineLeap => top_line(notes).windows(2).map(|pair| pair[0].abs_diff(pair[1]) as f64).collect(),
            Statistic::InKeyShare => match estimate_key(&phrase.prompt) {
                Some(key) => {
                    let inside = notes.iter().filter(|note| in_key(note.pitch, key)).count();
                    vec![inside as f64 / notes.len() as f64]
                }
                None => Vec::new(),
            },
            Statistic::PromptReuse => {
                let reuse = reuse(&phrase.prompt, notes);
                if reuse.continuation_ngrams > 0 { vec![reuse.share()] } else { Vec::new() }
            }
        }
    }

    /// The values of a set of phrases, binned.
    pub fn histogram(self, phrases: &[Phrase]) -> Histogram {
        let binning = self.binning();
        let mut histogram = Histogram { counts: vec![0.0; binning.bins()], sum: 0.0 };
        for value in phrases.iter().flat_map(|phrase| self.values(phrase)) {
            histogram.counts[binning.bin(value)] += 1.0;
            histogram.sum += value;
        }
        histogram
    }
}

/// Distinct onset ticks, ascending.
fn onset_ticks(notes: &[Note]) -> Vec<u64> {
    let mut onsets: Vec<u64> = notes.iter().map(|note| beats_to_ticks(note.start_beats)).collect();
    onsets.sort_unstable();
    onsets.dedup();
    onsets
}

/// The highest pitch starting at each distinct onset, in time order.
fn top_line(notes: &[Note]) -> Vec<u8> {
    let mut starts: Vec<(u64, u8)> = notes.iter().map(|note| (beats_to_ticks(note.start_beats), note.pitch)).collect();
    starts.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    starts.dedup_by_key(|start| start.0);
    starts.into_iter().map(|(_, pitch)| pitch).collect()
}

/// For each distinct onset, how many notes sound there (starting or held).
fn polyphony_at_onsets(notes: &[Note]) -> Vec<f64> {
    let spans: Vec<(u64, u64)> = notes
        .iter()
        .map(|note| {
            let start = beats_to_ticks(note.start_beats);
            (start, beats_to_ticks(note.end_beats()).max(start + 1))
        })
        .collect();
    onset_ticks(notes)
        .into_iter()
        .map(|tick| spans.iter().filter(|&&(start, end)| start <= tick && tick < end).count() as f64)
        .collect()
}

/// Binned values of one statistic over a set of phrases.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Values per bin.
    pub counts: Vec<f64>,
    /// Sum of the values (for the mean).
    pub sum: f64,
}

/// Probability added to every bin before the KL divergence, so empty bins stay finite.
const KL_SMOOTHING: f64 = 1e-3;

impl Histogram {
    fn total(&self) -> f64 {
        self.counts.iter().sum()
    }

    /// Mean of the values, `None` for no values.
    pub fn mean(&self) -> Option<f64> {
        (self.total() > 0.0).then(|| self.sum / self.total())
    }

    fn normalised(&self, smoothing: f64) -> Option<Vec<f64>> {
        let total = self.total();
        if total == 0.0 {
            return None;
        }
        let smoothed: Vec<f64> = self.counts.iter().map(|count| count / total + smoothing).collect();
        let sum: f64 = smoothed.iter().sum();
        Some(smoothed.into_iter().map(|p| p / sum).collect())
    }

    /// Shared area of the two normalised histograms: 1 = identical, 0 = disjoint.
    pub fn overlap(&self, other: &Histogram) -> Option<f64> {
        let (p, q) = (self.normalised(0.0)?, other.normalised(0.0)?);
        Some(p.iter().zip(&q).map(|(a, b)| a.min(*b)).sum())
    }

    /// KL(p‖q) + KL(q‖p) in nats, after adding `KL_SMOOTHING` to every bin.
    pub fn symmetric_kl(&self, other: &Histogram) -> Option<f64> {
        let (p, q) = (self.normalised(KL_SMOOTHING)?, other.normalised(KL_SMOOTHING)?);
        Some(p.iter().zip(&q).map(|(a, b)| (a - b) * (a / b).ln()).sum())
    }
}

/// How close one set's statistic is to another's.
#[derive(Clone, Debug, Serialize)]
pub struct Distance {
    /// Overlapping area (1 = identical); `None` when a set has no values.
    pub overlap: Option<f64>,
    /// Symmetric KL divergence in nats (0 = identical).
    pub symmetric_kl: Option<f64>,
}

/// Distance between the statistic of two sets of phrases.
pub fn distance(statistic: Statistic, a: &[Phrase], b: &[Phrase]) -> Distance {
    let (left, right) = (statistic.histogram(a), statistic.histogram(b));
    Distance { overlap: left.overlap(&right), symmetric_kl: left.symmetric_kl(&right) }
}

/// Every other phrase (indices `parity`, `parity + 2`, ...): halves for the real-vs-real
/// reference, so each comparison sets disjoint phrases of equal numbers against each other.
pub fn half(phrases: &[Phrase], parity: usize) -> Vec<Phrase> {
    phrases.iter().skip(parity).step_by(2).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(pitch: u8, start_beats: f64, duration_beats: f64) -> Note {
        Note { pitch, velocity: 80, start_beats, duration_beats }
    }

    fn phrase(prompt: Vec<Note>, continuation: Vec<Note>) -> Phrase {
        Phrase { prompt, continuation, continuation_beats: 4.0, continuation_start_beats: 4.0 }
    }

    fn scale(root: u8, steps: &[u8]) -> Vec<Note> {
        steps.iter().enumerate().map(|(i, step)| note(root + step, i as f64, 1.0)).collect()
    }

    #[test]
    fn krumhansl_schmuckler_finds_major_and_minor_keys() {
        let g_major = scale(67, &[0, 2, 4, 5, 7, 9, 11, 12, 7, 4, 0]);
        assert_eq!(estimate_key(&g_major), Some(Key { root: 7, minor: false }));
        let a_minor = scale(57, &[0, 2, 3, 5, 7, 8, 11, 12, 7, 3, 0, 0]);
        assert_eq!(estimate_key(&a_minor), Some(Key { root: 9, minor: true }));
        assert_eq!(estimate_key(&[]), None);
        assert!(in_key(66, Key { root: 7, minor: false }), "F# is in G major");
        assert!(!in_key(65, Key { root: 7, minor: false }), "F is not");
    }

    #[test]
    fn statistics_of_a_known_phrase() {
        // A C major triad held for a beat, then E and G eighths over the held C.
        let continuation =
            vec![note(60, 0.0, 2.0), note(64, 0.0, 1.0), note(67, 0.0, 1.0), note(64, 1.0, 0.5), note(66, 1.5, 0.5)];
        let p = phrase(scale(60, &[0, 2, 4, 5, 7, 9, 11]), continuation);
        assert_eq!(Statistic::InterOnset.values(&p), vec![24.0, 12.0]);
        assert_eq!(Statistic::Polyphony.values(&p), vec![3.0, 2.0, 2.0]);
        assert_eq!(Statistic::TopLineLeap.values(&p), vec![3.0, 2.0], "G, E, F#: the chord's top, then the line");
        assert_eq!(Statistic::PitchSpan.values(&p), vec![7.0]);
        assert_eq!(Statistic::Density.values(&p), vec![5.0 / 4.0]);
        assert_eq!(Statistic::InKeyShare.values(&p), vec![4.0 / 5.0], "F# is outside C major");
        let histogram = Statistic::InterOnset.histogram(&[p]);
        assert_eq!(histogram.counts[6], 1.0, "12 ticks falls in the 8th bucket");
        assert_eq!(histogram.counts[8], 1.0, "24 ticks falls in the quarter bucket");
        assert_eq!(histogram.mean(), Some(18.0));
    }

    #[test]
    fn identical_sets_are_at_distance_zero_and_disjoint_ones_far_apart() {
        let low = vec![phrase(vec![], scale(40, &[0, 1, 2])); 3];
        let high = vec![phrase(vec![], scale(80, &[0, 1, 2])); 3];
        let same = distance(Statistic::Pitch, &low, &low);
        assert_eq!(same.overlap, Some(1.0));
        assert!(same.symmetric_kl.unwrap().abs() < 1e-12);
        let apart = distance(Statistic::Pitch, &low, &high);
        assert_eq!(apart.overlap, Some(0.0));
        assert!(apart.symmetric_kl.unwrap() > 5.0);
        let empty = vec![phrase(vec![], vec![])];
        assert!(distance(Statistic::Pitch, &low, &empty).overlap.is_none());
    }

    #[test]
    fn halves_interleave() {
        let phrases: Vec<Phrase> = (0..5).map(|i| phrase(vec![], scale(60 + i, &[0]))).collect();
        let pitches = |set: Vec<Phrase>| set.iter().map(|p| p.continuation[0].pitch).collect::<Vec<_>>();
        assert_eq!(pitches(half(&phrases, 0)), vec![60, 62, 64]);
        assert_eq!(pitches(half(&phrases, 1)), vec![61, 63]);
    }
}
