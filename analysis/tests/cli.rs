//! The `continuo-analysis` binary end to end on a small generated corpus.

use std::path::Path;
use std::process::Command;

use continuo::corpus::{midi_files, split_of, Split};
use continuo::engine::random_model::random_wavenet;
use continuo::midi_file::write_midi;
use continuo::model::WaveNetConfig;
use continuo::tokens::Note;

/// Writes `count` 12-bar pieces: arpeggios in different keys, 2 notes per beat.
fn write_corpus(dir: &Path, count: usize) {
    for piece in 0..count {
        let root = 48 + (piece % 12) as u8;
        let notes: Vec<Note> = (0..96)
            .map(|i| Note {
                pitch: root + [0, 4, 7, 12][i % 4],
                velocity: 70 + (i % 3) as u8 * 10,
                start_beats: i as f64 * 0.5,
                duration_beats: 0.5,
            })
            .collect();
        std::fs::write(dir.join(format!("piece_{piece:03}.mid")), write_midi(&notes, 120.0, (4, 4))).unwrap();
    }
}

/// Standard output and standard error of a successful run.
fn analysis_with_warnings(args: &[&str]) -> (String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_continuo-analysis")).args(args).output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{args:?} failed: {stderr}");
    (String::from_utf8(output.stdout).unwrap(), stderr)
}

fn analysis(args: &[&str]) -> String {
    analysis_with_warnings(args).0
}

#[test]
fn baselines_score_the_validation_split_and_write_json() {
    let corpus = tempfile::tempdir().unwrap();
    write_corpus(corpus.path(), 40);
    let validation = validation_files(corpus.path());
    assert!(validation > 0, "the fixture needs validation pieces");
    let json = corpus.path().join("baselines.json");
    let data = corpus.path().to_str().unwrap();
    let table =
        analysis(&["baselines", "--data", data, "--max-order", "6", "--frames", "--json", json.to_str().unwrap()]);
    assert!(table.contains("| unigram (add-one) |") && table.contains("(chosen)"), "{table}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let evaluation = &report["evaluation"];
    assert_eq!(evaluation["pieces"].as_u64().unwrap() as usize, validation);
    let orders = evaluation["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 7);
    let nats = |order: usize| orders[order]["total_nats"].as_f64().unwrap();
    assert!(nats(6) < nats(0) / 5.0, "the arpeggios are predictable from context: {} vs {}", nats(6), nats(0));
    assert_eq!(evaluation["length_beats"].as_f64().unwrap(), 48.0 * validation as f64);
}

/// How many files of `dir` the shared split holds out for validation.
fn validation_files(dir: &Path) -> usize {
    midi_files(dir).unwrap().iter().filter(|f| split_of(dir, f) == Split::Validation).count()
}

/// A small random-weight WaveNet saved in `dir`.
fn small_random_model(dir: &Path) -> std::path::PathBuf {
    let model = dir.join("random.safetensors");
    let config =
        WaveNetConfig { residual_channels: 8, skip_channels: 8, stacks: 1, layers_per_stack: 3, conditioned: true, repeat_pointer: false, copy_keys: 0 };
    random_wavenet(config, 5).save(&model).unwrap();
    model
}

/// A corpus of 40 files, an output folder, and a small random model in it.
fn quality_fixture() -> (tempfile::TempDir, tempfile::TempDir, std::path::PathBuf) {
    let corpus = tempfile::tempdir().unwrap();
    write_corpus(corpus.path(), 40);
    let out = tempfile::tempdir().unwrap();
    let model = small_random_model(out.path());
    (corpus, out, model)
}

#[test]
fn quality_writes_the_table_json_and_piano_rolls() {
    let (corpus, out, model) = quality_fixture();
    let data = corpus.path().to_str().unwrap();
    let args = [
        "quality",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data,
        "--phrases",
        "3",
        "--bars",
        "2",
        "--out",
        out.path().to_str().unwrap(),
    ];
    let table = analysis(&args);
    assert!(table.contains("random vs real") && table.contains("Markov order 8 vs real"), "{table}");
    assert!(table.contains("random + memory 0.5 vs real") && table.contains("re-use of the prompt"), "{table}");
    assert_eq!(std::fs::read_to_string(out.path().join("quality.md")).unwrap(), table);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("quality.json")).unwrap()).unwrap();
    assert_eq!(report["rows"].as_array().unwrap().len(), continuo_analysis::stats::STATISTICS.len());
    for example in 1..=3 {
        assert!(out.path().join(format!("example_{example}.png")).exists());
        let midi =
            continuo::midi_file::read_midi_file(&out.path().join(format!("example_{example}.mid")), Default::default());
        assert!(midi.unwrap().notes.len() >= 8, "the prompt and the answer");
    }
}

#[test]
fn quality_over_several_seeds_reports_each_run_and_the_spread() {
    let (corpus, out, model) = quality_fixture();
    let (data, out_dir) = (corpus.path().to_str().unwrap(), out.path().to_str().unwrap());
    let (table, warnings) = analysis_with_warnings(&[
        "quality", "--model", model.to_str().unwrap(), "--data", data, "--phrases", "50", "--bars", "2", "--seed", "4",
        "--seeds", "2", "--out", out_dir,
    ]);
    assert_eq!(warnings.matches("of the 50 phrases asked for could be cut").count(), 1, "once, not per seed: {warnings}");
    assert!(table.starts_with("| statistic: overlap, mean ± sd of 2 runs |"), "{table}");
    assert_eq!(table.lines().count(), 2 + continuo_analysis::stats::STATISTICS.len());
    assert!(table.lines().skip(2).all(|line| line.contains(" ± ")), "{table}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("quality.json")).unwrap()).unwrap();
    let seeds: Vec<u64> = report["runs"].as_array().unwrap().iter().map(|run| run["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, [4, 5]);
    assert_eq!(report["top_p"], 0.95, "the option as written, not the f32 widened");
    assert!(out.path().join("example_1.png").exists(), "the first run's piano rolls");
}

#[test]
fn quality_of_two_models_over_seeds_pairs_their_runs() {
    let (corpus, out, model) = quality_fixture();
    let (data, out_dir, model) = (corpus.path().to_str().unwrap(), out.path().to_str().unwrap(), model.to_str().unwrap());
    let table = analysis(&[
        "quality", "--model", model, "--model", model, "--data", data, "--phrases", "50", "--bars", "2", "--seeds", "2",
        "--markov-order", "0", "--out", out_dir,
    ]);
    let paired: Vec<&str> = table.lines().skip_while(|line| !line.contains("overlap difference")).collect();
    assert_eq!(paired[0], "| statistic: overlap difference, mean ± se of 2 paired runs (* beyond 2 se) | random − random | random + memory 0.5 − random + memory 0.5 |");
    assert_eq!(paired.len(), 2 + continuo_analysis::stats::STATISTICS.len(), "{table}");
    let cells = paired[2..].iter().flat_map(|line| line.split(" | ").skip(1));
    assert!(
        cells.map(|cell| cell.trim_end_matches(" |")).all(|cell| cell == "+0.000 ± 0.000" || cell == "n/a"),
        "the same model on the same phrases and seeds differs by nothing (n/a: no such statistic): {table}"
    );
    assert!(paired[2].ends_with("| +0.000 ± 0.000 | +0.000 ± 0.000 |"), "pitch classes: {table}");
}

#[test]
fn quality_on_an_unseen_collection_takes_phrases_from_every_file() {
    let (corpus, out, model) = quality_fixture();
    let validation = validation_files(corpus.path());
    let phrases = (validation + 5).to_string();
    let (data, out_dir) = (corpus.path().to_str().unwrap(), out.path().to_str().unwrap());
    let table = analysis(&[
        "quality", "--model", model.to_str().unwrap(), "--data", data, "--phrases", &phrases, "--bars", "2", "--every-file",
        "--out", out_dir,
    ]);
    assert!(!table.contains("Markov"), "the baseline learnt these phrases: {table}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("quality.json")).unwrap()).unwrap();
    let taken = report["phrases"].as_array().unwrap().len();
    assert_eq!(taken, validation + 5, "more phrases than the {validation} validation pieces give");
}
