//! Polyak averaging: an exponential moving average of the weights over the optimizer's steps.
//! On a small corpus the average generalises better than the last step's weights, so when it is
//! on, validation, the best checkpoint and the exported model all use it.

use anyhow::Result;
use burn::prelude::*;
use continuo::model::{ModelFile, TensorData};

use crate::network::Network;

/// The running average of a network's weights, in the model file's layout.
pub struct WeightAverage {
    /// Weight of the old average at each step, once warmed up (e.g. 0.999).
    decay: f64,
    /// Steps averaged so far: early steps weigh more (`decay` ramps up as `(1 + n) / (10 + n)`),
    /// so the average is not dominated by the random initial weights.
    steps: u64,
    /// The averaged weights.
    model: ModelFile,
}

impl WeightAverage {
    /// Starts the average at `network`'s weights, `steps` steps into training.
    pub fn new(decay: f64, network: &Network, steps: u64) -> Self {
        Self { decay, steps, model: network.to_model_file(serde_json::Value::Null, None) }
    }

    /// Resumes an average saved with [`WeightAverage::model`].
    pub fn resume(decay: f64, model: ModelFile, steps: u64) -> Self {
        Self { decay, steps, model }
    }

    /// Folds the weights after one more optimizer step into the average.
    pub fn update(&mut self, network: &Network) {
        self.steps += 1;
        let decay = self.decay.min((1 + self.steps) as f64 / (10 + self.steps) as f64) as f32;
        let current = network.to_model_file(serde_json::Value::Null, None);
        for (name, average) in self.model.tensors.iter_mut() {
            match (&mut average.data, &current.tensors[name].data) {
                (TensorData::F32(average), TensorData::F32(weights)) => {
                    average.iter_mut().zip(weights).for_each(|(average, &weight)| *average = decay * *average + (1.0 - decay) * weight);
                }
                _ => unreachable!("training weights are f32"),
            }
        }
    }

    /// The averaged weights as a model file.
    pub fn model(&self) -> &ModelFile {
        &self.model
    }

    /// The averaged network on `device`.
    pub fn network(&self, device: &Device) -> Result<Network> {
        Network::from_model_file(&self.model, device)
    }
}
