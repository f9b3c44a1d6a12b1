//! The trainer end to end on small generated corpora: loss falls, resume is exact, the exported
//! file carries its metadata, bad files are skipped, burn and the engine agree, and fine-tuning
//! (`--init`) starts from exactly the file's weights.

use std::path::Path;

use burn::prelude::*;
use continuo::engine::Engine;
use continuo::midi_file::write_midi;
use continuo::model::{names, Architecture, LstmConfig, ModelFile, WaveNetConfig};
use continuo::style_memory::MEMORY_MAX_ORDER;
use continuo::tokens::{Note, VOCAB_SIZE};
use continuo_train::batches::Batch;
use continuo_train::corpus::read_corpus;
use continuo_train::eval::{eval, EvalOptions, SplitChoice};
use continuo_train::network::{initial_model_file, Network};
use continuo_train::options::{ArchChoice, BackendChoice, LrSchedule, TrainOptions};
use continuo_train::pointer::{fit_pointer_command, FitPointerOptions, FIT_TOKENS};
use continuo_train::train::{train, Start, MODEL_FILE};

/// Writes `count` short pieces: arpeggios over a few keys, so there is something to learn.
fn write_corpus(dir: &Path, count: usize) {
    for piece in 0..count {
        let root = 48 + (piece % 7) as u8 * 2;
        let notes: Vec<Note> = (0..48)
            .map(|step| Note {
                pitch: root + [0, 4, 7, 12, 7, 4][step % 6],
                velocity: 70 + (step % 3) as u8 * 10,
                start_beats: step as f64 * 0.5,
                duration_beats: 0.5,
            })
            .collect();
        std::fs::write(dir.join(format!("piece_{piece:02}.mid")), write_midi(&notes, 100.0, (4, 4))).unwrap();
    }
}

/// `eval` of `model` on every file of `data`, per token, without the style memory.
fn eval_options(model: &Path, data: &Path) -> EvalOptions {
    EvalOptions::per_token(model, vec![data.to_path_buf()], SplitChoice::All)
}

fn tiny_options(data: &Path, out: &Path, arch: ArchChoice) -> TrainOptions {
    TrainOptions {
        data: vec![data.to_path_buf()],
        valid: vec![],
        out: out.to_path_buf(),
        init: None,
        arch,
        channels: 16,
        skip: 24,
        stacks: 1,
        layers: if arch == ArchChoice::Lstm { 1 } else { 4 },
        no_conditioning: false,
        copy_keys: 0,
        batch: 4,
        seq: 48,
        long_seq: 0,
        long_every: 2,
        transpose: 6,
        lr: Some(1e-2),
        lr_schedule: LrSchedule::Plateau,
        lr_decay: 0.5,
        lr_patience: 1,
        dropout: 0.1,
        average: 0.9,
        clip_norm: 1.0,
        epochs: Some(3),
        max_minutes: None,
        steps_per_epoch: 8,
        patience: 3,
        seed: 5,
        include_drums: false,
        valid_seq: 128,
        backend: BackendChoice::Flex,
    }
}

fn corpus_dir(count: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_corpus(dir.path(), count);
    dir
}

#[test]
fn a_tiny_run_learns_for_both_architectures() {
    let data = corpus_dir(24);
    for arch in [ArchChoice::Wavenet, ArchChoice::Lstm] {
        let out = tempfile::tempdir().unwrap();
        let outcome = train(Start::New(tiny_options(data.path(), out.path(), arch)), |_| {}).unwrap();
        let first = &outcome.history[0];
        let last = outcome.history.last().unwrap();
        assert!(last.train_loss < first.train_loss, "{arch:?}: {:?}", outcome.history);
        assert!(outcome.valid_nll < outcome.unigram_nll, "{arch:?}: {} vs unigram {}", outcome.valid_nll, outcome.unigram_nll);
        for file in ["metrics.json", "curves.png", MODEL_FILE] {
            assert!(out.path().join(file).is_file(), "{arch:?}: {file} missing");
        }
    }
}

#[test]
fn every_other_step_on_long_windows_trains_a_different_run_that_learns() {
    let data = corpus_dir(16);
    let (plain_out, mixed_out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain = train(Start::New(tiny_options(data.path(), plain_out.path(), ArchChoice::Wavenet)), |_| {}).unwrap();
    let mixed_options = TrainOptions { long_seq: 96, ..tiny_options(data.path(), mixed_out.path(), ArchChoice::Wavenet) };
    let mixed = train(Start::New(mixed_options), |_| {}).unwrap();
    let losses = |history: &[continuo_train::checkpoint::EpochMetrics]| history.iter().map(|m| m.train_loss).collect::<Vec<_>>();
    assert_ne!(losses(&mixed.history), losses(&plain.history), "the long windows change the batches");
    assert!(mixed.history.last().unwrap().train_loss < mixed.history[0].train_loss, "{:?}", mixed.history);
    assert!(mixed.valid_nll < mixed.unigram_nll, "{} vs unigram {}", mixed.valid_nll, mixed.unigram_nll);
}

fn tensors_of(path: &Path) -> std::collections::BTreeMap<String, continuo::model::StoredTensor> {
    ModelFile::load(path).unwrap().tensors
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let data = corpus_dir(16);
    let whole = tempfile::tempdir().unwrap();
    let uninterrupted = train(Start::New(tiny_options(data.path(), whole.path(), ArchChoice::Wavenet)), |_| {}).unwrap();

    let halves = tempfile::tempdir().unwrap();
    let first_part = TrainOptions { epochs: Some(1), ..tiny_options(data.path(), halves.path(), ArchChoice::Wavenet) };
    train(Start::New(first_part), |_| {}).unwrap();
    let mut lines = Vec::new();
    let resumed = train(Start::Resume { run: halves.path().to_path_buf(), until_epoch: Some(3), until_minutes: None }, |line| lines.push(line)).unwrap();
    assert!(lines.iter().any(|line| line.contains("after epoch 1")), "{lines:?}");

    let losses = |history: &[continuo_train::checkpoint::EpochMetrics]| history.iter().map(|m| (m.train_loss, m.valid_nll)).collect::<Vec<_>>();
    assert_eq!(losses(&resumed.history), losses(&uninterrupted.history));
    assert_eq!(tensors_of(&halves.path().join(MODEL_FILE)), tensors_of(&whole.path().join(MODEL_FILE)));
}

#[test]
fn the_learning_rate_halves_every_lr_patience_epochs_without_improvement() {
    let data = corpus_dir(6);
    let out = tempfile::tempdir().unwrap();
    // A rate far below f32 resolution leaves the weights as they are, so no epoch after the
    // first improves: the rate decays after epochs 3 and 5 (2 and 4 epochs without a better one).
    let options = TrainOptions { lr: Some(1e-20), lr_patience: 2, epochs: Some(5), patience: 10, ..tiny_options(data.path(), out.path(), ArchChoice::Wavenet) };
    let mut lines = Vec::new();
    train(Start::New(options), |line| lines.push(line)).unwrap();
    let state = continuo_train::checkpoint::load_state(out.path()).unwrap();
    assert_eq!(state.epochs_since_best, 4);
    assert_eq!(state.learning_rate, Some(0.25e-20));
    assert_eq!(lines.iter().filter(|line| line.starts_with("learning rate")).count(), 2, "{lines:#?}");
}

#[test]
fn the_cosine_schedule_leaves_the_plateau_decay_alone() {
    let data = corpus_dir(6);
    let out = tempfile::tempdir().unwrap();
    let tiny = tiny_options(data.path(), out.path(), ArchChoice::Wavenet);
    let options = TrainOptions { lr: Some(1e-20), lr_schedule: LrSchedule::Cosine, lr_patience: 1, epochs: Some(3), patience: 10, ..tiny };
    let mut lines = Vec::new();
    train(Start::New(options), |line| lines.push(line)).unwrap();
    let state = continuo_train::checkpoint::load_state(out.path()).unwrap();
    assert_eq!((state.epochs_since_best, state.learning_rate), (2, None), "{lines:#?}");
    assert!(!lines.iter().any(|line| line.starts_with("learning rate")), "{lines:#?}");
}

#[test]
fn resuming_a_folder_without_a_checkpoint_says_so() {
    let empty = tempfile::tempdir().unwrap();
    let error = train(Start::Resume { run: empty.path().to_path_buf(), until_epoch: None, until_minutes: None }, |_| {}).unwrap_err();
    assert!(error.to_string().contains("no checkpoint to resume from"), "{error}");
}

#[test]
fn the_exported_model_carries_its_metadata_and_loads_in_the_engine() {
    let data = corpus_dir(12);
    let out = tempfile::tempdir().unwrap();
    let outcome = train(Start::New(TrainOptions { epochs: Some(1), ..tiny_options(data.path(), out.path(), ArchChoice::Wavenet) }), |_| {}).unwrap();
    let model = ModelFile::load(&out.path().join(MODEL_FILE)).unwrap();
    assert_eq!(model.meta.valid_nll_per_token, Some(outcome.valid_nll));
    assert_eq!(
        model.meta.architecture,
        Architecture::WaveNet(WaveNetConfig { residual_channels: 16, skip_channels: 24, stacks: 1, layers_per_stack: 4, conditioned: true, repeat_pointer: false, copy_keys: 0 })
    );
    assert_eq!(model.meta.training["data"]["files"], 12);
    assert_eq!(model.meta.training["options"]["seq"], 48);
    Engine::from_model(&model).unwrap();

    let model = out.path().join(MODEL_FILE);
    let json = Some(out.path().join("eval.json"));
    let report = eval(&EvalOptions { json, frames: true, ..eval_options(&model, data.path()) }).unwrap();
    assert_eq!(report.files, 12);
    assert_eq!(report.frames, Some(12 * 24), "48 eighth notes per piece = 24 beats");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("eval.json")).unwrap()).unwrap();
    assert_eq!(json["tokens"], report.tokens);
    assert!(json["nll_per_token_without_memory"].is_null());
    assert!(report.by_kind.is_empty(), "split by kind only when asked");

    // Split by kind of event: the kinds add up to the whole, every note has its on and off.
    let by_kind = eval(&EvalOptions { by_kind: true, ..eval_options(&model, data.path()) }).unwrap();
    assert_eq!(by_kind.total_nll_nats, report.total_nll_nats);
    let kinds: Vec<&str> = by_kind.by_kind.iter().map(|kind| kind.kind).collect();
    assert_eq!(kinds, ["note-on", "note-off", "velocity", "time shift", "end"]);
    let count = |kind: &str| by_kind.by_kind.iter().find(|report| report.kind == kind).unwrap().tokens;
    assert_eq!(count("note-on"), 12 * 48, "48 notes in each of the 12 pieces");
    assert_eq!(count("note-off"), count("note-on"));
    assert_eq!(count("end"), 12);
    assert_eq!(by_kind.by_kind.iter().map(|kind| kind.tokens).sum::<usize>(), report.tokens);
    let nats: f64 = by_kind.by_kind.iter().map(|kind| kind.nll_per_token * kind.tokens as f64).sum();
    assert!((nats - report.total_nll_nats).abs() < 1e-6 * report.total_nll_nats, "{nats} vs {}", report.total_nll_nats);
    let shares: f64 = by_kind.by_kind.iter().map(|kind| kind.share_of_nll).sum();
    assert!((shares - 1.0).abs() < 1e-9, "{shares}");

    // A passage of 8 beats heard twice: every scored token is in one hearing or is a piece's End,
    // and the two hearings hold the same events but for the note-off on the seam, which the
    // second hearing counts (it comes on the seam's tick).
    let heard_twice = eval(&EvalOptions { repeat_beats: Some(8.0), ..eval_options(&model, data.path()) }).unwrap();
    let hearings = heard_twice.repeat.expect("both hearings scored");
    assert_eq!(heard_twice.files, 12, "a passage from beat 8 of every 24-beat piece");
    assert_eq!(hearings.first_tokens + hearings.second_tokens + heard_twice.files, heard_twice.tokens);
    assert_eq!(hearings.first_tokens + 2 * heard_twice.files, hearings.second_tokens, "{hearings:?}");
    assert!(heard_twice.to_string().contains("heard twice"), "{heard_twice}");
    let too_long = eval(&EvalOptions { repeat_beats: Some(64.0), ..eval_options(&model, data.path()) }).unwrap_err().to_string();
    assert!(too_long.contains(&data.path().display().to_string()) && too_long.contains("no piece"), "{too_long}");

    // The same files with the style memory: the pieces repeat one pattern, so it helps.
    let json = Some(out.path().join("memory.json"));
    let with_memory =
        eval(&EvalOptions { json, memory: true, fit_memory: true, by_kind: true, ..eval_options(&model, data.path()) }).unwrap();
    let without = with_memory.nll_per_token_without_memory.expect("scored both ways");
    assert!((without - report.nll_per_token).abs() < 1e-9, "{without} vs {}", report.nll_per_token);
    assert!(with_memory.nll_per_token < without, "{} vs {without}", with_memory.nll_per_token);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("memory.json")).unwrap()).unwrap();
    assert_eq!(json["nll_per_token"], with_memory.nll_per_token);
    assert_eq!(json["collections"][0]["nll_per_token_without_memory"], without);
    assert_eq!(json["fitted_memory_weights"].as_array().map(Vec::len), Some(MEMORY_MAX_ORDER + 1));
    // A memory of 8 tokens holds less than one playing of the pieces' pattern: it gains less.
    let small = eval(&EvalOptions { memory: true, memory_capacity: 8, ..eval_options(&model, data.path()) }).unwrap();
    assert_eq!(small.nll_per_token_without_memory, Some(without));
    assert!(small.nll_per_token > with_memory.nll_per_token, "{} vs {}", small.nll_per_token, with_memory.nll_per_token);
    // By kind with the memory: each kind's two figures add up to the two wholes, and the network
    // alone gives the same split as without --memory.
    let tokens: Vec<usize> = with_memory.by_kind.iter().map(|kind| kind.tokens).collect();
    assert_eq!(tokens, by_kind.by_kind.iter().map(|kind| kind.tokens).collect::<Vec<_>>());
    let nats_with: f64 = with_memory.by_kind.iter().map(|kind| kind.nll_per_token * kind.tokens as f64).sum();
    assert!((nats_with - with_memory.total_nll_nats).abs() < 1e-6 * with_memory.total_nll_nats, "{nats_with}");
    for (kind, alone) in with_memory.by_kind.iter().zip(&by_kind.by_kind) {
        let kind_without = kind.nll_per_token_without_memory.expect("scored both ways");
        assert!((kind_without - alone.nll_per_token).abs() < 1e-9, "{}: {kind_without} vs {}", kind.kind, alone.nll_per_token);
        let kind_gain = kind.memory_gain.expect("a gain per kind");
        assert!((kind_gain - (1.0 - kind.nll_per_token / kind_without)).abs() < 1e-12, "{}", kind.kind);
    }
    assert!(json["by_kind"][0]["memory_gain"].is_number());
    let network_only = serde_json::to_value(&by_kind).unwrap();
    assert!(network_only["by_kind"][0].get("memory_gain").is_none(), "the network-only split names no memory figures");
}

#[test]
fn splitting_an_lstm_score_by_kind_is_refused_naming_the_model() {
    let data = corpus_dir(1);
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("lstm.safetensors");
    initial_model_file(Architecture::Lstm(LstmConfig { embedding: 8, hidden: 8, layers: 1 }), 3).save(&path).unwrap();
    let refused = eval(&EvalOptions { by_kind: true, ..eval_options(&path, data.path()) }).unwrap_err().to_string();
    assert!(refused.contains("lstm.safetensors") && refused.contains("WaveNet models only"), "{refused}");
    eval(&eval_options(&path, data.path())).expect("scored with burn without --by-kind");
}

#[test]
fn corrupt_and_truncated_files_are_skipped_with_a_warning_and_counted() {
    let data = corpus_dir(3);
    let good = std::fs::read(data.path().join("piece_00.mid")).unwrap();
    std::fs::write(data.path().join("truncated.mid"), &good[..good.len() / 2]).unwrap();
    std::fs::write(data.path().join("corrupt.mid"), b"MThd\x00\x00\x00\x06garbage").unwrap();
    let mut warnings = Vec::new();
    let corpus = read_corpus(data.path(), false, |warning| warnings.push(warning)).unwrap();
    assert_eq!(corpus.pieces.len(), 3);
    assert_eq!(corpus.summary.skipped_files, 2);
    assert_eq!(warnings.len(), 2);
    for name in ["truncated.mid", "corrupt.mid"] {
        assert!(warnings.iter().any(|w| w.contains(name) && w.contains("not a valid MIDI file")), "{warnings:?}");
    }
}

/// Logits `[positions, vocab]` of a burn network for one sequence.
fn burn_logits(model: &ModelFile, tokens: &[u16]) -> Vec<f32> {
    let device = Device::flex();
    let network = Network::from_model_file(model, &device).unwrap();
    let seq = tokens.len();
    let mut features = vec![0.0; seq * continuo::tokens::FEATURE_COUNT];
    let mut state = continuo::tokens::SequenceState::default();
    for (position, &token) in tokens.iter().enumerate() {
        state.apply_token(token, |_| {});
        state.write_features(&mut features[position * continuo::tokens::FEATURE_COUNT..][..continuo::tokens::FEATURE_COUNT]);
    }
    let batch = Batch {
        rows: 1,
        seq,
        inputs: tokens.iter().map(|&t| t as i64).collect(),
        targets: vec![0; seq],
        mask: vec![1.0; seq],
        features: Some(features),
        dropout_seed: None,
    };
    network.logits(&batch, &device).into_data().convert::<f32>().try_into_vec().unwrap()
}

/// A small conditioned WaveNet with a copy head of `copy_keys` (0: none).
fn agreement_config(copy_keys: usize) -> WaveNetConfig {
    WaveNetConfig { residual_channels: 16, skip_channels: 32, stacks: 2, layers_per_stack: 5, conditioned: true, repeat_pointer: false, copy_keys }
}

/// One piece of the test corpus: `START`, its events, `END`.
fn corpus_piece() -> Vec<u16> {
    read_corpus(corpus_dir(1).path(), false, |_| {}).unwrap().pieces.remove(0).tokens
}

#[test]
fn burn_and_the_engine_agree_on_the_same_weights() {
    assert_burn_and_engine_agree(&initial_model_file(Architecture::WaveNet(agreement_config(0)), 11), &corpus_piece());
}

#[test]
fn burn_and_the_engine_agree_on_a_copy_head_past_its_window() {
    // Random weights everywhere, so the attention is uneven; the piece's events played over and
    // over, past the window the engine's ring keeps.
    let piece = corpus_piece();
    let mut tokens = piece[..1].to_vec();
    while tokens.len() <= continuo::engine::copy_head::COPY_WINDOW_TOKENS + 64 {
        tokens.extend_from_slice(&piece[1..piece.len() - 1]);
    }
    assert_burn_and_engine_agree(&continuo::engine::random_model::random_wavenet(agreement_config(8), 12), &tokens);
}

fn assert_burn_and_engine_agree(model: &ModelFile, tokens: &[u16]) {
    let expected = burn_logits(model, tokens);
    let mut engine = Engine::from_model(model).unwrap();
    for (position, &token) in tokens.iter().enumerate() {
        let logits = if position == 0 { engine.logits().to_vec() } else { engine.step(token).to_vec() };
        let row = &expected[position * VOCAB_SIZE..][..VOCAB_SIZE];
        for (index, (a, b)) in logits.iter().zip(row).enumerate() {
            assert!((a - b).abs() < 1e-4, "position {position} token {index}: engine {a} burn {b}");
        }
    }
}

/// A WaveNet file of another size than `tiny_options` describes, to start from with `--init`.
fn init_file(dir: &Path) -> (std::path::PathBuf, ModelFile) {
    let config = WaveNetConfig { residual_channels: 8, skip_channels: 16, stacks: 1, layers_per_stack: 3, conditioned: true, repeat_pointer: false, copy_keys: 0 };
    let model = initial_model_file(Architecture::WaveNet(config), 21);
    let path = dir.join("init.safetensors");
    model.save(&path).unwrap();
    (path, model)
}

/// Options that validate on a folder of their own, in windows longer than any piece, so the
/// trainer's validation NLL is `eval`'s figure for the same folder.
fn init_options(data: &Path, valid: &Path, out: &Path, init: &Path) -> TrainOptions {
    TrainOptions {
        init: Some(init.to_path_buf()),
        valid: vec![valid.to_path_buf()],
        valid_seq: 1024,
        average: 0.0,
        ..tiny_options(data, out, ArchChoice::Wavenet)
    }
}

/// Trains a new run and returns its outcome with the lines it logged.
fn train_logged(options: TrainOptions) -> (continuo_train::train::TrainOutcome, Vec<String>) {
    let mut lines = Vec::new();
    let outcome = train(Start::New(options), |line| lines.push(line)).unwrap();
    (outcome, lines)
}

#[test]
fn a_run_from_init_starts_with_exactly_the_init_weights() {
    let (data, valid, out) = (corpus_dir(6), corpus_dir(2), tempfile::tempdir().unwrap());
    let (init_path, init) = init_file(out.path());
    // A learning rate of 0 keeps the weights: the run ends where it started.
    let options = TrainOptions { lr: Some(0.0), epochs: Some(1), steps_per_epoch: 1, ..init_options(data.path(), valid.path(), out.path(), &init_path) };
    let (outcome, lines) = train_logged(options);
    let exported = ModelFile::load(&out.path().join(MODEL_FILE)).unwrap();
    assert_eq!(exported.tensors, init.tensors, "the exported weights are the init file's");
    assert_eq!(exported.meta.architecture, init.meta.architecture, "the architecture comes from the file, not the options");
    assert_eq!(exported.meta.training["options"]["channels"], 8);

    let report = eval(&eval_options(&init_path, valid.path())).unwrap();
    let state = continuo_train::checkpoint::load_state(out.path()).unwrap();
    let before_training = state.init_valid_nll.expect("the init model is validated before any step");
    assert!((before_training - report.nll_per_token).abs() < 1e-4, "trainer {before_training} vs eval {}", report.nll_per_token);
    assert!((outcome.history[0].valid_nll - report.nll_per_token).abs() < 1e-4, "{:?}", outcome.history);
    assert!(lines.iter().any(|line| line.contains("--init model: validation NLL")), "{lines:#?}");
}

#[test]
fn fit_pointer_adds_a_table_the_engine_runs_and_training_from_it_drops_the_stale_table() {
    let (data, valid, out) = (corpus_dir(6), corpus_dir(2), tempfile::tempdir().unwrap());
    let (init_path, init) = init_file(out.path());
    let fitted_path = out.path().join("pointer.safetensors");
    let data_folders = vec![data.path().to_path_buf()];
    let options =
        FitPointerOptions { model: init_path, data: data_folders, split: SplitChoice::All, out: fitted_path.clone(), max_tokens: FIT_TOKENS };
    let fit = fit_pointer_command(&options).unwrap();
    assert!(fit.tokens > 0 && fit.proposed > 0, "{fit}");
    let fitted = ModelFile::load(&fitted_path).unwrap();
    assert_eq!(fitted.without_repeat_pointer(), init, "the fit adds the table and changes nothing else");
    assert!(fitted.f32(names::REPEAT_BONUS).unwrap().iter().any(|&bonus| bonus != 0.0));
    Engine::from_model(&fitted).unwrap();

    let run = out.path().join("run");
    let options = TrainOptions { lr: Some(0.0), epochs: Some(1), steps_per_epoch: 1, ..init_options(data.path(), valid.path(), &run, &fitted_path) };
    train(Start::New(options), |_| {}).unwrap();
    let exported = ModelFile::load(&run.join(MODEL_FILE)).unwrap();
    assert_eq!((exported.meta.architecture, exported.tensors), (init.meta.architecture, init.tensors), "a changed network needs a new fit");
}

#[test]
fn a_copy_head_joins_an_init_network_unchanged_and_learns_what_its_window_cannot_see() {
    let (data, valid, out) = (corpus_dir(6), corpus_dir(2), tempfile::tempdir().unwrap());
    let (init_path, init) = init_file(out.path());
    let kept = out.path().join("kept");
    let options = TrainOptions { lr: Some(0.0), epochs: Some(1), steps_per_epoch: 1, copy_keys: 8, ..init_options(data.path(), valid.path(), &kept, &init_path) };
    train(Start::New(options), |_| {}).unwrap();
    let exported = ModelFile::load(&kept.join(MODEL_FILE)).unwrap();
    let Architecture::WaveNet(config) = exported.meta.architecture else { panic!("a WaveNet") };
    assert_eq!(config.copy_keys, 8);
    assert_eq!(exported.without_copy_head().tensors, init.tensors, "the network's weights are the init file's");
    assert_eq!(exported.f32(&names::weight(names::COPY_QUERY)), exported.f32(&names::weight(names::COPY_KEY)), "a fresh head asks for what it offers");
    Engine::from_model(&exported).unwrap();

    // The arpeggios repeat every six notes, further back than this network's 8 tokens reach.
    let train_run = |name: &str, copy_keys: usize| {
        let options = TrainOptions { epochs: Some(12), copy_keys, ..init_options(data.path(), valid.path(), &out.path().join(name), &init_path) };
        train(Start::New(options), |_| {}).unwrap().valid_nll
    };
    let (with_head, without) = (train_run("with", 8), train_run("without", 0));
    assert!(with_head < 0.8 * without, "with a copy head {with_head} vs {without} without");

    // `eval --copy-strength`: by default the whole mixture, at 0 the network alone.
    let trained = out.path().join("with").join(MODEL_FILE);
    let scored = |path: &Path, copy_strength| eval(&EvalOptions { copy_strength, ..eval_options(path, valid.path()) }).unwrap().nll_per_token;
    let network_alone = out.path().join("network alone.safetensors");
    ModelFile::load(&trained).unwrap().without_copy_head().save(&network_alone).unwrap();
    let whole = scored(&trained, None);
    assert_eq!(scored(&trained, Some(1.0)), whole);
    let (none, alone) = (scored(&trained, Some(0.0)), scored(&network_alone, None));
    // The mixture takes the log of an f32 softmax plus the probability floor, the network alone a
    // log-softmax: they differ in rounding, tenths of a thousandth of a nat.
    assert!((none - alone).abs() < 1e-3, "no copying {none} vs the network alone {alone}");
    let half = scored(&trained, Some(0.5));
    assert!(whole < half && half < none, "a head that helps: {whole} < {half} < {none}");
}

#[test]
fn an_int8_init_file_is_dequantized() {
    let (data, valid, out) = (corpus_dir(4), corpus_dir(1), tempfile::tempdir().unwrap());
    let (_, model) = init_file(out.path());
    let int8 = continuo::engine::quantize::quantize(&model);
    let int8_path = out.path().join("int8.safetensors");
    int8.save(&int8_path).unwrap();
    let options = TrainOptions { lr: Some(0.0), epochs: Some(1), steps_per_epoch: 1, ..init_options(data.path(), valid.path(), out.path(), &int8_path) };
    train(Start::New(options), |_| {}).unwrap();
    let exported = ModelFile::load(&out.path().join(MODEL_FILE)).unwrap();
    assert_eq!(exported.tensors, continuo::engine::quantize::dequantize(&int8).tensors);
}

#[test]
fn the_init_weights_are_kept_when_no_epoch_beats_them() {
    let (data, valid, out) = (corpus_dir(4), corpus_dir(1), tempfile::tempdir().unwrap());
    let (init_path, init) = init_file(out.path());
    // A rate this high wrecks the weights in one step, so every epoch validates worse.
    let options = TrainOptions { lr: Some(5.0), epochs: Some(2), steps_per_epoch: 2, ..init_options(data.path(), valid.path(), out.path(), &init_path) };
    let (outcome, lines) = train_logged(options);
    assert!(outcome.history.iter().all(|epoch| epoch.valid_nll > outcome.valid_nll), "{:?}", outcome.history);
    assert_eq!(ModelFile::load(&out.path().join(MODEL_FILE)).unwrap().tensors, init.tensors);
    assert!(lines.iter().any(|line| line.contains("no epoch beat the --init model")), "{lines:#?}");
}

#[test]
fn an_init_file_that_is_not_a_model_is_refused_naming_it() {
    let (data, out) = (corpus_dir(2), tempfile::tempdir().unwrap());
    let bad = out.path().join("notes.safetensors");
    std::fs::write(&bad, b"not a model").unwrap();
    let options = TrainOptions { init: Some(bad), ..tiny_options(data.path(), out.path(), ArchChoice::Wavenet) };
    let error = format!("{:#}", train(Start::New(options), |_| {}).unwrap_err());
    assert!(error.contains("--init") && error.contains("notes.safetensors"), "{error}");
}

#[test]
fn resuming_a_run_from_init_goes_on_from_its_checkpoint_not_the_init_file() {
    let (data, valid) = (corpus_dir(6), corpus_dir(2));
    let (whole, halves) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (init_path, _) = init_file(whole.path());
    let options = |out: &Path, epochs| TrainOptions { epochs: Some(epochs), ..init_options(data.path(), valid.path(), out, &init_path) };
    let uninterrupted = train(Start::New(options(whole.path(), 2)), |_| {}).unwrap();
    train(Start::New(options(halves.path(), 1)), |_| {}).unwrap();
    let resumed = train(Start::Resume { run: halves.path().to_path_buf(), until_epoch: Some(2), until_minutes: None }, |_| {}).unwrap();
    let valid_nlls = |history: &[continuo_train::checkpoint::EpochMetrics]| history.iter().map(|m| m.valid_nll).collect::<Vec<_>>();
    assert_eq!(valid_nlls(&resumed.history), valid_nlls(&uninterrupted.history));
    assert_eq!(tensors_of(&halves.path().join(MODEL_FILE)), tensors_of(&whole.path().join(MODEL_FILE)));
}

#[test]
fn a_minute_budget_stops_after_the_epoch_that_spends_it() {
    let (data, out) = (corpus_dir(4), tempfile::tempdir().unwrap());
    let options = TrainOptions { max_minutes: Some(0.0), epochs: Some(5), ..tiny_options(data.path(), out.path(), ArchChoice::Wavenet) };
    let (outcome, lines) = train_logged(options);
    assert_eq!(outcome.history.len(), 1, "one epoch, then the budget is spent");
    assert!(lines.iter().any(|line| line.contains("budget is spent")), "{lines:#?}");
    let resume = |until_minutes| Start::Resume { run: out.path().to_path_buf(), until_epoch: Some(4), until_minutes };
    let on_its_own_budget = train(resume(None), |_| {}).unwrap();
    assert_eq!(on_its_own_budget.history.len(), 2, "the spent budget ends a resumed run after one more epoch");
    let with_more_time = train(resume(Some(60.0)), |_| {}).unwrap();
    assert_eq!(with_more_time.history.len(), 4, "a new budget trains on to the epoch limit");
}
