//! A 1x1 (dense) layer, f32 or int8, and the activation vectors it reads.

use std::sync::Arc;

use super::kernels::{padded_len, Int8Matrix, Kernel, QuantizedInput, Write};
use crate::model::{names, ModelFile, Precision};

/// An input vector of a dense layer: f32 values padded with zeros to the kernels' row chunk
/// and, in an int8 engine, their dynamic int8 quantization (made once, read by every layer
/// that takes this vector).
#[derive(Clone, Debug)]
pub struct Activations {
    /// The real values, then zero padding.
    values: Vec<f32>,
    /// How many of `values` are real.
    len: usize,
    /// Int8 copy of `values` (int8 engines only; empty otherwise).
    quantized: Vec<i8>,
    /// Real value of one step of `quantized`.
    scale: f32,
    /// The instruction set that quantizes it.
    kernel: Kernel,
}

impl Activations {
    /// A zero vector of `len` values for an engine of the given precision.
    pub fn new(len: usize, precision: Precision, kernel: Kernel) -> Self {
        let padded = padded_len(len);
        let quantized = match precision {
            Precision::F32 => Vec::new(),
            Precision::Int8 => vec![0; padded],
        };
        Self { values: vec![0.0; padded], len, quantized, scale: 0.0, kernel }
    }

    /// The real values.
    pub fn values(&self) -> &[f32] {
        &self.values[..self.len]
    }

    /// The values, to be written before [`Activations::finish`].
    pub fn values_mut(&mut self) -> &mut [f32] {
        &mut self.values[..self.len]
    }

    /// Makes the vector ready for the dense layers after its values changed (quantizes it in an
    /// int8 engine).
    pub fn finish(&mut self) {
        if !self.quantized.is_empty() {
            self.scale = self.kernel.quantize_input(&self.values, &mut self.quantized);
        }
    }
}

/// The matrix of a dense layer (or the copy head's ring of keys), rows padded to the kernels'
/// chunk.
#[derive(Clone, Debug)]
pub enum Matrix {
    /// `rows x padded_cols` f32.
    F32(Vec<f32>),
    /// Symmetric int8 with per-row scales, laid out for the layer's kernel.
    Int8(Int8Matrix),
}

impl Matrix {
    /// `rows` zero rows of `cols` values (whole row chunks) in `precision`, laid out for `kernel`.
    pub fn zeros(rows: usize, cols: usize, precision: Precision, kernel: Kernel) -> Self {
        match precision {
            Precision::F32 => Matrix::F32(vec![0.0; rows * cols]),
            Precision::Int8 => Matrix::Int8(kernel.pack_i8(&vec![0; rows * cols], &vec![0.0; rows], cols)),
        }
    }

    /// Overwrites row `row` with `values` (a whole padded row): as they are in f32, quantized with
    /// one scale through `scratch` (as long as `values`) in int8.
    pub fn set_row(&mut self, kernel: Kernel, row: usize, values: &[f32], scratch: &mut [i8]) {
        match self {
            Matrix::F32(matrix) => matrix[row * values.len()..][..values.len()].copy_from_slice(values),
            Matrix::Int8(matrix) => {
                let scale = kernel.quantize(values, scratch);
                matrix.set_row(row, scratch, scale);
            }
        }
    }

    /// `out (=|+=) M x + bias`, in the matrix's precision, with `kernel` (the one it was laid
    /// out for).
    pub fn product(&self, kernel: Kernel, input: &Activations, bias: &[f32], out: &mut [f32], write: Write) {
        match self {
            Matrix::F32(values) => kernel.matvec_f32(values, &input.values, bias, out, write),
            Matrix::Int8(matrix) => {
                debug_assert!(!input.quantized.is_empty(), "int8 layers read int8 activations");
                let quantized = QuantizedInput { values: &input.quantized, scale: input.scale };
                kernel.matvec_i8(matrix, quantized, bias, out, write)
            }
        }
    }
}

/// What a dense layer learned: never changes after load.
#[derive(Debug)]
struct Parameters {
    /// The matrix.
    weights: Matrix,
    /// One bias per output.
    bias: Vec<f32>,
}

/// `out = W x + b`, `W` being `[outputs, inputs]`.
#[derive(Clone, Debug)]
pub struct Dense {
    /// The matrix and biases, shared by every clone of the engine: a clone (one per answer)
    /// copies only the engine's state.
    parameters: Arc<Parameters>,
    /// The instruction set the products use.
    kernel: Kernel,
}

impl Dense {
    /// Loads `<prefix>.weight` (+ `.weight_scale` for int8) and `<prefix>.bias` from a validated
    /// model file.
    pub fn from_model(model: &ModelFile, prefix: &str, kernel: Kernel) -> Self {
        let weight_name = names::weight(prefix);
        let shape = &model.tensors[&weight_name].shape;
        let (rows, cols) = (shape[0], shape[1]);
        let bias = model.f32(&names::bias(prefix)).expect("validated model has every bias").to_vec();
        let weights = match model.meta.precision {
            Precision::F32 => Matrix::F32(pad_rows(model.f32(&weight_name).expect("validated f32 weight"), rows, cols)),
            Precision::Int8 => Matrix::Int8(kernel.pack_i8(
                &pad_rows(model.i8(&weight_name).expect("validated int8 weight"), rows, cols),
                model.f32(&names::weight_scale(prefix)).expect("validated scale"),
                padded_len(cols),
            )),
        };
        Self { parameters: Arc::new(Parameters { weights, bias }), kernel }
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.parameters.bias.len()
    }

    /// `out = W x + b`.
    pub fn forward(&self, input: &Activations, out: &mut [f32]) {
        self.product(input, out, Write::Set);
    }

    /// `out += W x + b`.
    pub fn forward_add(&self, input: &Activations, out: &mut [f32]) {
        self.product(input, out, Write::Add);
    }

    /// Bytes of weights (and scales) one product reads.
    pub fn weight_bytes(&self) -> usize {
        match &self.parameters.weights {
            Matrix::F32(values) => values.len() * 4,
            Matrix::Int8(matrix) => matrix.bytes(),
        }
    }

    fn product(&self, input: &Activations, out: &mut [f32], write: Write) {
        let Parameters { weights, bias } = &*self.parameters;
        weights.product(self.kernel, input, bias, out, write)
    }
}

/// Copies `[rows, cols]` values into rows padded with zeros to the kernels' chunk.
fn pad_rows<T: Copy + Default>(values: &[T], rows: usize, cols: usize) -> Vec<T> {
    let padded_cols = padded_len(cols);
    let mut padded = vec![T::default(); rows * padded_cols];
    for (to, from) in padded.chunks_exact_mut(padded_cols).zip(values.chunks_exact(cols)) {
        to[..cols].copy_from_slice(from);
    }
    padded
}
