//! `cargo xtask init-model OUT.safetensors`: writes a random-weight WaveNet, the placeholder
//! embedded default until a trained model replaces it. The plugin, its tests and its benches
//! run the same code paths on it; its answers are random notes.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use continuo::model::{dense_layers, names, plain_tensors, Architecture, ModelFile, ModelMeta, StoredTensor, WaveNetConfig};
use continuo::tokens::VOCAB_SIZE;
use rand::{Rng, SeedableRng};

/// A small network: the placeholder only has to exercise the plugin, cheaply.
const PLACEHOLDER_CONFIG: WaveNetConfig =
    WaveNetConfig { residual_channels: 16, skip_channels: 32, stacks: 2, layers_per_stack: 6, conditioned: true };
/// Fixed, so the placeholder is reproducible.
const PLACEHOLDER_SEED: u64 = 2024;

/// Writes the placeholder model to `out`.
pub fn init_model(out: &Path) -> Result<()> {
    let architecture = Architecture::WaveNet(PLACEHOLDER_CONFIG);
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(PLACEHOLDER_SEED);
    // Uniform with the variance of Xavier/Glorot initialization for a layer of `inputs`.
    let mut uniform = |count: usize, inputs: usize| -> Vec<f32> {
        let limit = (3.0 / inputs as f32).sqrt();
        (0..count).map(|_| rng.random_range(-limit..limit)).collect()
    };
    let mut tensors = BTreeMap::new();
    for (name, shape) in plain_tensors(&architecture, VOCAB_SIZE) {
        let values = uniform(shape.iter().product(), shape[1]);
        tensors.insert(name, StoredTensor::f32(shape, values));
    }
    for layer in dense_layers(&architecture, VOCAB_SIZE) {
        let weights = uniform(layer.outputs * layer.inputs, layer.inputs);
        tensors.insert(names::weight(&layer.prefix), StoredTensor::f32(vec![layer.outputs, layer.inputs], weights));
        tensors.insert(names::bias(&layer.prefix), StoredTensor::f32(vec![layer.outputs], vec![0.0; layer.outputs]));
    }
    let training = serde_json::json!({ "placeholder": "random weights from `cargo xtask init-model`, not trained" });
    let model = ModelFile { meta: ModelMeta::new(architecture, training), tensors };
    ModelFile::from_bytes(&model.to_bytes(), "placeholder").context("the placeholder validates")?;
    model.save(out).with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote a random-weight placeholder model to {}", out.display());
    Ok(())
}
