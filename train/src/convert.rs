//! burn tensors <-> the model file's stored tensors. burn's `Linear` keeps its weight as
//! `[in, out]`; the file stores `[out, in]` row-major (the layout the engine reads), so every
//! matrix is transposed on the way out and back in.

use std::collections::BTreeMap;

use anyhow::{anyhow, Context, Result};
use burn::module::{Param, ParamId};
use burn::nn::Linear;
use burn::prelude::*;
use continuo::model::{names, ModelFile, StoredTensor};

/// The tensors being written to a model file.
pub type TensorMap = BTreeMap<String, StoredTensor>;

/// The values of a float tensor, row-major.
pub fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_into_vec::<f32>().expect("float tensor data")
}

/// Stores a tensor under `name` as it is.
pub fn store_plain<const D: usize>(tensors: &mut TensorMap, name: &str, tensor: Tensor<D>) {
    let shape = tensor.dims().to_vec();
    tensors.insert(name.to_string(), StoredTensor::f32(shape, values(tensor)));
}

/// Stores a burn `[in, out]` matrix as `[out, in]`.
pub fn store_matrix(tensors: &mut TensorMap, name: &str, weight: Tensor<2>) {
    store_plain(tensors, name, weight.transpose());
}

/// Stores a `Linear` as `<prefix>.weight` `[out, in]` and `<prefix>.bias` (zeros if it has none).
pub fn store_linear(tensors: &mut TensorMap, prefix: &str, linear: &Linear) {
    let weight = linear.weight.val();
    let [_, outputs] = weight.dims();
    store_matrix(tensors, &names::weight(prefix), weight.clone());
    let bias = match &linear.bias {
        Some(bias) => bias.val(),
        None => Tensor::zeros([outputs], &weight.device()),
    };
    store_plain(tensors, &names::bias(prefix), bias);
}

/// An f32 tensor of the file, with its shape.
fn stored<'a>(model: &'a ModelFile, name: &str) -> Result<(&'a [usize], &'a [f32])> {
    let tensor = model.tensors.get(name).ok_or_else(|| anyhow!("tensor {name} is missing"))?;
    let values = model.f32(name).ok_or_else(|| anyhow!("tensor {name} is not f32 (an int8 model cannot be trained)"))?;
    Ok((&tensor.shape, values))
}

/// A trainable parameter with an id derived from its tensor name, so a network rebuilt from a
/// checkpoint finds its optimizer state again (burn keys Adam's moments by parameter id).
fn named_param<const D: usize>(name: &str, data: TensorData, device: &Device) -> Param<Tensor<D>> {
    let id = ParamId::from(continuo::corpus::fnv1a(name.as_bytes()));
    Param::initialized(id, Param::<Tensor<D>>::from_data(data, device).val())
}

/// A trainable parameter holding a stored tensor as it is.
pub fn load_plain<const D: usize>(model: &ModelFile, name: &str, device: &Device) -> Result<Param<Tensor<D>>> {
    let (shape, values) = stored(model, name)?;
    let dims: [usize; D] = shape.try_into().with_context(|| format!("tensor {name} has rank {}", shape.len()))?;
    Ok(named_param(name, TensorData::new(values.to_vec(), dims), device))
}

/// A trainable parameter holding the sum of two stored tensors of the same shape (summed as
/// plain numbers, so no autodiff graph node outlives the first step).
pub fn load_summed<const D: usize>(model: &ModelFile, name: &str, other: &str, device: &Device) -> Result<Param<Tensor<D>>> {
    let (shape, values) = stored(model, name)?;
    let (other_shape, other_values) = stored(model, other)?;
    anyhow::ensure!(shape == other_shape, "tensors {name} and {other} differ in shape");
    let dims: [usize; D] = shape.try_into().with_context(|| format!("tensor {name} has rank {}", shape.len()))?;
    let sum: Vec<f32> = values.iter().zip(other_values).map(|(a, b)| a + b).collect();
    Ok(named_param(name, TensorData::new(sum, dims), device))
}

/// A trainable `[in, out]` parameter from a stored `[out, in]` matrix.
pub fn load_matrix(model: &ModelFile, name: &str, device: &Device) -> Result<Param<Tensor<2>>> {
    let (shape, values) = stored(model, name)?;
    let &[outputs, inputs] = shape else { anyhow::bail!("tensor {name} is not a matrix") };
    let mut transposed = vec![0.0f32; values.len()];
    for row in 0..outputs {
        for column in 0..inputs {
            transposed[column * outputs + row] = values[row * inputs + column];
        }
    }
    Ok(named_param(name, TensorData::new(transposed, [inputs, outputs]), device))
}

/// A `Linear` from `<prefix>.weight` and `<prefix>.bias`.
pub fn load_linear(model: &ModelFile, prefix: &str, device: &Device) -> Result<Linear> {
    Ok(Linear {
        weight: load_matrix(model, &names::weight(prefix), device)?,
        bias: Some(load_plain(model, &names::bias(prefix), device)?),
    })
}
