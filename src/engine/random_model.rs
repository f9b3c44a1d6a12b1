//! Random-weight WaveNet model files, for tests, benches and trying the tools before a trained
//! model exists.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::model::{dense_layers, names, plain_tensors, Architecture, ModelFile, ModelMeta, StoredTensor, WaveNetConfig};
use crate::tokens::VOCAB_SIZE;

/// An f32 WaveNet with uniform random weights scaled by `1/sqrt(fan_in)` (so activations keep a
/// unit scale through the layers), the same for the same seed.
pub fn random_wavenet(config: WaveNetConfig, seed: u64) -> ModelFile {
    let architecture = Architecture::WaveNet(config);
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut uniform = |count: usize, bound: f32| -> Vec<f32> { (0..count).map(|_| rng.random_range(-bound..bound)).collect() };
    let mut tensors = BTreeMap::new();
    for (name, shape) in plain_tensors(&architecture, VOCAB_SIZE) {
        let values = uniform(shape.iter().product(), 1.0);
        tensors.insert(name, StoredTensor::f32(shape, values));
    }
    for layer in dense_layers(&architecture, VOCAB_SIZE) {
        let bound = (3.0 / layer.inputs as f32).sqrt();
        let weights = uniform(layer.outputs * layer.inputs, bound);
        tensors.insert(names::weight(&layer.prefix), StoredTensor::f32(vec![layer.outputs, layer.inputs], weights));
        tensors.insert(names::bias(&layer.prefix), StoredTensor::f32(vec![layer.outputs], uniform(layer.outputs, 0.1)));
    }
    let training = serde_json::json!({ "random_weights_seed": seed });
    ModelFile { meta: ModelMeta::new(architecture, training), tensors }
}
