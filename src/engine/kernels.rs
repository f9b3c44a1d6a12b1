//! Matrix-vector kernels: f32 and int8 weights, each with SIMD versions (AVX-512 VNNI, AVX-VNNI
//! and AVX2 + FMA on x86-64, chosen at run time; NEON on aarch64) and a portable one. Rows are
//! padded with zeros to a multiple of [`LANES_PER_ROW_CHUNK`] so the SIMD loops need no tail
//! handling.
//!
//! Int8 products take int8 activations (quantized dynamically, per vector, by
//! [`quantize_activations`]) and accumulate exactly in i32, so the SIMD and portable int8 kernels
//! give bit-identical results. Each kernel reads its weights in its own [`Layout`], made once at
//! load by [`Kernel::pack_i8`].

#[cfg(target_arch = "x86_64")]
mod avx512;
mod int8_matrix;
#[cfg(target_arch = "x86_64")]
mod vnni;

pub use int8_matrix::{Int8Matrix, Layout};

/// Every row (and input vector) is padded to a multiple of this many elements: one AVX2 int8
/// load, four AVX2 f32 loads.
pub const LANES_PER_ROW_CHUNK: usize = 32;

/// Largest magnitude of a symmetric int8 value. -128 is never used, so `|x|` fits in a `u8`
/// and AVX2's `maddubs` pairs (2 * 127 * 127) never saturate an i16.
pub const INT8_MAX_MAGNITUDE: f32 = 127.0;

/// A length rounded up to whole row chunks.
pub fn padded_len(len: usize) -> usize {
    len.div_ceil(LANES_PER_ROW_CHUNK) * LANES_PER_ROW_CHUNK
}

/// Which instruction set the kernels use; detected once when an engine is built. Safe code
/// outside this crate gets one only from [`Kernel::detect`] or [`Kernel::survey`] (the SIMD
/// variants are `non_exhaustive`, so they cannot be named to run AVX2 on a CPU without it), and
/// every safe entry point checks the lengths the SIMD loops rely on.
///
/// ```compile_fail
/// let kernel = continuo::engine::Kernel::Avx2;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Plain Rust, any CPU.
    Portable,
    /// x86-64 with AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[non_exhaustive]
    Avx2,
    /// x86-64 with AVX2, FMA and AVX-VNNI (`vpdpbusd` on ymm, VEX encoded): int8 products on
    /// eight-row VNNI blocks, the rest as AVX2.
    #[cfg(target_arch = "x86_64")]
    #[non_exhaustive]
    AvxVnni,
    /// x86-64 with AVX2, FMA, AVX-512 F/BW and AVX-512 VNNI: int8 products on sixteen-row VNNI
    /// blocks, the gate and activation quantization on zmm registers, f32 products as AVX2.
    #[cfg(target_arch = "x86_64")]
    #[non_exhaustive]
    Avx512Vnni,
    /// aarch64 (NEON is part of the base ISA there).
    #[cfg(target_arch = "aarch64")]
    #[non_exhaustive]
    Neon,
}

/// What a kernel does with each row's product: `out[r] = product + bias[r]`, or adds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Overwrite the output.
    Set,
    /// Add to the output (residual and skip connections).
    Add,
}

impl Write {
    #[inline(always)]
    fn apply(self, out: &mut f32, value: f32) {
        match self {
            Write::Set => *out = value,
            Write::Add => *out += value,
        }
    }
}

/// The int8 side of an int8 product: quantized activations and their scale.
#[derive(Clone, Copy, Debug)]
pub struct QuantizedInput<'a> {
    /// Activations as [`Kernel::quantize_input`] writes them for the kernel of the product,
    /// padded like the rows.
    pub values: &'a [i8],
    /// Real value of one int8 step.
    pub scale: f32,
}

impl Kernel {
    /// The fastest kernel this CPU supports.
    pub fn detect() -> Kernel {
        Self::survey().into_iter().find_map(|(_, kernel)| kernel).unwrap_or(Kernel::Portable)
    }

    /// Every kernel of this architecture, fastest first, by name, with the kernel where this CPU
    /// runs it (tests and benchmarks check and time each one, and name those they skip).
    pub fn survey() -> Vec<(&'static str, Option<Kernel>)> {
        let mut kernels = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            let avx512_vnni = avx2 && has!("avx512f") && has!("avx512bw") && has!("avx512vnni");
            kernels.push((Kernel::Avx512Vnni.name(), avx512_vnni.then_some(Kernel::Avx512Vnni)));
            kernels.push((Kernel::AvxVnni.name(), (avx2 && has!("avxvnni")).then_some(Kernel::AvxVnni)));
            kernels.push((Kernel::Avx2.name(), avx2.then_some(Kernel::Avx2)));
        }
        #[cfg(target_arch = "aarch64")]
        kernels.push((Kernel::Neon.name(), Some(Kernel::Neon)));
        kernels.push((Kernel::Portable.name(), Some(Kernel::Portable)));
        kernels
    }

    /// The kernel's name, as benchmarks and test logs show it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => "avx-vnni",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => "avx512-vnni",
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => "neon",
        }
    }

    /// The order in which this kernel reads int8 weights.
    pub fn int8_layout(self) -> Layout {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => Layout::VnniBlocks { rows_per_block: vnni::AVX_VNNI_ROWS_PER_BLOCK },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => Layout::VnniBlocks { rows_per_block: vnni::AVX512_ROWS_PER_BLOCK },
            _ => Layout::RowMajor,
        }
    }

    /// Lays out `rows x cols` row-major int8 weights (`cols` whole row chunks) and their per-row
    /// scales for this kernel's [`Kernel::matvec_i8`].
    pub fn pack_i8(self, values: &[i8], scales: &[f32], cols: usize) -> Int8Matrix {
        Int8Matrix::new(values, scales, cols, self.int8_layout())
    }

    /// `out[r] (=|+=) weights[r] . input + bias[r]` for f32 rows of `input.len()` columns.
    /// Panics unless `input` is whole row chunks long and `weights` and `bias` have a row per
    /// output (checked once per call: the SIMD loops read by pointer).
    pub fn matvec_f32(self, weights: &[f32], input: &[f32], bias: &[f32], out: &mut [f32], write: Write) {
        check_product_lengths(input.len(), weights.len(), bias.len(), out.len());
        match self {
            Kernel::Portable => rows_f32(weights, input, bias, out, write, dot_f32_portable),
            // SAFETY: the x86 SIMD kernels are only chosen when the CPU has AVX2 and FMA; lengths
            // checked above.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::AvxVnni | Kernel::Avx512Vnni => unsafe { avx2::matvec_f32(weights, input, bias, out, write) },
            // SAFETY: NEON is always present on aarch64; lengths checked above.
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => unsafe { rows_f32(weights, input, bias, out, write, |w, x| neon::dot_f32(w, x)) },
        }
    }

    /// `out[r] (=|+=) (weights[r] . input) * row_scale[r] * input_scale + bias[r]` in exact i32.
    /// Panics on lengths that do not fit, as [`Kernel::matvec_f32`] does, and on weights packed
    /// for another kernel.
    pub fn matvec_i8(self, weights: &Int8Matrix, input: QuantizedInput, bias: &[f32], out: &mut [f32], write: Write) {
        check_product_lengths(input.values.len(), weights.rows * weights.cols, bias.len(), out.len());
        assert_eq!(input.values.len(), weights.cols, "matvec_i8: input length is not the matrix's columns");
        assert_eq!(weights.layout, self.int8_layout(), "matvec_i8: weights packed for another kernel than {}", self.name());
        let (values, scales) = (&weights.values[..], &weights.scales[..]);
        match self {
            Kernel::Portable => rows_i8(values, scales, input, bias, out, write, dot_i8_portable),
            // SAFETY: as in matvec_f32.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::matvec_i8(values, scales, input, bias, out, write) },
            // SAFETY: AvxVnni is only chosen when the CPU has AVX-VNNI (and AVX2); lengths and
            // layout checked above.
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => unsafe { vnni::matvec_i8_avx_vnni(weights, input, bias, out, write) },
            // SAFETY: Avx512Vnni is only chosen when the CPU has AVX-512 F, BW and VNNI; lengths
            // and layout checked above.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => unsafe { vnni::matvec_i8_avx512(weights, input, bias, out, write) },
            // SAFETY: as in matvec_f32.
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => unsafe { rows_i8(values, scales, input, bias, out, write, |w, x| neon::dot_i8(w, x)) },
        }
    }
}

impl Kernel {
    /// The WaveNet gate, `out = tanh(filter) * sigmoid(gate)`.
    pub fn gate(self, filter: &[f32], gate: &[f32], out: &mut [f32]) {
        match self {
            // SAFETY: the x86 SIMD kernels are only chosen when the CPU has AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::AvxVnni => unsafe { avx2::gate(filter, gate, out) },
            // SAFETY: Avx512Vnni is only chosen when the CPU has AVX-512 F.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => unsafe { avx512::gate(filter, gate, out) },
            _ => gate_lanes(filter, gate, out),
        }
    }

    /// The gate's derivative, for training: from the gradient of `out` and the gate's inputs,
    /// the gradients of `filter` and `gate` (`tanh' = 1 - tanh^2`, `sigmoid' = s (1 - s)`).
    pub fn gate_backward(self, filter: &[f32], gate: &[f32], grad_out: &[f32], grad_filter: &mut [f32], grad_gate: &mut [f32]) {
        match self {
            // SAFETY: as in `gate`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::AvxVnni | Kernel::Avx512Vnni => unsafe {
                avx2::gate_backward(filter, gate, grad_out, grad_filter, grad_gate)
            },
            _ => gate_backward_lanes(filter, gate, grad_out, grad_filter, grad_gate),
        }
    }

    /// `sum of exp(values[i] - shift)`: the normaliser of a softmax, for training's loss.
    pub fn sum_exp(self, values: &[f32], shift: f32) -> f32 {
        match self {
            // SAFETY: as in `gate`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::AvxVnni | Kernel::Avx512Vnni => unsafe { avx2::sum_exp(values, shift) },
            _ => sum_exp_lanes(values, shift),
        }
    }

    /// `out[i] = scale * exp(values[i] - shift)`: scaled softmax probabilities, for the
    /// gradient of training's loss.
    pub fn scaled_exp(self, values: &[f32], shift: f32, scale: f32, out: &mut [f32]) {
        match self {
            // SAFETY: as in `gate`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::AvxVnni | Kernel::Avx512Vnni => unsafe { avx2::scaled_exp(values, shift, scale, out) },
            _ => scaled_exp_lanes(values, shift, scale, out),
        }
    }

    /// `out[i] = exp(values[i] - shift)`, returning their sum: a softmax's numerators and its
    /// normaliser in one pass (the copy head's attention and network distribution).
    pub fn exp_and_sum(self, values: &[f32], shift: f32, out: &mut [f32]) -> f32 {
        match self {
            // SAFETY: as in `gate`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::AvxVnni => unsafe { avx2::exp_and_sum(values, shift, out) },
            // SAFETY: as in `gate`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => unsafe { avx512::exp_and_sum(values, shift, out) },
            _ => exp_and_sum_lanes(values, shift, out),
        }
    }

    /// The largest of `values` and `floor`.
    pub fn max_of(self, values: &[f32], floor: f32) -> f32 {
        match self {
            // SAFETY: as in `gate`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::AvxVnni => unsafe { avx2::max_of(values, floor) },
            // SAFETY: as in `gate`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => unsafe { avx512::max_of(values, floor) },
            _ => max_of_lanes(values, floor),
        }
    }

    /// `out[i] = ln(values[i] + offset)` (each sum positive): the copy head's log-probabilities.
    pub fn ln_offset(self, values: &[f32], offset: f32, out: &mut [f32]) {
        match self {
            // SAFETY: as in `gate`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::AvxVnni => unsafe { avx2::ln_offset(values, offset, out) },
            // SAFETY: as in `gate`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => unsafe { avx512::ln_offset(values, offset, out) },
            _ => ln_offset_lanes(values, offset, out),
        }
    }

    /// Quantizes `values` (a multiple of 32 long, zero padded) to symmetric int8 with one
    /// scale (max |x| / 127); returns the scale.
    pub fn quantize(self, values: &[f32], out: &mut [i8]) -> f32 {
        match self {
            // SAFETY: as in `gate`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::AvxVnni => unsafe { avx2::quantize::<false>(values, out) },
            // SAFETY: Avx512Vnni is only chosen when the CPU has AVX-512 F and BW.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => unsafe { avx512::quantize::<false>(values, out) },
            _ => quantize_activations(values, out),
        }
    }

    /// As [`Kernel::quantize`], in the encoding this kernel's [`Kernel::matvec_i8`] reads: the
    /// VNNI kernels' `vpdpbusd` takes unsigned bytes, so for them each value is offset by 128
    /// (`x ^ 0x80`) here, once per vector, rather than in every product that reads it.
    pub fn quantize_input(self, values: &[f32], out: &mut [i8]) -> f32 {
        match self {
            // SAFETY: as in `quantize`.
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => unsafe { avx2::quantize::<true>(values, out) },
            // SAFETY: as in `quantize`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => unsafe { avx512::quantize::<true>(values, out) },
            _ => self.quantize(values, out),
        }
    }

    /// `out += table[row]` for each of `rows`, in order (`table` holds rows of `out.len()`
    /// values): the input layer's sum of the active features' conditioning rows.
    pub fn add_rows(self, table: &[f32], rows: &[u16], out: &mut [f32]) {
        match self {
            // SAFETY: as in `quantize`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::AvxVnni => unsafe { avx2::add_rows(table, rows, out) },
            // SAFETY: as in `quantize`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => unsafe { avx512::add_rows(table, rows, out) },
            _ => add_rows_lanes(table, rows, out),
        }
    }
}

/// The lengths every matrix-vector product needs, which the SIMD loops read by pointer without
/// further checks: whole row chunks of input, one weight row and one bias per output.
fn check_product_lengths(cols: usize, weights: usize, biases: usize, outputs: usize) {
    assert!(cols.is_multiple_of(LANES_PER_ROW_CHUNK), "matvec: input length {cols} is not whole row chunks");
    assert!(
        cols.checked_mul(outputs) == Some(weights),
        "matvec: {weights} weights do not make {outputs} rows of {cols}"
    );
    assert_eq!(biases, outputs, "matvec: one bias per output row");
}

/// Eight partial sums, so the compiler vectorizes the reduction.
#[inline(always)]
fn sum_exp_lanes(values: &[f32], shift: f32) -> f32 {
    let mut sums = [0.0f32; 8];
    let chunks = values.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&x| exp(x - shift)).sum();
    for chunk in chunks {
        sums.iter_mut().zip(chunk).for_each(|(sum, &x)| *sum += exp(x - shift));
    }
    sums.iter().sum::<f32>() + tail
}

#[inline(always)]
fn scaled_exp_lanes(values: &[f32], shift: f32, scale: f32, out: &mut [f32]) {
    out.iter_mut().zip(values).for_each(|(out, &x)| *out = scale * exp(x - shift));
}

#[inline(always)]
fn ln_offset_lanes(values: &[f32], offset: f32, out: &mut [f32]) {
    out.iter_mut().zip(values).for_each(|(out, &x)| *out = ln(x + offset));
}

/// Running sums and maxima of the reductions below: a zmm register's lanes (two ymm), so the
/// compiler keeps independent chains in vector registers.
const REDUCTION_LANES: usize = 16;

/// Sixteen running sums, the exponentials written as they are summed.
#[inline(always)]
fn exp_and_sum_lanes(values: &[f32], shift: f32, out: &mut [f32]) -> f32 {
    let mut sums = [0.0f32; REDUCTION_LANES];
    let (whole, tail) = values.split_at(values.len() / REDUCTION_LANES * REDUCTION_LANES);
    let (whole_out, tail_out) = out.split_at_mut(whole.len());
    for (out, chunk) in whole_out.chunks_exact_mut(REDUCTION_LANES).zip(whole.chunks_exact(REDUCTION_LANES)) {
        for ((sum, out), &x) in sums.iter_mut().zip(out).zip(chunk) {
            *out = exp(x - shift);
            *sum += *out;
        }
    }
    let mut tail_sum = 0.0;
    for (out, &x) in tail_out.iter_mut().zip(tail) {
        *out = exp(x - shift);
        tail_sum += *out;
    }
    sums.iter().sum::<f32>() + tail_sum
}

/// The largest of `values` and `floor`, from sixteen running maxima (a single running maximum
/// is a chain of dependent `max`es the compiler may not reorder).
#[inline(always)]
fn max_of_lanes(values: &[f32], floor: f32) -> f32 {
    let mut maxima = [floor; REDUCTION_LANES];
    let chunks = values.chunks_exact(REDUCTION_LANES);
    let tail = chunks.remainder().iter().fold(floor, |max, &x| max.max(x));
    for chunk in chunks {
        maxima.iter_mut().zip(chunk).for_each(|(max, &x)| *max = max.max(x));
    }
    maxima.iter().fold(tail, |max, &x| max.max(x))
}

/// Written so the compiler vectorizes it (the exponential is a polynomial, no libm call).
#[inline(always)]
fn gate_backward_lanes(filter: &[f32], gate: &[f32], grad_out: &[f32], grad_filter: &mut [f32], grad_gate: &mut [f32]) {
    let grads = grad_filter.iter_mut().zip(grad_gate.iter_mut());
    for (((grad_f, grad_g), (&f, &g)), &grad) in grads.zip(filter.iter().zip(gate)).zip(grad_out) {
        let (t, s) = (tanh(f), sigmoid(g));
        *grad_f = grad * s * (1.0 - t * t);
        *grad_g = grad * t * s * (1.0 - s);
    }
}

/// Outputs summed together in registers by [`add_rows_lanes`]: four zmm (or eight ymm) registers.
const ADD_ROWS_CHUNK: usize = 64;

/// Chunk by chunk of the output, each chunk held in registers while every row adds into it (rather
/// than a load, add and store of the whole output per row); per value, the rows in order, so
/// every kernel gives the same bits.
#[inline(always)]
fn add_rows_lanes(table: &[f32], rows: &[u16], out: &mut [f32]) {
    let width = out.len();
    let mut chunks = out.chunks_exact_mut(ADD_ROWS_CHUNK);
    for (index, chunk) in chunks.by_ref().enumerate() {
        let mut sums: [f32; ADD_ROWS_CHUNK] = (&*chunk).try_into().expect("whole chunk");
        for &row in rows {
            let values: &[f32; ADD_ROWS_CHUNK] =
                table[row as usize * width + index * ADD_ROWS_CHUNK..][..ADD_ROWS_CHUNK].try_into().expect("whole chunk");
            sums.iter_mut().zip(values).for_each(|(sum, value)| *sum += value);
        }
        chunk.copy_from_slice(&sums);
    }
    let tail = chunks.into_remainder();
    let (start, tail_len) = (width - tail.len(), tail.len());
    for &row in rows {
        tail.iter_mut().zip(&table[row as usize * width + start..][..tail_len]).for_each(|(sum, value)| *sum += value);
    }
}

/// Written so the compiler vectorizes it (the exponential is a polynomial, no libm call).
#[inline(always)]
fn gate_lanes(filter: &[f32], gate: &[f32], out: &mut [f32]) {
    for ((z, &f), &g) in out.iter_mut().zip(filter).zip(gate) {
        *z = tanh(f) * sigmoid(g);
    }
}

/// `e^x` to about 2 ulp: Cephes' `expf` polynomial after reducing `x` by multiples of ln 2.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN_2_HIGH: f32 = 0.693_359_4;
    const LN_2_LOW: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let power = round_small(x * LOG2_E);
    let reduced = x - power * LN_2_HIGH - power * LN_2_LOW;
    let mut p = 1.987_569_1e-4f32;
    for coefficient in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5] {
        p = p * reduced + coefficient;
    }
    let mantissa = p * reduced * reduced + reduced + 1.0;
    // `power + ROUNDING_MAGIC` holds the integer in its low mantissa bits: 2^power by bit
    // arithmetic, with no float-to-int conversion (which would not vectorize well).
    let integer = (power + ROUNDING_MAGIC).to_bits().wrapping_sub(ROUNDING_MAGIC.to_bits());
    mantissa * f32::from_bits(integer.wrapping_add(127) << 23)
}

/// `ln(x)` for a positive normal `x`, to about 2 ulp: Cephes' `logf` polynomial on the mantissa
/// scaled into `[sqrt(1/2), sqrt(2))`, plus the exponent times ln 2; branch-free, so it
/// vectorizes.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    const LN_2_HIGH: f32 = 0.693_359_4;
    const LN_2_LOW: f32 = -2.121_944_4e-4;
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let bits = x.to_bits();
    // The mantissa in [0.5, 1) and the exponent that goes with it.
    let mantissa = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let exponent = ((bits >> 23) & 0xff) as i32 - 126;
    let low = mantissa < SQRT_HALF;
    let exponent = (exponent - low as i32) as f32;
    let reduced = if low { mantissa + mantissa - 1.0 } else { mantissa - 1.0 };
    let square = reduced * reduced;
    let mut p = 7.037_683_6e-2f32;
    for coefficient in [-1.151_461e-1, 1.167_699_9e-1, -1.242_014_1e-1, 1.424_932_3e-1, -1.666_805_8e-1, 2.000_071_4e-1, -2.499_999_4e-1, 3.333_333e-1] {
        p = p * reduced + coefficient;
    }
    let tail = p * reduced * square + exponent * LN_2_LOW - 0.5 * square;
    reduced + tail + exponent * LN_2_HIGH
}

/// The logistic function, `(1 + tanh(x / 2)) / 2` (absolute error below 2.5e-7; exactly 0 and
/// 1 far out).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    0.5 + 0.5 * tanh(0.5 * x)
}

/// `tanh(x)` as `x P(x^2) / Q(x^2)`, Eigen's rational approximation (`generic_fast_tanh_float`)
/// on `|x| <= 7.9053` and +-1 beyond (absolute error below 4.5e-7). Why not from `exp`: the
/// WaveNet gate (`tanh` and `sigmoid` of every channel, every layer, every step) sits on the
/// step's critical path, and this chain of multiply-adds is about half as long as the
/// exponential's reduction, polynomial and division: the AVX-512 gate of 64 channels took 90
/// instead of 130 cycles (2026-12-02, AMD EPYC).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    const SATURATION: f32 = 7.905_311;
    const NUMERATOR: [f32; 7] =
        [-2.760_768_6e-16, 2.000_188e-13, -8.604_672e-11, 5.122_297e-8, 1.485_722_4e-5, 6.372_619_5e-4, 4.893_524_6e-3];
    const DENOMINATOR: [f32; 4] = [1.198_258_4e-6, 1.185_347_1e-4, 2.268_434_5e-3, 4.893_525e-3];
    let x = x.clamp(-SATURATION, SATURATION);
    let square = x * x;
    let horner = |coefficients: &[f32]| coefficients[1..].iter().fold(coefficients[0], |sum, &c| sum * square + c);
    x * horner(&NUMERATOR) / horner(&DENOMINATOR)
}

/// 1.5 * 2^23: adding it to a float below 2^22 in magnitude rounds it to an integer (ties to
/// even, as `cvtps2dq` does) and leaves that integer in the low mantissa bits.
const ROUNDING_MAGIC: f32 = 12_582_912.0;

/// Rounds `|x| < 2^22` to the nearest integer, ties to even, without a libm call.
#[inline(always)]
fn round_small(x: f32) -> f32 {
    (x + ROUNDING_MAGIC) - ROUNDING_MAGIC
}

/// Applies a row dot product to every row.
#[inline(always)]
fn rows_f32(weights: &[f32], input: &[f32], bias: &[f32], out: &mut [f32], write: Write, dot: impl Fn(&[f32], &[f32]) -> f32) {
    for ((row, bias), out) in weights.chunks_exact(input.len()).zip(bias).zip(out) {
        write.apply(out, dot(row, input) + bias);
    }
}

/// Applies an int8 row dot product to every row and scales it back to real values.
#[inline(always)]
fn rows_i8(
    values: &[i8],
    scales: &[f32],
    input: QuantizedInput,
    bias: &[f32],
    out: &mut [f32],
    write: Write,
    dot: impl Fn(&[i8], &[i8]) -> i32,
) {
    let rows = values.chunks_exact(input.values.len());
    for (((row, scale), bias), out) in rows.zip(scales).zip(bias).zip(out) {
        write.apply(out, dot(row, input.values) as f32 * (scale * input.scale) + bias);
    }
}

/// Eight independent partial sums, so the compiler can vectorize without reassociating.
fn dot_f32_portable(row: &[f32], input: &[f32]) -> f32 {
    let mut sums = [0.0f32; 8];
    for (w, x) in row.chunks_exact(8).zip(input.chunks_exact(8)) {
        for lane in 0..8 {
            sums[lane] += w[lane] * x[lane];
        }
    }
    sums.iter().sum()
}

fn dot_i8_portable(row: &[i8], input: &[i8]) -> i32 {
    row.iter().zip(input).map(|(&w, &x)| w as i32 * x as i32).sum()
}

/// Quantizes `values` to symmetric int8 with one scale (max |x| / 127), rounding ties to
/// even; returns the scale. `values.len()` is a multiple of 8.
pub fn quantize_activations(values: &[f32], out: &mut [i8]) -> f32 {
    let mut lane_maxima = [0.0f32; 8];
    for chunk in values.chunks_exact(8) {
        for (max, v) in lane_maxima.iter_mut().zip(chunk) {
            *max = max.max(v.abs());
        }
    }
    let max_magnitude = lane_maxima.iter().fold(0.0f32, |max, &v| max.max(v));
    let steps_per_unit = if max_magnitude > 0.0 { INT8_MAX_MAGNITUDE / max_magnitude } else { 0.0 };
    for (q, &v) in out.iter_mut().zip(values) {
        *q = round_small((v * steps_per_unit).clamp(-INT8_MAX_MAGNITUDE, INT8_MAX_MAGNITUDE)) as i8;
    }
    max_magnitude / INT8_MAX_MAGNITUDE
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    /// Rows handled together, sharing each load of the input.
    const ROWS_PER_BLOCK: usize = 4;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gate(filter: &[f32], gate: &[f32], out: &mut [f32]) {
        gate_lanes(filter, gate, out)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn add_rows(table: &[f32], rows: &[u16], out: &mut [f32]) {
        add_rows_lanes(table, rows, out)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn sum_exp(values: &[f32], shift: f32) -> f32 {
        sum_exp_lanes(values, shift)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scaled_exp(values: &[f32], shift: f32, scale: f32, out: &mut [f32]) {
        scaled_exp_lanes(values, shift, scale, out)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn ln_offset(values: &[f32], offset: f32, out: &mut [f32]) {
        ln_offset_lanes(values, offset, out)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp_and_sum(values: &[f32], shift: f32, out: &mut [f32]) -> f32 {
        exp_and_sum_lanes(values, shift, out)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn max_of(values: &[f32], floor: f32) -> f32 {
        max_of_lanes(values, floor)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gate_backward(filter: &[f32], gate: &[f32], grad_out: &[f32], grad_filter: &mut [f32], grad_gate: &mut [f32]) {
        gate_backward_lanes(filter, gate, grad_out, grad_filter, grad_gate)
    }

    /// As `quantize_activations`, 32 values per step (rows are padded to 32): max |x|, then
    /// scale, clamp, round (`cvtps2dq`, ties to even) and pack to int8; with `OFFSET`, plus 128
    /// (`x ^ 0x80`), the VNNI input encoding.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn quantize<const OFFSET: bool>(values: &[f32], out: &mut [i8]) -> f32 {
        debug_assert!(values.len().is_multiple_of(LANES_PER_ROW_CHUNK) && out.len() >= values.len());
        let sign_bit = _mm256_set1_ps(-0.0);
        let mut maxima = _mm256_setzero_ps();
        for chunk in values.chunks_exact(8) {
            maxima = _mm256_max_ps(maxima, _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(chunk.as_ptr())));
        }
        let half = _mm_max_ps(_mm256_castps256_ps128(maxima), _mm256_extractf128_ps(maxima, 1));
        let quarter = _mm_max_ps(half, _mm_movehl_ps(half, half));
        let max_magnitude = _mm_cvtss_f32(_mm_max_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)));
        let steps_per_unit = if max_magnitude > 0.0 { INT8_MAX_MAGNITUDE / max_magnitude } else { 0.0 };
        let (scale, low, high) =
            (_mm256_set1_ps(steps_per_unit), _mm256_set1_ps(-INT8_MAX_MAGNITUDE), _mm256_set1_ps(INT8_MAX_MAGNITUDE));
        let to_int = |at: &[f32]| {
            let scaled = _mm256_mul_ps(_mm256_loadu_ps(at.as_ptr()), scale);
            _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(scaled, low), high))
        };
        for (chunk, q) in values.chunks_exact(32).zip(out.chunks_exact_mut(32)) {
            // packs works within 128-bit halves; the permutes put the values back in order.
            let first = _mm256_permute4x64_epi64(_mm256_packs_epi32(to_int(&chunk[..8]), to_int(&chunk[8..16])), 0b11_01_10_00);
            let second = _mm256_permute4x64_epi64(_mm256_packs_epi32(to_int(&chunk[16..24]), to_int(&chunk[24..])), 0b11_01_10_00);
            let bytes = _mm256_permute4x64_epi64(_mm256_packs_epi16(first, second), 0b11_01_10_00);
            let bytes = if OFFSET { _mm256_xor_si256(bytes, _mm256_set1_epi8(i8::MIN)) } else { bytes };
            _mm256_storeu_si256(q.as_mut_ptr() as *mut __m256i, bytes);
        }
        max_magnitude / INT8_MAX_MAGNITUDE
    }

    /// Four rows at a time (two accumulators each, eight FMA chains in flight), then the
    /// remaining rows one by one.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec_f32(weights: &[f32], input: &[f32], bias: &[f32], out: &mut [f32], write: Write) {
        let cols = input.len();
        let blocked = out.len() / ROWS_PER_BLOCK * ROWS_PER_BLOCK;
        let x = input.as_ptr();
        for row in (0..blocked).step_by(ROWS_PER_BLOCK) {
            let w = weights.as_ptr().add(row * cols);
            let mut even = [_mm256_setzero_ps(); ROWS_PER_BLOCK];
            let mut odd = [_mm256_setzero_ps(); ROWS_PER_BLOCK];
            for chunk in (0..cols).step_by(16) {
                let (x0, x1) = (_mm256_loadu_ps(x.add(chunk)), _mm256_loadu_ps(x.add(chunk + 8)));
                for r in 0..ROWS_PER_BLOCK {
                    let row_at = w.add(r * cols + chunk);
                    even[r] = _mm256_fmadd_ps(_mm256_loadu_ps(row_at), x0, even[r]);
                    odd[r] = _mm256_fmadd_ps(_mm256_loadu_ps(row_at.add(8)), x1, odd[r]);
                }
            }
            let sums: [__m256; ROWS_PER_BLOCK] = std::array::from_fn(|r| _mm256_add_ps(even[r], odd[r]));
            let pairs = _mm256_hadd_ps(_mm256_hadd_ps(sums[0], sums[1]), _mm256_hadd_ps(sums[2], sums[3]));
            let totals = _mm_add_ps(_mm256_castps256_ps128(pairs), _mm256_extractf128_ps(pairs, 1));
            store(out.as_mut_ptr().add(row), _mm_add_ps(totals, _mm_loadu_ps(bias.as_ptr().add(row))), write);
        }
        let tail = blocked * cols;
        rows_f32(&weights[tail..], input, &bias[blocked..], &mut out[blocked..], write, |w, x| unsafe { dot_f32(w, x) })
    }

    /// Four rows at a time, sharing |x| and the input load, then the remaining rows one by one.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec_i8(values: &[i8], scales: &[f32], input: QuantizedInput, bias: &[f32], out: &mut [f32], write: Write) {
        let cols = input.values.len();
        let blocked = out.len() / ROWS_PER_BLOCK * ROWS_PER_BLOCK;
        let ones = _mm256_set1_epi16(1);
        let input_scale = _mm_set1_ps(input.scale);
        let x = input.values.as_ptr();
        for row in (0..blocked).step_by(ROWS_PER_BLOCK) {
            let w = values.as_ptr().add(row * cols);
            let mut sums = [_mm256_setzero_si256(); ROWS_PER_BLOCK];
            for chunk in (0..cols).step_by(LANES_PER_ROW_CHUNK) {
                let inputs = _mm256_loadu_si256(x.add(chunk) as *const __m256i);
                let magnitudes = _mm256_sign_epi8(inputs, inputs);
                for (r, sum) in sums.iter_mut().enumerate() {
                    let row_weights = _mm256_loadu_si256(w.add(r * cols + chunk) as *const __m256i);
                    let pairs = _mm256_maddubs_epi16(magnitudes, _mm256_sign_epi8(row_weights, inputs));
                    *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(pairs, ones));
                }
            }
            let pairs = _mm256_hadd_epi32(_mm256_hadd_epi32(sums[0], sums[1]), _mm256_hadd_epi32(sums[2], sums[3]));
            let totals = _mm_add_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
            // Same operations, in the same order, as `rows_i8`: the results are bit-identical.
            let row_scales = _mm_mul_ps(_mm_loadu_ps(scales.as_ptr().add(row)), input_scale);
            let real = _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(totals), row_scales), _mm_loadu_ps(bias.as_ptr().add(row)));
            store(out.as_mut_ptr().add(row), real, write);
        }
        let (tail_values, tail_scales) = (&values[blocked * cols..], &scales[blocked..]);
        rows_i8(tail_values, tail_scales, input, &bias[blocked..], &mut out[blocked..], write, |w, x| unsafe { dot_i8(w, x) })
    }

    /// Writes or adds four outputs.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store(out: *mut f32, values: __m128, write: Write) {
        match write {
            Write::Set => _mm_storeu_ps(out, values),
            Write::Add => _mm_storeu_ps(out, _mm_add_ps(_mm_loadu_ps(out), values)),
        }
    }

    /// Four accumulators of eight lanes hide the FMA latency.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_f32(row: &[f32], input: &[f32]) -> f32 {
        let mut sums = [_mm256_setzero_ps(); 4];
        let (w, x) = (row.as_ptr(), input.as_ptr());
        for chunk in (0..row.len()).step_by(LANES_PER_ROW_CHUNK) {
            for (part, sum) in sums.iter_mut().enumerate() {
                let offset = chunk + part * 8;
                *sum = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(offset)), _mm256_loadu_ps(x.add(offset)), *sum);
            }
        }
        let sum = _mm256_add_ps(_mm256_add_ps(sums[0], sums[1]), _mm256_add_ps(sums[2], sums[3]));
        let half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
        let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
        _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)))
    }

    /// 32 products per step: `maddubs` multiplies |x| (unsigned) by w * sign(x) and adds pairs
    /// into i16 (at most 2 * 127 * 127, no saturation), `madd` by ones widens pairs to i32.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_i8(row: &[i8], input: &[i8]) -> i32 {
        let ones = _mm256_set1_epi16(1);
        let mut sum = _mm256_setzero_si256();
        let (w, x) = (row.as_ptr(), input.as_ptr());
        for chunk in (0..row.len()).step_by(LANES_PER_ROW_CHUNK) {
            let weights = _mm256_loadu_si256(w.add(chunk) as *const __m256i);
            let inputs = _mm256_loadu_si256(x.add(chunk) as *const __m256i);
            let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(inputs, inputs), _mm256_sign_epi8(weights, inputs));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pairs, ones));
        }
        let half = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        let quarter = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0b01_00_11_10));
        _mm_cvtsi128_si32(_mm_add_epi32(quarter, _mm_shuffle_epi32(quarter, 0b10_11_00_01)))
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::LANES_PER_ROW_CHUNK;
    use std::arch::aarch64::*;

    /// Four accumulators of four lanes.
    #[inline]
    pub unsafe fn dot_f32(row: &[f32], input: &[f32]) -> f32 {
        let mut sums = [vdupq_n_f32(0.0); 4];
        let (w, x) = (row.as_ptr(), input.as_ptr());
        for chunk in (0..row.len()).step_by(16) {
            for (part, sum) in sums.iter_mut().enumerate() {
                let offset = chunk + part * 4;
                *sum = vfmaq_f32(*sum, vld1q_f32(w.add(offset)), vld1q_f32(x.add(offset)));
            }
        }
        vaddvq_f32(vaddq_f32(vaddq_f32(sums[0], sums[1]), vaddq_f32(sums[2], sums[3])))
    }

    /// `vmull_s8` widens 8 products to i16 (at most 127 * 127), `vpadalq_s16` adds pairs into i32.
    #[inline]
    pub unsafe fn dot_i8(row: &[i8], input: &[i8]) -> i32 {
        let mut sum = vdupq_n_s32(0);
        let (w, x) = (row.as_ptr(), input.as_ptr());
        for chunk in (0..row.len()).step_by(LANES_PER_ROW_CHUNK / 2) {
            let weights = vld1q_s8(w.add(chunk));
            let inputs = vld1q_s8(x.add(chunk));
            sum = vpadalq_s16(sum, vmull_s8(vget_low_s8(weights), vget_low_s8(inputs)));
            sum = vpadalq_s16(sum, vmull_high_s8(weights, inputs));
        }
        vaddvq_s32(sum)
    }
}

/// The kernels this CPU runs, each named on standard error as `what` checks it, with the ones
/// it lacks named as skipped: written past the test harness's capture, so a CI log shows which
/// kernels a run really checked.
#[cfg(test)]
pub(crate) fn kernels_on_this_cpu(what: &str) -> Vec<Kernel> {
    use std::io::Write as _;
    let mut kernels = Vec::new();
    let mut log = String::new();
    for (name, kernel) in Kernel::survey() {
        match kernel {
            Some(kernel) => {
                log += &format!("{what}: checks kernel {name}\n");
                kernels.push(kernel);
            }
            None => log += &format!("{what}: skips kernel {name}: this CPU lacks it\n"),
        }
    }
    // A failed write to standard error loses only the log line.
    let _ = std::io::stderr().write_all(log.as_bytes());
    kernels
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random values in -1..1.
    fn values(count: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn plain_matvec(weights: &[f32], input: &[f32], bias: &[f32]) -> Vec<f32> {
        weights
            .chunks_exact(input.len())
            .zip(bias)
            .map(|(row, b)| row.iter().zip(input).map(|(w, x)| (w * x) as f64).sum::<f64>() as f32 + b)
            .collect()
    }

    #[test]
    fn every_f32_kernel_matches_a_plain_matrix_product() {
        let (rows, cols) = (37, 96);
        let (weights, input, bias) = (values(rows * cols, 1), values(cols, 2), values(rows, 3));
        let expected = plain_matvec(&weights, &input, &bias);
        for kernel in kernels_on_this_cpu("f32 product") {
            let mut out = vec![1.0; rows];
            kernel.matvec_f32(&weights, &input, &bias, &mut out, Write::Add);
            for (got, want) in out.iter().zip(&expected) {
                assert!((got - (want + 1.0)).abs() < 1e-5, "{kernel:?}: {got} vs {}", want + 1.0);
            }
        }
    }

    /// Int8 weights with the extremes -127 and 127 in every row, random scales and biases.
    fn int8_rows(rows: usize, cols: usize, seed: u32) -> (Vec<i8>, Vec<f32>, Vec<f32>) {
        let mut weights: Vec<i8> = values(rows * cols, seed).iter().map(|v| (v * 127.0).round() as i8).collect();
        for row in weights.chunks_exact_mut(cols) {
            (row[0], row[cols - 1]) = (127, -127);
        }
        let scales: Vec<f32> = values(rows, seed + 1).iter().map(|v| v.abs() * 0.01 + 0.001).collect();
        (weights, scales, values(rows, seed + 2))
    }

    /// Every shape class the kernels split on: row counts below, at and between whole blocks and
    /// passes (8, 16, 64 and 128 rows), the default model's 307 logits, one to eight input chunks.
    #[test]
    fn every_int8_kernel_agrees_exactly_with_the_portable_one_and_matches_dequantized_math() {
        let kernels = kernels_on_this_cpu("int8 product");
        for (rows, cols) in [(1, 32), (7, 64), (8, 32), (41, 128), (64, 64), (67, 96), (128, 256), (200, 64), (307, 128)] {
            let (weights, scales, bias) = int8_rows(rows, cols, rows as u32);
            let real_input: Vec<f32> = values(cols, 7).iter().map(|v| v * 3.0).collect();
            let run = |kernel: Kernel, write: Write| {
                let mut quantized = vec![0i8; cols];
                let input_scale = kernel.quantize_input(&real_input, &mut quantized);
                let mut out = vec![0.5; rows];
                let input = QuantizedInput { values: &quantized, scale: input_scale };
                kernel.matvec_i8(&kernel.pack_i8(&weights, &scales, cols), input, &bias, &mut out, write);
                out
            };
            for write in [Write::Set, Write::Add] {
                let portable = run(Kernel::Portable, write);
                for &kernel in &kernels {
                    assert_eq!(run(kernel, write), portable, "{kernel:?} {rows}x{cols}: integer sums are exact");
                }
            }
            let mut quantized = vec![0i8; cols];
            let input_scale = quantize_activations(&real_input, &mut quantized);
            assert!(quantized.iter().all(|&q| q != i8::MIN), "-128 is never produced");
            let portable = run(Kernel::Portable, Write::Set);
            let dequantized: Vec<f32> = weights.iter().enumerate().map(|(i, &w)| w as f32 * scales[i / cols]).collect();
            let reference = plain_matvec(&dequantized, &real_input, &bias);
            for (got, want) in portable.iter().zip(&reference) {
                // The activation rounding error is at most half a step per element.
                let bound = 0.5 * input_scale * cols as f32 * 0.011 * 127.0;
                assert!((got - want).abs() <= bound, "{got} vs {want}");
            }
        }
    }

    #[test]
    fn every_int8_kernel_sums_exactly_at_the_extremes_of_int8() {
        let (rows, cols) = (19, 256);
        for kernel in kernels_on_this_cpu("int8 extremes") {
            for (weight, input) in [(127i8, 1.0f32), (127, -1.0), (-127, 1.0), (-127, -1.0)] {
                let matrix = kernel.pack_i8(&vec![weight; rows * cols], &vec![1.0; rows], cols);
                let mut quantized = vec![0i8; cols];
                let scale = kernel.quantize_input(&vec![input; cols], &mut quantized);
                let mut out = vec![0.0; rows];
                kernel.matvec_i8(&matrix, QuantizedInput { values: &quantized, scale }, &vec![0.0; rows], &mut out, Write::Set);
                let exact = (weight as i32 * 127 * input as i32 * cols as i32) as f32 * scale;
                assert!(out.iter().all(|&o| o == exact), "{kernel:?} {weight} x {input}: {out:?} vs {exact}");
            }
        }
    }

    #[test]
    fn the_vnni_input_encoding_is_the_symmetric_one_offset_by_128() {
        let values: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) * 0.37).collect();
        let mut symmetric = vec![0i8; 64];
        let scale = Kernel::Portable.quantize(&values, &mut symmetric);
        for kernel in kernels_on_this_cpu("input encoding") {
            let mut encoded = vec![0i8; 64];
            assert_eq!(kernel.quantize_input(&values, &mut encoded), scale, "{kernel:?}");
            let offset = matches!(kernel.int8_layout(), Layout::VnniBlocks { .. });
            let decoded: Vec<i8> = encoded.iter().map(|&q| if offset { q ^ i8::MIN } else { q }).collect();
            assert_eq!(decoded, symmetric, "{kernel:?}");
        }
    }

    /// Failed before (in release builds, silently reading past the weights; in debug builds
    /// with another message): the lengths were checked by `debug_assert!` only.
    #[test]
    #[should_panic(expected = "matvec: 3168 weights do not make 37 rows of 96")]
    fn an_f32_product_with_too_few_weights_panics_instead_of_reading_past_them() {
        let (rows, cols) = (37, 96);
        let (weights, input, bias) = (values(rows * cols - 384, 1), values(cols, 2), values(rows, 3));
        Kernel::detect().matvec_f32(&weights, &input, &bias, &mut vec![0.0; rows], Write::Set);
    }

    #[test]
    #[should_panic(expected = "matvec: input length 40 is not whole row chunks")]
    fn an_int8_product_with_a_ragged_input_panics_instead_of_reading_past_it() {
        let kernel = Kernel::detect();
        let (weights, scales, bias, input) = (vec![1i8; 4 * 40], vec![1.0; 4], vec![0.0; 4], vec![1i8; 40]);
        let matrix = kernel.pack_i8(&weights, &scales, 40);
        kernel.matvec_i8(&matrix, QuantizedInput { values: &input, scale: 1.0 }, &bias, &mut [0.0; 4], Write::Set);
    }

    #[test]
    #[should_panic(expected = "matvec: 128 weights do not make 8 rows of 32")]
    fn an_int8_product_into_more_outputs_than_rows_panics_instead_of_reading_past_them() {
        let kernel = Kernel::detect();
        let matrix = kernel.pack_i8(&[1i8; 4 * 32], &[1.0; 4], 32);
        kernel.matvec_i8(&matrix, QuantizedInput { values: &[1i8; 32], scale: 1.0 }, &[0.0; 8], &mut [0.0; 8], Write::Set);
    }

    #[test]
    #[should_panic(expected = "matvec_i8: input length is not the matrix's columns")]
    fn an_int8_product_with_a_longer_input_than_the_rows_panics() {
        let kernel = Kernel::detect();
        let matrix = kernel.pack_i8(&[1i8; 4 * 32], &[1.0; 4], 32);
        kernel.matvec_i8(&matrix, QuantizedInput { values: &[1i8; 64], scale: 1.0 }, &[0.0; 2], &mut [0.0; 2], Write::Set);
    }

    #[test]
    fn int8_weights_packed_for_one_kernel_are_refused_by_another() {
        let kernels = kernels_on_this_cpu("layout check");
        for &packer in &kernels {
            let matrix = packer.pack_i8(&[1i8; 4 * 32], &[1.0; 4], 32);
            for &reader in kernels.iter().filter(|reader| reader.int8_layout() != packer.int8_layout()) {
                let input = QuantizedInput { values: &[1i8; 32], scale: 1.0 };
                let refused = std::panic::catch_unwind(|| reader.matvec_i8(&matrix, input, &[0.0; 4], &mut [0.0; 4], Write::Set));
                assert!(refused.is_err(), "{reader:?} read weights packed for {packer:?}");
            }
        }
    }

    #[test]
    fn every_kernel_adds_rows_in_order_whole_chunks_and_tail() {
        let width = 150;
        let table = values(width * 9, 41);
        let rows = [3u16, 0, 8, 3, 5];
        let mut expected = values(width, 42);
        for &row in &rows {
            for (sum, value) in expected.iter_mut().zip(&table[row as usize * width..][..width]) {
                *sum += value;
            }
        }
        for kernel in kernels_on_this_cpu("add rows") {
            let mut out = values(width, 42);
            kernel.add_rows(&table, &rows, &mut out);
            assert_eq!(out, expected, "{kernel:?}");
        }
    }

    #[test]
    fn quantized_activations_use_the_full_range_and_round_to_nearest() {
        let mut out = [0i8; 8];
        let scale = quantize_activations(&[0.5, -1.0, 0.25, 0.0, 0.1, -0.3, 0.0, 0.0], &mut out);
        assert_eq!(scale, 1.0 / 127.0);
        assert_eq!(out, [64, -127, 32, 0, 13, -38, 0, 0], "63.5 rounds to the even 64");
        assert_eq!(quantize_activations(&[0.0; 8], &mut out), 0.0);
        assert_eq!(out, [0; 8]);
    }

    #[test]
    fn fast_exp_tanh_and_sigmoid_match_the_standard_library() {
        for step in -4000..=4000 {
            let x = step as f32 * 0.005;
            assert!((exp(x) - x.exp()).abs() <= 3e-7 * x.exp(), "exp({x})");
            assert!((tanh(x) - x.tanh()).abs() <= 4.5e-7, "tanh({x}): {} vs {}", tanh(x), x.tanh());
            assert!((sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() <= 2.5e-7, "sigmoid({x})");
        }
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert_eq!(sigmoid(-200.0), 0.0, "saturates without NaN");
        assert_eq!(sigmoid(200.0), 1.0);
    }

    #[test]
    fn fast_ln_matches_the_standard_library_on_every_kernel() {
        let mut inputs: Vec<f32> = (0..4000).map(|step| 1e-9 * 1.0105f32.powi(step)).collect();
        inputs.extend([1.0, 0.5, std::f32::consts::FRAC_1_SQRT_2, 2.0, 1.0 + 1e-7, 1.0 - 1e-7]);
        for &x in &inputs {
            assert!((ln(x) - x.ln()).abs() <= 2e-7 * x.ln().abs().max(1.0), "ln({x}): {} vs {}", ln(x), x.ln());
        }
        for kernel in kernels_on_this_cpu("ln") {
            let mut values = vec![0.0; inputs.len()];
            kernel.ln_offset(&inputs, 1e-9, &mut values);
            for (got, &x) in values.iter().zip(&inputs) {
                assert_eq!(*got, ln(x + 1e-9), "{kernel:?} at {x}");
            }
        }
    }

    #[test]
    fn running_maxima_see_every_value_on_every_kernel() {
        let values = values(307, 41);
        let max = values.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        for kernel in kernels_on_this_cpu("max_of") {
            assert_eq!(kernel.max_of(&values, f32::NEG_INFINITY), max, "{kernel:?}");
            // The largest value in a chunk's first and last lane, in later chunks and in the tail.
            for at in [0, 15, 16, 300, 306] {
                let mut lifted = values.clone();
                lifted[at] = 2.0;
                assert_eq!(kernel.max_of(&lifted, f32::NEG_INFINITY), 2.0, "{kernel:?} at {at}");
            }
            assert_eq!(kernel.max_of(&values[..3], 5.0), 5.0, "{kernel:?}");
            assert_eq!(kernel.max_of(&[], -1.0), -1.0, "{kernel:?}");
        }
    }

    #[test]
    fn sum_exp_and_scaled_exp_match_the_standard_library_on_every_kernel() {
        let logits: Vec<f32> = values(307, 31).iter().map(|v| v * 8.0).collect();
        let max = logits.iter().fold(f32::MIN, |a, &b| a.max(b));
        let exact: f64 = logits.iter().map(|&x| ((x - max) as f64).exp()).sum();
        for kernel in kernels_on_this_cpu("sum_exp, scaled_exp and exp_and_sum") {
            assert!((kernel.sum_exp(&logits, max) as f64 - exact).abs() < 1e-5 * exact, "{kernel:?}");
            let mut scaled = vec![0.0; 307];
            kernel.scaled_exp(&logits, max, 0.5, &mut scaled);
            for (got, &x) in scaled.iter().zip(&logits) {
                assert!((got - 0.5 * (x - max).exp()).abs() <= 1e-6, "{kernel:?}: {got} at {x}");
            }
            let mut exponentials = vec![0.0; 307];
            let sum = kernel.exp_and_sum(&logits, max, &mut exponentials);
            assert!((sum as f64 - exact).abs() < 1e-5 * exact, "{kernel:?}");
            for (got, &x) in exponentials.iter().zip(&logits) {
                assert!((got - (x - max).exp()).abs() <= 2e-6, "{kernel:?}: {got} at {x}");
            }
        }
    }

    #[test]
    fn gate_backward_matches_central_differences_on_every_kernel() {
        let (filter, gate, grad_out) = (values(64, 21), values(64, 22), values(64, 23));
        let filter: Vec<f32> = filter.iter().map(|v| v * 3.0).collect();
        for kernel in kernels_on_this_cpu("gate backward") {
            let (mut grad_filter, mut grad_gate) = (vec![0.0; 64], vec![0.0; 64]);
            kernel.gate_backward(&filter, &gate, &grad_out, &mut grad_filter, &mut grad_gate);
            for i in 0..64 {
                let (f, g, step) = (filter[i] as f64, gate[i] as f64, 1e-3);
                let exact = |f: f64, g: f64| f.tanh() / (1.0 + (-g).exp());
                let d_filter = grad_out[i] as f64 * (exact(f + step, g) - exact(f - step, g)) / (2.0 * step);
                let d_gate = grad_out[i] as f64 * (exact(f, g + step) - exact(f, g - step)) / (2.0 * step);
                assert!((grad_filter[i] as f64 - d_filter).abs() < 1e-5, "d filter {i}: {} vs {d_filter}", grad_filter[i]);
                assert!((grad_gate[i] as f64 - d_gate).abs() < 1e-5, "d gate {i}: {} vs {d_gate}", grad_gate[i]);
            }
        }
    }

    #[test]
    fn simd_and_portable_gate_quantization_and_softmax_parts_agree_exactly() {
        let (filter, gate) = (values(256, 11), values(256, 12));
        let scaled: Vec<f32> = filter.iter().map(|v| v * 9.0).collect();
        let run = |kernel: Kernel| {
            let mut gated = vec![0.0; 256];
            kernel.gate(&scaled, &gate, &mut gated);
            let mut quantized = vec![0i8; 256];
            let scale = kernel.quantize(&gated, &mut quantized);
            // 253 values: whole vectors and a tail.
            let (mut exponentials, mut logarithms) = (vec![0.0; 253], vec![0.0; 253]);
            let (max, sum) = (kernel.max_of(&scaled[..253], 0.0), kernel.exp_and_sum(&scaled[..253], 9.0, &mut exponentials));
            kernel.ln_offset(&exponentials, 1e-9, &mut logarithms);
            kernel.scaled_exp(&scaled[..253], 9.0, 0.5, &mut exponentials[..100]);
            (gated, quantized, scale, exponentials, logarithms, max, sum)
        };
        for kernel in kernels_on_this_cpu("gate, quantization, exponentials and logarithms") {
            assert_eq!(run(kernel), run(Kernel::Portable), "{kernel:?}");
        }
        let mut ties = [0.0f32; 32];
        ties[..8].copy_from_slice(&[127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.49]);
        let quantize = |kernel: Kernel| {
            let mut out = [0i8; 32];
            (kernel.quantize(&ties, &mut out), out)
        };
        for kernel in kernels_on_this_cpu("quantization ties") {
            assert_eq!(quantize(kernel), quantize(Kernel::Portable), "{kernel:?}");
        }
        assert_eq!(&quantize(Kernel::Portable).1[..8], &[127, 0, 2, 2, 0, -2, -2, 3]);
    }
}

