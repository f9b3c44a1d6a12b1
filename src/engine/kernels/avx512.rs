//! The element-wise parts of a step on zmm registers, for the AVX-512 VNNI kernel: the gate,
//! activation quantization, the input layer's sum of conditioning rows and the copy head's
//! exponentials and logarithms. Each gives the same bits as its portable version (same
//! operations, same order).

use std::arch::x86_64::*;

use super::{add_rows_lanes, exp_and_sum_lanes, gate_lanes, ln_offset_lanes, max_of_lanes, INT8_MAX_MAGNITUDE, LANES_PER_ROW_CHUNK};

/// Values in a zmm register.
const F32_LANES: usize = 16;

/// `gate_lanes` compiled for zmm registers: sixteen lanes of the polynomial exponential.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn gate(filter: &[f32], gate: &[f32], out: &mut [f32]) {
    gate_lanes(filter, gate, out)
}

/// `add_rows_lanes` compiled for zmm registers.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn add_rows(table: &[f32], rows: &[u16], out: &mut [f32]) {
    add_rows_lanes(table, rows, out)
}

/// `exp_and_sum_lanes` compiled for zmm registers: the copy head's attention over its window.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn exp_and_sum(values: &[f32], shift: f32, out: &mut [f32]) -> f32 {
    exp_and_sum_lanes(values, shift, out)
}

/// `max_of_lanes` compiled for zmm registers.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn max_of(values: &[f32], floor: f32) -> f32 {
    max_of_lanes(values, floor)
}

/// `ln_offset_lanes` compiled for zmm registers.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn ln_offset(values: &[f32], offset: f32, out: &mut [f32]) {
    ln_offset_lanes(values, offset, out)
}

/// As `quantize_activations`, sixteen values per step: max |x|, then scale, clamp, round
/// (`cvtps2dq`, ties to even) and narrow to int8 (`vpmovdb`; the values already fit); with
/// `OFFSET`, plus 128 (`x ^ 0x80`), the VNNI input encoding.
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub unsafe fn quantize<const OFFSET: bool>(values: &[f32], out: &mut [i8]) -> f32 {
    debug_assert!(values.len().is_multiple_of(LANES_PER_ROW_CHUNK) && out.len() >= values.len());
    let mut maxima = _mm512_setzero_ps();
    for chunk in values.chunks_exact(F32_LANES) {
        maxima = _mm512_max_ps(maxima, _mm512_abs_ps(_mm512_loadu_ps(chunk.as_ptr())));
    }
    let max_magnitude = _mm512_reduce_max_ps(maxima);
    let steps_per_unit = if max_magnitude > 0.0 { INT8_MAX_MAGNITUDE / max_magnitude } else { 0.0 };
    let (scale, low, high) =
        (_mm512_set1_ps(steps_per_unit), _mm512_set1_ps(-INT8_MAX_MAGNITUDE), _mm512_set1_ps(INT8_MAX_MAGNITUDE));
    for (chunk, q) in values.chunks_exact(F32_LANES).zip(out.chunks_exact_mut(F32_LANES)) {
        let scaled = _mm512_mul_ps(_mm512_loadu_ps(chunk.as_ptr()), scale);
        let rounded = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(scaled, low), high));
        let bytes = _mm512_cvtepi32_epi8(rounded);
        let bytes = if OFFSET { _mm_xor_si128(bytes, _mm_set1_epi8(i8::MIN)) } else { bytes };
        _mm_storeu_si128(q.as_mut_ptr() as *mut __m128i, bytes);
    }
    max_magnitude / INT8_MAX_MAGNITUDE
}
