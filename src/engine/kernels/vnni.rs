//! Int8 matrix-vector products with `vpdpbusd`: 64 (AVX-512 VNNI) or 32 (AVX-VNNI) multiply-adds
//! per instruction into i32, read from [`Layout::VnniBlocks`] so each block's sums come out one
//! row per lane. Both finish every row with the same operations, in the same order, as the
//! portable kernel, so the results are bit-identical.

use std::arch::x86_64::*;

use super::int8_matrix::{vnni_passes, Int8Matrix, Layout, NARROW_PASS_BLOCKS, VNNI_COLUMNS_PER_GROUP, WIDE_PASS_BLOCKS};
use super::{QuantizedInput, Write};

/// Rows of an AVX-512 block: the i32 lanes of a zmm register.
pub const AVX512_ROWS_PER_BLOCK: usize = 16;

/// Rows of an AVX-VNNI block: the i32 lanes of a ymm register.
pub const AVX_VNNI_ROWS_PER_BLOCK: usize = 8;

/// Four input bytes as one i32, offset to unsigned (`x ^ 0x80 = x + 128`).
#[inline(always)]
unsafe fn offset_group(input: *const i8, group: usize) -> i32 {
    (input.add(group * VNNI_COLUMNS_PER_GROUP) as *const i32).read_unaligned() ^ i32::from_ne_bytes([0x80; 4])
}

/// AVX-512 VNNI: `out[r] (=|+=) (w[r] . x) * scale[r] * input_scale + bias[r]`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn matvec_i8_avx512(weights: &Int8Matrix, input: QuantizedInput, bias: &[f32], out: &mut [f32], write: Write) {
    debug_assert_eq!(weights.layout, Layout::VnniBlocks { rows_per_block: AVX512_ROWS_PER_BLOCK });
    let blocks = weights.rows.div_ceil(AVX512_ROWS_PER_BLOCK);
    let out = out.as_mut_ptr();
    for (first, width) in vnni_passes(blocks) {
        match width {
            WIDE_PASS_BLOCKS => pass_avx512::<WIDE_PASS_BLOCKS>(weights, first, input, bias, out, write),
            NARROW_PASS_BLOCKS => pass_avx512::<NARROW_PASS_BLOCKS>(weights, first, input, bias, out, write),
            _ => pass_avx512::<1>(weights, first, input, bias, out, write),
        }
    }
}

/// Accumulates `N` blocks from `first` and writes their rows.
#[inline(always)]
unsafe fn pass_avx512<const N: usize>(weights: &Int8Matrix, first: usize, input: QuantizedInput, bias: &[f32], out: *mut f32, write: Write) {
    let sums = accumulate_avx512::<N>(weights, first, input.values.as_ptr());
    for (offset, sum) in sums.into_iter().enumerate() {
        finish_avx512(weights, first + offset, sum, input.scale, bias, out, write);
    }
}

/// The i32 sums of the `N` blocks of the pass from block `first`, of `x + 128` against the
/// weights, read as one stream.
#[inline(always)]
unsafe fn accumulate_avx512<const N: usize>(weights: &Int8Matrix, first: usize, input: *const i8) -> [__m512i; N] {
    let mut at = weights.values.as_ptr().add(first * AVX512_ROWS_PER_BLOCK * weights.cols) as *const __m512i;
    let mut sums = [_mm512_setzero_si512(); N];
    for group in 0..weights.cols / VNNI_COLUMNS_PER_GROUP {
        let inputs = _mm512_set1_epi32(offset_group(input, group));
        for sum in sums.iter_mut() {
            *sum = _mm512_dpbusd_epi32(*sum, inputs, _mm512_loadu_si512(at));
            at = at.add(1);
        }
    }
    sums
}

/// Scales block `block`'s sums to real values and writes the rows that exist (masked in the
/// last block).
#[inline(always)]
unsafe fn finish_avx512(weights: &Int8Matrix, block: usize, sum: __m512i, input_scale: f32, bias: &[f32], out: *mut f32, write: Write) {
    let first = block * AVX512_ROWS_PER_BLOCK;
    let rows = weights.rows - first;
    let correction = _mm512_loadu_si512(weights.offset_corrections.as_ptr().add(first) as *const __m512i);
    let dot = _mm512_cvtepi32_ps(_mm512_sub_epi32(sum, correction));
    let scales = _mm512_mul_ps(_mm512_loadu_ps(weights.scales.as_ptr().add(first)), _mm512_set1_ps(input_scale));
    let (bias, out) = (bias.as_ptr().add(first), out.add(first));
    if rows >= AVX512_ROWS_PER_BLOCK {
        let value = _mm512_add_ps(_mm512_mul_ps(dot, scales), _mm512_loadu_ps(bias));
        match write {
            Write::Set => _mm512_storeu_ps(out, value),
            Write::Add => _mm512_storeu_ps(out, _mm512_add_ps(_mm512_loadu_ps(out), value)),
        }
    } else {
        let mask: __mmask16 = (1 << rows) - 1;
        let value = _mm512_add_ps(_mm512_mul_ps(dot, scales), _mm512_maskz_loadu_ps(mask, bias));
        match write {
            Write::Set => _mm512_mask_storeu_ps(out, mask, value),
            Write::Add => _mm512_mask_storeu_ps(out, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), value)),
        }
    }
}

/// AVX-VNNI (the VEX form, on CPUs with AVX2 but without AVX-512): as [`matvec_i8_avx512`] on
/// eight-row blocks.
#[target_feature(enable = "avx2,fma,avxvnni")]
pub unsafe fn matvec_i8_avx_vnni(weights: &Int8Matrix, input: QuantizedInput, bias: &[f32], out: &mut [f32], write: Write) {
    debug_assert_eq!(weights.layout, Layout::VnniBlocks { rows_per_block: AVX_VNNI_ROWS_PER_BLOCK });
    let blocks = weights.rows.div_ceil(AVX_VNNI_ROWS_PER_BLOCK);
    let out = out.as_mut_ptr();
    for (first, width) in vnni_passes(blocks) {
        match width {
            WIDE_PASS_BLOCKS => pass_avx_vnni::<WIDE_PASS_BLOCKS>(weights, first, input, bias, out, write),
            NARROW_PASS_BLOCKS => pass_avx_vnni::<NARROW_PASS_BLOCKS>(weights, first, input, bias, out, write),
            _ => pass_avx_vnni::<1>(weights, first, input, bias, out, write),
        }
    }
}

/// As [`pass_avx512`] on eight-row blocks.
#[inline(always)]
unsafe fn pass_avx_vnni<const N: usize>(weights: &Int8Matrix, first: usize, input: QuantizedInput, bias: &[f32], out: *mut f32, write: Write) {
    let sums = accumulate_avx_vnni::<N>(weights, first, input.values.as_ptr());
    for (offset, sum) in sums.into_iter().enumerate() {
        finish_avx_vnni(weights, first + offset, sum, input.scale, bias, out, write);
    }
}

/// As [`accumulate_avx512`] on eight-row blocks.
#[inline(always)]
unsafe fn accumulate_avx_vnni<const N: usize>(weights: &Int8Matrix, first: usize, input: *const i8) -> [__m256i; N] {
    let mut at = weights.values.as_ptr().add(first * AVX_VNNI_ROWS_PER_BLOCK * weights.cols) as *const __m256i;
    let mut sums = [_mm256_setzero_si256(); N];
    for group in 0..weights.cols / VNNI_COLUMNS_PER_GROUP {
        let inputs = _mm256_set1_epi32(offset_group(input, group));
        for sum in sums.iter_mut() {
            *sum = _mm256_dpbusd_avx_epi32(*sum, inputs, _mm256_loadu_si256(at));
            at = at.add(1);
        }
    }
    sums
}

/// As [`finish_avx512`] on eight-row blocks (AVX2 masked loads and stores).
#[inline(always)]
unsafe fn finish_avx_vnni(weights: &Int8Matrix, block: usize, sum: __m256i, input_scale: f32, bias: &[f32], out: *mut f32, write: Write) {
    let first = block * AVX_VNNI_ROWS_PER_BLOCK;
    let rows = (weights.rows - first).min(AVX_VNNI_ROWS_PER_BLOCK) as i32;
    let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    let correction = _mm256_loadu_si256(weights.offset_corrections.as_ptr().add(first) as *const __m256i);
    let dot = _mm256_cvtepi32_ps(_mm256_sub_epi32(sum, correction));
    let scales = _mm256_mul_ps(_mm256_loadu_ps(weights.scales.as_ptr().add(first)), _mm256_set1_ps(input_scale));
    let value = _mm256_add_ps(_mm256_mul_ps(dot, scales), _mm256_maskload_ps(bias.as_ptr().add(first), mask));
    let out = out.add(first);
    match write {
        Write::Set => _mm256_maskstore_ps(out, mask, value),
        Write::Add => _mm256_maskstore_ps(out, mask, _mm256_add_ps(_mm256_maskload_ps(out, mask), value)),
    }
}
