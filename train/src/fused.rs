//! Fused training ops: a burn backend extension whose flex implementation does each WaveNet
//! building block in one pass (the gate with the inference engine's own vectorised kernels, the
//! dense layers as one gemm with the bias folded in, the causal taps as one copy), with
//! hand-written backwards for autodiff.
//!
//! Why: composed from burn ops, the gate `tanh(f) * sigmoid(g)` is a dozen element-wise passes
//! forward and backward, each with a scalar libm `expf`; a `Linear` is a zeroed, then copied
//! matmul output plus a separate bias pass; the causal taps `[x[t - d], x[t]]` are two
//! concatenations and their slicing backward. Those passes, not the matrix products, took most
//! of a training step on flex (`perf`, BENCHMARKS.md). The trait's default bodies compose the same
//! maths from ordinary backend ops: other backends (wgpu) use them, and the tests hold the fused
//! versions to the composed ones.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, Slice, TensorMetadata};
use burn::prelude::*;
use burn::tensor::{Bytes, DType, IndexingUpdateOp, Shape};
use continuo::engine::Kernel;
use rayon::prelude::*;

/// Rows handed to one rayon task by the row-wise kernels: large enough to amortise the task,
/// small enough to split a batch over every core.
const ROWS_PER_TASK: usize = 256;

/// Below this many multiply-adds a matrix product runs on the calling thread (as flex does).
const PARALLEL_GEMM_MACS: usize = 1 << 18;

/// Ops the WaveNet trains with, fused where a backend has a fast version.
#[backend_extension(Flex, Autodiff, Cube: cfg(feature = "wgpu"))]
pub trait FusedOps: Backend {
    /// `tanh(h[.., :C]) * sigmoid(h[.., C:])` over the last dimension (`2C` wide).
    fn gate(h: FloatTensor<Self>) -> FloatTensor<Self> {
        let (filter, gate) = halves::<Self>(h);
        Self::float_mul(Self::float_tanh(filter), Self::sigmoid(gate))
    }

    /// The gradient of `h` from the gradient of `gate(h)`.
    fn gate_backward(h: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let (filter, gate) = halves::<Self>(h);
        let (t, s) = (Self::float_tanh(filter), Self::sigmoid(gate));
        let one_minus = |x: FloatTensor<Self>| Self::float_add_scalar(Self::float_neg(x), 1.0.into());
        let filter_grad = Self::float_mul(Self::float_mul(grad.clone(), s.clone()), one_minus(Self::float_mul(t.clone(), t.clone())));
        let gate_grad = Self::float_mul(Self::float_mul(grad, t), Self::float_mul(s.clone(), one_minus(s)));
        let last = filter_grad.shape().num_dims() - 1;
        Self::float_cat(vec![filter_grad, gate_grad], last)
    }

    /// `x · w + b` over the last dimension of `x` (`[.., K]`, `w` `[K, M]`, `b` `[M]`).
    fn dense(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        let (rows, shape) = as_matrix::<Self>(&x);
        let out = Self::float_add(Self::float_matmul(Self::float_reshape(x, rows), w), Self::float_reshape(b.clone(), Shape::new([1, b.shape()[0]])));
        let mut out_shape = shape;
        let last = out_shape.num_dims() - 1;
        out_shape[last] = out.shape()[1];
        Self::float_reshape(out, out_shape)
    }

    /// `acc + x · w + b`: a dense layer added onto a running sum (the residual stream, the skip
    /// sum) in the same pass.
    fn dense_onto(acc: FloatTensor<Self>, x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_add(acc, Self::dense(x, w, b))
    }

    /// The gradient of `dense`'s input: `grad · wᵀ`.
    fn dense_input_grad(w: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let (rows, shape) = as_matrix::<Self>(&grad);
        let out = Self::float_matmul(Self::float_reshape(grad, rows), Self::float_transpose(w.clone()));
        let mut out_shape = shape;
        let last = out_shape.num_dims() - 1;
        out_shape[last] = w.shape()[0];
        Self::float_reshape(out, out_shape)
    }

    /// The gradient of `dense`'s weight: `xᵀ · grad` over every row.
    fn dense_weight_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let (x_rows, _) = as_matrix::<Self>(&x);
        let (grad_rows, _) = as_matrix::<Self>(&grad);
        Self::float_matmul(Self::float_transpose(Self::float_reshape(x, x_rows)), Self::float_reshape(grad, grad_rows))
    }

    /// The gradient of `dense`'s bias: `grad` summed over every row.
    fn dense_bias_grad(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let (rows, _) = as_matrix::<Self>(&grad);
        let width = rows[1];
        Self::float_reshape(Self::float_sum_dim(Self::float_reshape(grad, rows), 0), Shape::new([width]))
    }

    /// The next-token loss of each row of `logits` (`[N, V]`): `weights[n] * -log softmax(logits[n])[targets[n]]`
    /// (`targets` and `weights` `[N, 1]`; the result `[N, 1]`).
    fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>, weights: FloatTensor<Self>) -> FloatTensor<Self> {
        let picked = Self::float_gather(1, Self::log_softmax(logits, 1), targets);
        Self::float_neg(Self::float_mul(picked, weights))
    }

    /// The gradient of `logits` from the gradient of `cross_entropy`: `grad[n] * weights[n] *
    /// (softmax(logits[n]) - onehot(targets[n]))`.
    fn cross_entropy_backward(logits: FloatTensor<Self>, targets: IntTensor<Self>, weights: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let scale = Self::float_mul(grad, weights);
        let rows = Shape::new([logits.shape()[0], 1]);
        let ones = Self::float_ones(rows, &logits.device(), logits.dtype().into());
        let zeros = Self::float_zeros(logits.shape(), &logits.device(), logits.dtype().into());
        let onehot = Self::float_scatter(1, zeros, targets, ones, IndexingUpdateOp::Add);
        Self::float_mul(Self::float_sub(Self::softmax(logits, 1), onehot), scale)
    }

    /// The causal kernel-2 taps of `x` (`[B, T, C]`): `[x[t - dilation], x[t]]` (`[B, T, 2C]`),
    /// zeros before the start.
    fn taps(x: FloatTensor<Self>, dilation: usize) -> FloatTensor<Self> {
        let shape = x.shape();
        let (time, channels) = (shape[1], shape[2]);
        let zeros = Self::float_zeros(Shape::new([shape[0], dilation.min(time), channels]), &x.device(), x.dtype().into());
        let delayed = match dilation >= time {
            true => zeros,
            false => Self::float_cat(vec![zeros, Self::float_slice(x.clone(), &[Slice::from(..), Slice::from(0..time - dilation), Slice::from(..)])], 1),
        };
        Self::float_cat(vec![delayed, x], 2)
    }

    /// The gradient of `x` from the gradient of `taps(x, dilation)`.
    fn taps_backward(grad: FloatTensor<Self>, dilation: usize) -> FloatTensor<Self> {
        let shape = grad.shape();
        let (time, channels) = (shape[1], shape[2] / 2);
        let current = Self::float_slice(grad.clone(), &[Slice::from(..), Slice::from(..), Slice::from(channels..)]);
        if dilation >= time {
            return current;
        }
        let later = Self::float_slice(grad, &[Slice::from(..), Slice::from(dilation..), Slice::from(0..channels)]);
        let zeros = Self::float_zeros(Shape::new([shape[0], dilation, channels]), &later.device(), later.dtype().into());
        Self::float_add(current, Self::float_cat(vec![later, zeros], 1))
    }
}

/// GPUs (wgpu) train with the composed default bodies.
#[cfg(feature = "wgpu")]
impl FusedOps for burn::backend::Cube {}

/// The two halves of the last dimension.
fn halves<B: Backend>(h: FloatTensor<B>) -> (FloatTensor<B>, FloatTensor<B>) {
    let shape = h.shape();
    let last = shape.num_dims() - 1;
    let channels = shape[last] / 2;
    let half = |start: usize| {
        let slices: Vec<Slice> =
            (0..=last).map(|dim| if dim == last { Slice::from(start..start + channels) } else { Slice::from(..) }).collect();
        B::float_slice(h.clone(), &slices)
    };
    (half(0), half(channels))
}

/// The `[rows, last]` matrix shape of a tensor, and its own shape.
fn as_matrix<B: Backend>(x: &FloatTensor<B>) -> (Shape, Shape) {
    let shape = x.shape();
    let last = shape[shape.num_dims() - 1];
    (Shape::new([shape.num_elements() / last.max(1), last]), shape)
}

impl FusedOps for Flex {
    fn gate(h: FlexTensor) -> FlexTensor {
        let (input, shape) = f32_values(&h, "gate");
        let channels = half_width(&shape);
        let kernel = Kernel::detect();
        let mut out = vec![0.0f32; input.len() / 2];
        let task = channels * ROWS_PER_TASK;
        out.par_chunks_mut(task).zip(input.par_chunks(2 * task)).for_each(|(out, input)| {
            for (out, row) in out.chunks_exact_mut(channels).zip(input.chunks_exact(2 * channels)) {
                let (filter, gate) = row.split_at(channels);
                kernel.gate(filter, gate, out);
            }
        });
        f32_tensor(out, with_last(shape, channels))
    }

    fn gate_backward(h: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let (input, shape) = f32_values(&h, "gate_backward");
        let (grad, _) = f32_values(&grad, "gate_backward");
        let channels = half_width(&shape);
        assert_eq!(grad.len() * 2, input.len(), "gate_backward: the gradient is half as wide as the input");
        let kernel = Kernel::detect();
        let mut out = vec![0.0f32; input.len()];
        let task = 2 * channels * ROWS_PER_TASK;
        out.par_chunks_mut(task).zip(input.par_chunks(task)).zip(grad.par_chunks(task / 2)).for_each(|((out, input), grad)| {
            let rows = out.chunks_exact_mut(2 * channels).zip(input.chunks_exact(2 * channels)).zip(grad.chunks_exact(channels));
            for ((out, row), grad) in rows {
                let (filter, gate) = row.split_at(channels);
                let (filter_grad, gate_grad) = out.split_at_mut(channels);
                kernel.gate_backward(filter, gate, grad, filter_grad, gate_grad);
            }
        });
        f32_tensor(out, shape)
    }

    fn dense(x: FlexTensor, w: FlexTensor, b: FlexTensor) -> FlexTensor {
        let (x, shape) = f32_values(&x, "dense");
        let (w, w_shape) = f32_values(&w, "dense");
        let (b, _) = f32_values(&b, "dense");
        let rows = x.len() / w_shape[0];
        let mut out = Vec::with_capacity(rows * b.len());
        (0..rows).for_each(|_| out.extend_from_slice(&b));
        dense_product(&x, &w, &w_shape).accumulate_into(&mut out);
        f32_tensor(out, with_last(shape, b.len()))
    }

    fn dense_onto(mut acc: FlexTensor, x: FlexTensor, w: FlexTensor, b: FlexTensor) -> FlexTensor {
        let (x, _) = f32_values(&x, "dense_onto");
        let (w, w_shape) = f32_values(&w, "dense_onto");
        let (b, _) = f32_values(&b, "dense_onto");
        assert_eq!(acc.dtype(), DType::F32, "dense_onto: the fused WaveNet ops train in f32");
        if !acc.is_contiguous() || acc.layout().start_offset() != 0 {
            acc = acc.to_contiguous();
        }
        // In place when nothing else holds the running sum (the usual case), else on a copy.
        let out = acc.storage_mut::<f32>();
        out.chunks_exact_mut(b.len()).for_each(|row| row.iter_mut().zip(b.iter()).for_each(|(out, b)| *out += b));
        dense_product(&x, &w, &w_shape).accumulate_into(out);
        acc
    }

    fn dense_input_grad(w: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let (w, w_shape) = f32_values(&w, "dense_input_grad");
        let (grad, shape) = f32_values(&grad, "dense_input_grad");
        let (inputs, outputs) = (w_shape[0], w_shape[1]);
        let rows = grad.len() / outputs;
        let product = Matrix { rows, cols: outputs, values: &grad, transposed: false }.times(Matrix { rows: outputs, cols: inputs, values: &w, transposed: true });
        f32_tensor(product.into_new(), with_last(shape, inputs))
    }

    fn dense_weight_grad(x: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let (x, x_shape) = f32_values(&x, "dense_weight_grad");
        let (grad, grad_shape) = f32_values(&grad, "dense_weight_grad");
        let (inputs, outputs) = (last_dim(&x_shape), last_dim(&grad_shape));
        let rows = x.len() / inputs;
        let product = Matrix { rows: inputs, cols: rows, values: &x, transposed: true }.times(Matrix { rows, cols: outputs, values: &grad, transposed: false });
        f32_tensor(product.into_new(), Shape::new([inputs, outputs]))
    }

    fn dense_bias_grad(grad: FlexTensor) -> FlexTensor {
        let (grad, shape) = f32_values(&grad, "dense_bias_grad");
        let width = last_dim(&shape);
        let add = |mut sum: Vec<f32>, row: &[f32]| {
            sum.iter_mut().zip(row).for_each(|(sum, value)| *sum += value);
            sum
        };
        // Partial sums over fixed blocks of rows, added in order: the same bits whatever the
        // threads do, so training runs repeat exactly.
        let parts: Vec<Vec<f32>> =
            grad.par_chunks(width * ROWS_PER_TASK).map(|rows| rows.chunks_exact(width).fold(vec![0.0f32; width], add)).collect();
        let sums = parts.iter().fold(vec![0.0f32; width], |sum, part| add(sum, part));
        f32_tensor(sums, Shape::new([width]))
    }

    fn cross_entropy(logits: FlexTensor, targets: FlexTensor, weights: FlexTensor) -> FlexTensor {
        let (logits, shape) = f32_values(&logits, "cross_entropy");
        let (targets, weights) = (token_ids(&targets, "cross_entropy"), f32_values(&weights, "cross_entropy").0);
        let vocab = last_dim(&shape);
        let kernel = Kernel::detect();
        let mut out = vec![0.0f32; weights.len()];
        out.par_iter_mut().zip(logits.par_chunks(vocab)).zip(targets.par_iter().zip(weights.par_iter())).for_each(
            |((out, row), (&target, &weight))| {
                *out = weight * (log_sum_exp(kernel, row) - row[target]);
            },
        );
        f32_tensor(out, Shape::new([weights.len(), 1]))
    }

    fn cross_entropy_backward(logits: FlexTensor, targets: FlexTensor, weights: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let (logits, shape) = f32_values(&logits, "cross_entropy_backward");
        let (targets, weights) = (token_ids(&targets, "cross_entropy_backward"), f32_values(&weights, "cross_entropy_backward").0);
        let (grad, _) = f32_values(&grad, "cross_entropy_backward");
        let vocab = last_dim(&shape);
        let kernel = Kernel::detect();
        let mut out = vec![0.0f32; logits.len()];
        let rows = out.par_chunks_mut(vocab).zip(logits.par_chunks(vocab));
        rows.zip(targets.par_iter().zip(weights.par_iter().zip(grad.par_iter()))).for_each(|((out, row), (&target, (&weight, &grad)))| {
            let scale = grad * weight;
            kernel.scaled_exp(row, log_sum_exp(kernel, row), scale, out);
            out[target] -= scale;
        });
        f32_tensor(out, shape)
    }

    fn taps(x: FlexTensor, dilation: usize) -> FlexTensor {
        let (x, shape) = f32_values(&x, "taps");
        let (time, channels) = (shape[1], shape[2]);
        let mut out = vec![0.0f32; 2 * x.len()];
        out.par_chunks_mut(2 * time * channels).zip(x.par_chunks(time * channels)).for_each(|(out, x)| {
            for (t, out) in out.chunks_exact_mut(2 * channels).enumerate() {
                let (delayed, current) = out.split_at_mut(channels);
                current.copy_from_slice(&x[t * channels..(t + 1) * channels]);
                if t >= dilation {
                    delayed.copy_from_slice(&x[(t - dilation) * channels..(t - dilation + 1) * channels]);
                }
            }
        });
        f32_tensor(out, with_last(shape, 2 * channels))
    }

    fn taps_backward(grad: FlexTensor, dilation: usize) -> FlexTensor {
        let (grad, shape) = f32_values(&grad, "taps_backward");
        let (time, channels) = (shape[1], shape[2] / 2);
        let mut out = vec![0.0f32; grad.len() / 2];
        out.par_chunks_mut(time * channels).zip(grad.par_chunks(2 * time * channels)).for_each(|(out, grad)| {
            for (t, out) in out.chunks_exact_mut(channels).enumerate() {
                out.copy_from_slice(&grad[(2 * t + 1) * channels..(2 * t + 2) * channels]);
                if t + dilation < time {
                    let later = &grad[2 * (t + dilation) * channels..(2 * (t + dilation) + 1) * channels];
                    out.iter_mut().zip(later).for_each(|(out, later)| *out += later);
                }
            }
        });
        f32_tensor(out, with_last(shape, channels))
    }
}

/// `x · w` for `x` `[rows, K]` and `w` `[K, M]`, both row-major.
fn dense_product<'a>(x: &'a [f32], w: &'a [f32], w_shape: &Shape) -> Product<'a> {
    let (inputs, outputs) = (w_shape[0], w_shape[1]);
    let rows = x.len() / inputs;
    Matrix { rows, cols: inputs, values: x, transposed: false }.times(Matrix { rows: inputs, cols: outputs, values: w, transposed: false })
}

/// A row-major f32 matrix, or the transpose of one (`rows x cols` as the product sees it).
#[derive(Clone, Copy)]
struct Matrix<'a> {
    rows: usize,
    cols: usize,
    values: &'a [f32],
    /// `values` holds the `cols x rows` matrix this one is the transpose of.
    transposed: bool,
}

impl Matrix<'_> {
    /// (row stride, column stride) in elements.
    fn strides(&self) -> (isize, isize) {
        match self.transposed {
            false => (self.cols as isize, 1),
            true => (1, self.rows as isize),
        }
    }

    fn times<'a>(self, rhs: Matrix<'a>) -> Product<'a>
    where
        Self: 'a,
    {
        assert_eq!(self.cols, rhs.rows, "matrix product: inner dimensions differ");
        assert!(self.values.len() >= self.rows * self.cols && rhs.values.len() >= rhs.rows * rhs.cols);
        Product { lhs: self, rhs }
    }
}

/// `lhs · rhs`, computed by gemm into a row-major destination.
struct Product<'a> {
    lhs: Matrix<'a>,
    rhs: Matrix<'a>,
}

impl Product<'_> {
    /// `out += lhs · rhs`.
    fn accumulate_into(&self, out: &mut [f32]) {
        assert_eq!(out.len(), self.lhs.rows * self.rhs.cols);
        // SAFETY: `out` holds `rows x cols` initialised values; both operands were checked to
        // hold their matrices under the strides given.
        unsafe { self.gemm(out.as_mut_ptr(), true) }
    }

    /// `lhs · rhs` in a new buffer.
    fn into_new(self) -> Vec<f32> {
        let len = self.lhs.rows * self.rhs.cols;
        let mut out: Vec<MaybeUninit<f32>> = Vec::with_capacity(len);
        // SAFETY: gemm with `read_dst = false` writes every element of the `rows x cols`
        // destination without reading it, so all `len` values are initialised afterwards.
        unsafe {
            out.set_len(len);
            self.gemm(out.as_mut_ptr().cast::<f32>(), false);
            let mut out = std::mem::ManuallyDrop::new(out);
            Vec::from_raw_parts(out.as_mut_ptr().cast::<f32>(), len, out.capacity())
        }
    }

    /// # Safety
    /// `out` points to `lhs.rows x rhs.cols` writable f32s, initialised when `accumulate`.
    unsafe fn gemm(&self, out: *mut f32, accumulate: bool) {
        let (m, n, k) = (self.lhs.rows, self.rhs.cols, self.lhs.cols);
        let (lhs_rs, lhs_cs) = self.lhs.strides();
        let (rhs_rs, rhs_cs) = self.rhs.strides();
        let parallelism = match m * n * k >= PARALLEL_GEMM_MACS {
            true => gemm::Parallelism::Rayon(0),
            false => gemm::Parallelism::None,
        };
        let (lhs, rhs) = (self.lhs.values.as_ptr(), self.rhs.values.as_ptr());
        gemm::gemm(m, n, k, out, 1, n as isize, accumulate, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs, 1.0, 1.0, false, false, false, parallelism);
    }
}

/// The contiguous f32 values of `tensor` (borrowed when it already is contiguous) and its shape.
fn f32_values<'a>(tensor: &'a FlexTensor, op: &str) -> (Cow<'a, [f32]>, Shape) {
    assert_eq!(tensor.dtype(), DType::F32, "{op}: the fused WaveNet ops train in f32");
    let values = match tensor.as_slice::<f32>() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(tensor.to_contiguous().as_slice::<f32>().expect("a contiguous copy").to_vec()),
    };
    (values, tensor.layout().shape().clone())
}

/// `log(sum(exp(row)))`, shifted by the row's maximum so nothing overflows.
fn log_sum_exp(kernel: Kernel, row: &[f32]) -> f32 {
    let max = row.iter().fold(f32::NEG_INFINITY, |max, &x| max.max(x));
    max + kernel.sum_exp(row, max).ln()
}

/// The token ids in an integer tensor (burn stores them as i32 or i64).
fn token_ids(tensor: &FlexTensor, op: &str) -> Vec<usize> {
    let tensor = tensor.to_contiguous();
    match tensor.dtype() {
        DType::I32 => tensor.as_slice::<i32>().expect("contiguous").iter().map(|&id| id as usize).collect(),
        DType::I64 => tensor.as_slice::<i64>().expect("contiguous").iter().map(|&id| id as usize).collect(),
        other => panic!("{op}: token ids must be i32 or i64, not {other:?}"),
    }
}

fn last_dim(shape: &Shape) -> usize {
    shape[shape.num_dims() - 1]
}

fn half_width(shape: &Shape) -> usize {
    let width = last_dim(shape);
    assert!(width.is_multiple_of(2), "the last dimension holds two halves");
    width / 2
}

/// `shape` with its last dimension replaced.
fn with_last(mut shape: Shape, last: usize) -> Shape {
    let dims = shape.num_dims();
    shape[dims - 1] = last;
    shape
}

fn f32_tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(shape), DType::F32)
}

impl<B: FusedOps, C: CheckpointStrategy> FusedOps for Autodiff<B, C> {
    fn gate(h: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Gate;

        impl<B: FusedOps> Backward<B, 1> for Gate {
            type State = NodeId;

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let h = checkpointer.retrieve_node_output(ops.state);
                unary::<B, _>(ops.parents, ops.node, grads, |grad| B::gate_backward(h, grad));
            }
        }

        match Gate.prepare::<C>([h.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&h);
                prep.finish(state, B::gate(h.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::gate(h.into_primitive())),
        }
    }

    fn dense(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Dense;

        impl<B: FusedOps> Backward<B, 3> for Dense {
            type State = DenseState;

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let grad = grads.consume::<B>(&ops.node);
                register_dense_grads::<B>(ops.parents.map(|parent| parent.map(|node| node.id)), ops.state, grad, grads, checkpointer);
            }
        }

        let tracked = (x.is_tracked(), w.is_tracked());
        match Dense.prepare::<C>([x.node(), w.node(), b.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = dense_state(&mut |tensor| prep.checkpoint(tensor), &x, &w, tracked);
                prep.finish(state, B::dense(x.into_primitive(), w.into_primitive(), b.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::dense(x.into_primitive(), w.into_primitive(), b.into_primitive())),
        }
    }

    fn dense_onto(acc: FloatTensor<Self>, x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct DenseOnto;

        impl<B: FusedOps> Backward<B, 4> for DenseOnto {
            type State = DenseState;

            fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [acc_parent, x_parent, w_parent, b_parent] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                if let Some(parent) = acc_parent {
                    grads.register::<B>(parent.id, grad.clone());
                }
                let parents = [x_parent, w_parent, b_parent].map(|parent| parent.map(|node| node.id));
                register_dense_grads::<B>(parents, ops.state, grad, grads, checkpointer);
            }
        }

        let tracked = (x.is_tracked(), w.is_tracked());
        match DenseOnto.prepare::<C>([acc.node(), x.node(), w.node(), b.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = dense_state(&mut |tensor| prep.checkpoint(tensor), &x, &w, tracked);
                prep.finish(state, B::dense_onto(acc.into_primitive(), x.into_primitive(), w.into_primitive(), b.into_primitive()))
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::dense_onto(acc.into_primitive(), x.into_primitive(), w.into_primitive(), b.into_primitive()))
            }
        }
    }

    fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>, weights: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct CrossEntropy;

        impl<B: FusedOps> Backward<B, 1> for CrossEntropy {
            /// The logits, the targets and the weights (constants: only the logits train).
            type State = (NodeId, IntTensor<B>, FloatTensor<B>);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let (logits, targets, weights) = ops.state;
                let logits = checkpointer.retrieve_node_output(logits);
                unary::<B, _>(ops.parents, ops.node, grads, |grad| B::cross_entropy_backward(logits, targets, weights, grad));
            }
        }

        let weights = weights.into_primitive();
        match CrossEntropy.prepare::<C>([logits.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&logits), targets.clone(), weights.clone());
                prep.finish(state, B::cross_entropy(logits.into_primitive(), targets, weights))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cross_entropy(logits.into_primitive(), targets, weights)),
        }
    }

    fn taps(x: FloatTensor<Self>, dilation: usize) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Taps;

        impl<B: FusedOps> Backward<B, 1> for Taps {
            /// The dilation.
            type State = usize;

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
                let dilation = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| B::taps_backward(grad, dilation));
            }
        }

        match Taps.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(dilation, B::taps(x.into_primitive(), dilation)),
            OpsKind::UnTracked(prep) => prep.finish(B::taps(x.into_primitive(), dilation)),
        }
    }
}

/// What a dense layer's backward reads: its input and its weight, each kept only when the
/// other's gradient is wanted.
type DenseState = (Option<NodeId>, Option<NodeId>);

/// Checkpoints what the backward of `x · w` needs, given whether `x` and `w` are tracked.
fn dense_state<B: Backend>(checkpoint: &mut impl FnMut(&FloatTensor<Autodiff<B>>) -> NodeId, x: &FloatTensor<Autodiff<B>>, w: &FloatTensor<Autodiff<B>>, (x_tracked, w_tracked): (bool, bool)) -> DenseState {
    (w_tracked.then(|| checkpoint(x)), x_tracked.then(|| checkpoint(w)))
}

/// Registers the gradients of a dense layer's input, weight and bias.
fn register_dense_grads<B: FusedOps>(
    [x_parent, w_parent, b_parent]: [Option<NodeId>; 3],
    (x, w): DenseState,
    grad: FloatTensor<B>,
    grads: &mut Gradients,
    checkpointer: &mut Checkpointer,
) {
    if let Some(parent) = w_parent {
        let x = checkpointer.retrieve_node_output(x.expect("x kept for the weight gradient"));
        grads.register::<B>(parent, B::dense_weight_grad(x, grad.clone()));
    }
    if let Some(parent) = b_parent {
        grads.register::<B>(parent, B::dense_bias_grad(grad.clone()));
    }
    if let Some(parent) = x_parent {
        let w = checkpointer.retrieve_node_output(w.expect("w kept for the input gradient"));
        grads.register::<B>(parent, B::dense_input_grad(w, grad));
    }
}

/// The WaveNet gate of a `[.., 2C]` tensor: `tanh` of the first half times `sigmoid` of the
/// second.
pub fn gate<const D: usize>(h: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::gate(h.into_dispatch()))
}

/// A dense layer, `x · weight + bias`, over the last dimension of `x`.
pub fn dense<const D: usize>(x: Tensor<D>, weight: Tensor<2>, bias: Tensor<1>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::dense(x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch()))
}

/// A dense layer added onto a running sum: `acc + x · weight + bias`.
pub fn dense_onto<const D: usize>(acc: Tensor<D>, x: Tensor<D>, weight: Tensor<2>, bias: Tensor<1>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::dense_onto(acc.into_dispatch(), x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch()))
}

/// The next-token loss of each row of `logits` (`[N, V]`): `weights * -log softmax(logits)[targets]`,
/// `[N, 1]` (`targets` and `weights` `[N, 1]`).
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<2, Int>, weights: Tensor<2>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::cross_entropy(logits.into_dispatch(), targets.into_dispatch(), weights.into_dispatch()))
}

/// The causal kernel-2 taps `[x[t - dilation], x[t]]` of a `[B, T, C]` tensor, zeros before the
/// start.
pub fn taps(x: Tensor<3>, dilation: usize) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::taps(x.into_dispatch(), dilation))
}
