//! The editor's model panel without the editor: what a model file says about itself, and
//! choosing one. Choosing checks the file the way the worker loads it (read, validate, build
//! the engine) before the path is saved, so a bad file is refused with its error and the
//! model running stays. The worker picks up the new path from the parameters (as after a
//! project load), and the path is saved with the project.

use std::path::Path;
use std::sync::RwLock;

use serde_json::Value;

use super::worker::{load_model_file, DEFAULT_MODEL_NAME};
use crate::engine::Engine;
use crate::model::{ModelError, ModelMeta};

/// What the model panel shows of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSummary {
    /// The file's name, or the default model's.
    pub name: String,
    /// What it was trained on, from the trainer's metadata.
    pub trained_on: String,
    /// Validation negative log-likelihood, nats per token, if the file records it.
    pub valid_nll_per_token: Option<f64>,
}

/// Reads and checks the model at `path` ("" = the embedded default) as the worker would load it.
pub fn describe_model(path: &str) -> Result<ModelSummary, ModelError> {
    let model = load_model_file(path)?;
    Engine::from_model(&model)?;
    Ok(summarize(path, &model.meta))
}

/// Makes `path` ("" = the embedded default) the model to run, if it loads; otherwise returns
/// its error and leaves the chosen path as it was.
pub fn choose_model(model_path: &RwLock<String>, path: &str) -> Result<ModelSummary, ModelError> {
    let summary = describe_model(path)?;
    let mut chosen = model_path.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    *chosen = path.to_string();
    Ok(summary)
}

fn summarize(path: &str, meta: &ModelMeta) -> ModelSummary {
    let name = match Path::new(path).file_name() {
        Some(file) => file.to_string_lossy().into_owned(),
        None => DEFAULT_MODEL_NAME.to_string(),
    };
    ModelSummary { name, trained_on: trained_on(&meta.training), valid_nll_per_token: meta.valid_nll_per_token }
}

/// "1801 files (piano_midi_de, music21_bach), 3.7 M tokens, 60 epochs" from the trainer's
/// free-form metadata, with whatever of it is there.
fn trained_on(training: &Value) -> String {
    let data = &training["data"];
    let files = data["files"].as_u64().map(|files| format!("{files} files"));
    let folders = data["folder"].as_str().map(|folders| {
        let names: Vec<&str> = folders.split(", ").map(|folder| folder.rsplit('/').next().unwrap_or(folder)).collect();
        names.join(", ")
    });
    let corpus = match (files, folders) {
        (Some(files), Some(folders)) => Some(format!("{files} ({folders})")),
        (files, folders) => files.or(folders),
    };
    let tokens = data["tokens"].as_u64().map(|tokens| format!("{:.1} M tokens", tokens as f64 / 1e6));
    let epochs = training["epochs"].as_u64().map(|epochs| format!("{epochs} epochs"));
    let parts: Vec<String> = [corpus, tokens, epochs].into_iter().flatten().collect();
    if parts.is_empty() {
        "not recorded in the file".to_string()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_model_describes_its_training_data_and_validation_loss() {
        let summary = describe_model("").expect("the embedded default loads");
        assert_eq!(summary.name, DEFAULT_MODEL_NAME);
        assert!(summary.trained_on.contains("music21_bach") && summary.trained_on.contains("files"), "{}", summary.trained_on);
        assert!(summary.valid_nll_per_token.is_some_and(|nll| nll > 0.0 && nll < 5.0));
    }

    #[test]
    fn a_good_file_is_chosen_and_a_bad_one_refused_leaving_the_choice_as_it_was() {
        let folder = tempfile::tempdir().unwrap();
        let good = folder.path().join("mine.safetensors");
        std::fs::write(&good, super::super::worker::DEFAULT_MODEL_BYTES).unwrap();
        let bad = folder.path().join("broken.safetensors");
        std::fs::write(&bad, b"not a model").unwrap();
        let chosen = RwLock::new(String::new());
        let good_path = good.to_str().unwrap();
        let summary = choose_model(&chosen, good_path).expect("a valid file is taken");
        assert_eq!((summary.name.as_str(), chosen.read().unwrap().as_str()), ("mine.safetensors", good_path));
        let error = choose_model(&chosen, bad.to_str().unwrap()).expect_err("a broken file is refused");
        assert!(error.to_string().contains("broken.safetensors"), "the error names the file: {error}");
        assert_eq!(chosen.read().unwrap().as_str(), good_path, "the model running stays chosen");
        choose_model(&chosen, "").expect("the default is always there");
        assert_eq!(chosen.read().unwrap().as_str(), "");
    }

    #[test]
    fn training_metadata_without_known_fields_says_so() {
        assert_eq!(trained_on(&Value::Null), "not recorded in the file");
    }
}
