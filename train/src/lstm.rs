//! The LSTM baseline: embedding, stacked LSTM layers, a linear head. Same data, vocabulary and
//! loss as the WaveNet, so the two can be compared. Gates in the order i, f, g, o.

use anyhow::Result;
use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, tanh};
use burn::tensor::module::embedding;
use continuo::model::{names, Architecture, LstmConfig, ModelFile};

use crate::convert::{load_linear, load_matrix, load_plain, load_summed, store_linear, store_matrix, store_plain, TensorMap};

/// One LSTM layer.
#[derive(Module, Debug)]
pub struct LstmLayer {
    /// Input -> the four gates, with the gates' bias.
    pub input: Linear,
    /// Hidden state -> the four gates (`[H, 4H]`, no bias: the input carries it).
    pub hidden: Param<Tensor<2>>,
}

/// The recurrent baseline.
#[derive(Module, Debug)]
pub struct Lstm {
    /// Token embedding, `[vocab, E]`.
    pub embedding: Param<Tensor<2>>,
    /// Stacked layers.
    pub layers: Vec<LstmLayer>,
    /// Last hidden state -> logits.
    pub output: Linear,
    /// The hyper-parameters (for export).
    #[module(skip)]
    pub config: LstmConfig,
}

impl LstmLayer {
    /// Runs the layer over `[B, T, in]` from a zero state; returns `[B, T, H]`.
    fn forward(&self, x: Tensor<3>, hidden_size: usize) -> Tensor<3> {
        let [batch, time, _] = x.dims();
        let device = x.device();
        let from_input = self.input.forward(x);
        let recurrent = self.hidden.val();
        let mut hidden = Tensor::<2>::zeros([batch, hidden_size], &device);
        let mut cell = Tensor::<2>::zeros([batch, hidden_size], &device);
        let mut outputs = Vec::with_capacity(time);
        for step in 0..time {
            let gates = from_input.clone().narrow(1, step, 1).reshape([batch, 4 * hidden_size])
                + hidden.matmul(recurrent.clone());
            let gate = |index: usize| gates.clone().narrow(1, index * hidden_size, hidden_size);
            let (input_gate, forget_gate) = (sigmoid(gate(0)), sigmoid(gate(1)));
            let (candidate, output_gate) = (tanh(gate(2)), sigmoid(gate(3)));
            cell = forget_gate * cell + input_gate * candidate;
            hidden = output_gate * tanh(cell.clone());
            outputs.push(hidden.clone().unsqueeze_dim(1));
        }
        Tensor::cat(outputs, 1)
    }
}

impl Lstm {
    /// Logits `[B, T, vocab]` for the token after each input, from the zero state.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let mut x = embedding(self.embedding.val(), tokens);
        for layer in &self.layers {
            x = layer.forward(x, self.config.hidden);
        }
        self.output.forward(x)
    }

    /// Builds the network from a model file's f32 tensors (a hidden-to-gates bias, always zero
    /// when this trainer wrote the file, is folded into the input's).
    pub fn from_model_file(config: LstmConfig, model: &ModelFile, device: &Device) -> Result<Self> {
        let layers = (0..config.layers)
            .map(|index| {
                let (input_prefix, hidden_prefix) = (names::lstm_input(index), names::lstm_hidden(index));
                let input = Linear {
                    weight: load_matrix(model, &names::weight(&input_prefix), device)?,
                    bias: Some(load_summed(model, &names::bias(&input_prefix), &names::bias(&hidden_prefix), device)?),
                };
                let hidden = load_matrix(model, &names::weight(&hidden_prefix), device)?;
                Ok(LstmLayer { input, hidden })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embedding: load_plain(model, names::EMBEDDING, device)?,
            layers,
            output: load_linear(model, names::HEAD_OUTPUT, device)?,
            config,
        })
    }

    /// The architecture, for the model file.
    pub fn architecture(&self) -> Architecture {
        Architecture::Lstm(self.config)
    }

    /// Writes every tensor in the file's layout.
    pub fn store(&self, tensors: &mut TensorMap) {
        store_plain(tensors, names::EMBEDDING, self.embedding.val());
        for (index, layer) in self.layers.iter().enumerate() {
            store_linear(tensors, &names::lstm_input(index), &layer.input);
            let prefix = names::lstm_hidden(index);
            let hidden = layer.hidden.val();
            let gates = hidden.dims()[1];
            store_plain(tensors, &names::bias(&prefix), Tensor::<1>::zeros([gates], &hidden.device()));
            store_matrix(tensors, &names::weight(&prefix), hidden);
        }
        store_linear(tensors, names::HEAD_OUTPUT, &self.output);
    }
}
