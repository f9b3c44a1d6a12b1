//! The fused flex ops (gate, dense, taps) against the same maths composed from plain burn ops:
//! values and gradients, through autodiff.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use burn::tensor::Distribution;
use burn::tensor::activation::log_softmax;
use continuo_train::fused::{cross_entropy, dense, dense_onto, gate, taps};

fn device() -> Device {
    Device::flex().autodiff()
}

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Uniform(-2.0, 2.0), device).require_grad()
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32 data")
}

fn assert_close(what: &str, fused: Vec<f32>, reference: Vec<f32>) {
    assert_close_summing(what, fused, reference, 1);
}

/// As [`assert_close`] for values that each sum `terms` products: f32 rounding grows with the
/// length of the sum and depends on its order, which differs between the fused gemm and burn's
/// matmul (a weight gradient sums over every row of the batch). A wrong op is off by far more.
fn assert_close_summing(what: &str, fused: Vec<f32>, reference: Vec<f32>, terms: usize) {
    assert_eq!(fused.len(), reference.len(), "{what}: lengths");
    let tolerance = 1e-5 * (terms as f32).sqrt();
    for (index, (a, b)) in fused.iter().zip(&reference).enumerate() {
        assert!((a - b).abs() <= tolerance * (1.0 + b.abs()), "{what}[{index}]: fused {a} vs composed {b}");
    }
}

/// Rows of the dense tests' batches: what a weight or bias gradient sums over.
const DENSE_ROWS: usize = 2 * 300;

/// Sums `out` against fixed random weights, so every output element gets its own gradient.
fn weighted_sum<const D: usize>(out: Tensor<D>, weights: &Tensor<D>) -> Tensor<1> {
    (out * weights.clone()).sum()
}

#[test]
fn the_fused_gate_matches_tanh_times_sigmoid_with_gradients() {
    let device = device();
    let h = random([3, 5, 8], &device);
    let weights = Tensor::random([3, 5, 4], Distribution::Uniform(-1.0, 1.0), &device);
    let composed = |h: Tensor<3>| h.clone().narrow(2, 0, 4).tanh() * sigmoid(h.narrow(2, 4, 4));
    let fused_out = gate(h.clone());
    let reference_out = composed(h.clone());
    assert_close("gate", values(fused_out.clone()), values(reference_out.clone()));
    let fused_grad = h.grad(&weighted_sum(fused_out, &weights).backward()).expect("h has a gradient");
    let reference_grad = h.grad(&weighted_sum(reference_out, &weights).backward()).expect("h has a gradient");
    assert_close("d gate / d h", values(fused_grad), values(reference_grad));
}

#[test]
fn the_fused_dense_layer_matches_matmul_plus_bias_with_gradients() {
    let device = device();
    let (x, w, b) = (random([2, 300, 6], &device), random([6, 5], &device), random([5], &device));
    let weights = Tensor::random([2, 300, 5], Distribution::Uniform(-1.0, 1.0), &device);
    let fused_out = dense(x.clone(), w.clone(), b.clone());
    let reference_out = x.clone().matmul(w.clone().unsqueeze::<3>()) + b.clone().unsqueeze::<3>();
    assert_close("dense", values(fused_out.clone()), values(reference_out.clone()));
    let fused = weighted_sum(fused_out, &weights).backward();
    let reference = weighted_sum(reference_out, &weights).backward();
    assert_close("d dense / d x", values(x.grad(&fused).unwrap()), values(x.grad(&reference).unwrap()));
    assert_close_summing("d dense / d w", values(w.grad(&fused).unwrap()), values(w.grad(&reference).unwrap()), DENSE_ROWS);
    assert_close_summing("d dense / d b", values(b.grad(&fused).unwrap()), values(b.grad(&reference).unwrap()), DENSE_ROWS);
}

#[test]
fn the_fused_taps_match_a_causal_shift_and_concatenation_with_gradients() {
    let device = device();
    for dilation in [1, 3, 7, 9] {
        let x = random([2, 7, 3], &device);
        let weights = Tensor::random([2, 7, 6], Distribution::Uniform(-1.0, 1.0), &device);
        let shifted = match dilation >= 7 {
            true => Tensor::zeros([2, 7, 3], &device),
            false => Tensor::cat(vec![Tensor::zeros([2, dilation, 3], &device), x.clone().narrow(1, 0, 7 - dilation)], 1),
        };
        let reference_out = Tensor::cat(vec![shifted, x.clone()], 2);
        let fused_out = taps(x.clone(), dilation);
        assert_close(&format!("taps d={dilation}"), values(fused_out.clone()), values(reference_out.clone()));
        let fused_grad = x.grad(&weighted_sum(fused_out, &weights).backward()).unwrap();
        let reference_grad = x.grad(&weighted_sum(reference_out, &weights).backward()).unwrap();
        assert_close(&format!("d taps / d x, d={dilation}"), values(fused_grad), values(reference_grad));
    }
}

#[test]
fn the_fused_dense_layer_onto_a_sum_matches_sum_plus_dense_with_gradients() {
    let device = device();
    let (sum, x, w, b) = (random([2, 300, 5], &device), random([2, 300, 6], &device), random([6, 5], &device), random([5], &device));
    let weights = Tensor::random([2, 300, 5], Distribution::Uniform(-1.0, 1.0), &device);
    // `sum` is used again after the fused op, so the op must not write into its buffer.
    let fused_out = dense_onto(sum.clone(), x.clone(), w.clone(), b.clone());
    let reference_out = sum.clone() + x.clone().matmul(w.clone().unsqueeze::<3>()) + b.clone().unsqueeze::<3>();
    assert_close("dense_onto", values(fused_out.clone()), values(reference_out.clone()));
    let fused = (weighted_sum(fused_out, &weights) + sum.clone().sum()).backward();
    let reference = (weighted_sum(reference_out, &weights) + sum.clone().sum()).backward();
    for (name, tensor) in [("sum", &sum), ("x", &x)] {
        assert_close(&format!("d dense_onto / d {name}"), values(tensor.grad(&fused).unwrap()), values(tensor.grad(&reference).unwrap()));
    }
    assert_close_summing("d dense_onto / d w", values(w.grad(&fused).unwrap()), values(w.grad(&reference).unwrap()), DENSE_ROWS);
    assert_close_summing("d dense_onto / d b", values(b.grad(&fused).unwrap()), values(b.grad(&reference).unwrap()), DENSE_ROWS);
}

#[test]
fn the_fused_cross_entropy_matches_log_softmax_and_gather_with_gradients() {
    let device = device();
    let logits = Tensor::<2>::random([40, 307], Distribution::Uniform(-8.0, 8.0), &device).require_grad();
    let targets = Tensor::<2, Int>::from_data(TensorData::new((0..40).map(|row| (row * 37 % 307) as i64).collect::<Vec<_>>(), [40, 1]), &device);
    // Padding rows weigh 0 and must get no gradient.
    let weights = Tensor::<2>::from_data(TensorData::new((0..40).map(|row| if row % 7 == 6 { 0.0f32 } else { 1.0 }).collect::<Vec<_>>(), [40, 1]), &device);
    let fused_out = cross_entropy(logits.clone(), targets.clone(), weights.clone());
    let reference_out = log_softmax(logits.clone(), 1).gather(1, targets).neg() * weights;
    assert_close("cross_entropy", values(fused_out.clone()), values(reference_out.clone()));
    let fused_grad = logits.grad(&fused_out.sum().backward()).unwrap();
    let reference_grad = logits.grad(&reference_out.sum().backward()).unwrap();
    assert_close("d cross_entropy / d logits", values(fused_grad), values(reference_grad));
}
