//! Fused training ops: a burn backend extension whose flex implementation runs the inference
//! engine's own vectorised kernels in one pass, with a hand-written backward for autodiff.
//!
//! Why: composed from burn ops, the WaveNet gate `tanh(f) * sigmoid(g)` is a dozen
//! element-wise passes forward and backward, each with a scalar libm `expf`; they took half of
//! a training step on the flex backend (`perf`, BENCHMARKS.md). Fused, it is one pass each way,
//! and training computes exactly the gate the plugin runs. Other backends (wgpu) use the trait's
//! default bodies, composed from ordinary backend ops.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Flex, Slice, TensorMetadata};
use burn::prelude::*;
use burn::tensor::{Bytes, DType};
use continuo::engine::Kernel;
use rayon::prelude::*;

/// Rows of the gate handed to one rayon task: large enough to amortise the task, small enough
/// to split a batch over both cores.
const GATE_ROWS_PER_TASK: usize = 256;

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
}

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

impl FusedOps for Flex {
    fn gate(h: FlexTensor) -> FlexTensor {
        let (input, shape, channels) = rows_of(&h, "gate");
        let kernel = Kernel::detect();
        let mut out = vec![0.0f32; input.len() / 2];
        out.par_chunks_mut(channels * GATE_ROWS_PER_TASK).zip(input.par_chunks(2 * channels * GATE_ROWS_PER_TASK)).for_each(
            |(out, input)| {
                for (out, row) in out.chunks_exact_mut(channels).zip(input.chunks_exact(2 * channels)) {
                    let (filter, gate) = row.split_at(channels);
                    kernel.gate(filter, gate, out);
                }
            },
        );
        let mut out_shape = shape;
        let last = out_shape.num_dims() - 1;
        out_shape[last] = channels;
        f32_tensor(out, out_shape)
    }

    fn gate_backward(h: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let (input, shape, channels) = rows_of(&h, "gate_backward");
        let grad = grad.to_contiguous();
        let grad = grad.as_slice::<f32>().expect("gate_backward: contiguous f32 gradient");
        assert_eq!(grad.len() * 2, input.len(), "gate_backward: the gradient is half as wide as the input");
        let kernel = Kernel::detect();
        let mut out = vec![0.0f32; input.len()];
        let task = 2 * channels * GATE_ROWS_PER_TASK;
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
}

/// The contiguous f32 values of `h`, its shape and half its last dimension.
fn rows_of<'a>(h: &'a FlexTensor, op: &str) -> (std::borrow::Cow<'a, [f32]>, burn::tensor::Shape, usize) {
    assert_eq!(h.dtype(), DType::F32, "{op}: the fused WaveNet ops train in f32");
    let shape = h.layout().shape().clone();
    let width = shape[shape.num_dims() - 1];
    assert!(width.is_multiple_of(2), "{op}: the last dimension holds two halves");
    let values = match h.as_slice::<f32>() {
        Some(values) => std::borrow::Cow::Borrowed(values),
        None => std::borrow::Cow::Owned(h.to_contiguous().as_slice::<f32>().expect("contiguous").to_vec()),
    };
    (values, shape, width / 2)
}

fn f32_tensor(values: Vec<f32>, shape: burn::tensor::Shape) -> FlexTensor {
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
}

/// The WaveNet gate of a `[.., 2C]` tensor: `tanh` of the first half times `sigmoid` of the
/// second, differentiable, fused on the flex backend.
pub fn gate<const D: usize>(h: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as FusedOps>::gate(h.into_dispatch()))
}
