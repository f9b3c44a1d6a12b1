//! Int8 matrix-vector products with `vpdpbusd`: 64 (AVX-512 VNNI) or 32 (AVX-VNNI) multiply-adds
//! per instruction into i32, read from [`Layout::VnniBlocks`] so each block's sums come out one
//! row per lane. Both finish every row with the same operations, in the same order, as the
//! portable kernel, so the results are bit-identical.

use std::arch::x86_64::*;

use super::int8_matrix::{Int8Matrix, Layout, VNNI_COLUMNS_PER_GROUP};
use super::{QuantizedInput, Write};

/// Blocks accumulated together, sharing each broadcast of the input (and keeping four
/// independent `vpdpbusd` chains in flight).
const BLOCKS_PER_PASS: usize = 4;

/// Rows of an AVX-512 block: the i32 lanes of a zmm register.
pub const AVX512_ROWS_PER_BLOCK: usize = 16;

/// Rows of an AVX-VNNI block: the i32 lanes of a ymm register.
pub const AVX_VNNI_ROWS_PER_BLOCK: usize = 8;

/// Four input bytes as one i32, offset to unsigned (`x ^ 0x80 = x + 128`).
#[inline(always)]
unsafe fn offset_group(input: *const i8, group: usize) -> i32 {
    (input.add(group * VNNI_COLUMNS_PER_GROUP) as *const i32).read_unaligned() ^ i32::from_ne_bytes([0x80; 4])
}

/// Runs `block_pass::<BLOCKS_PER_PASS>` over whole passes, then single blocks.
#[inline(always)]
fn for_each_pass(blocks: usize, mut pass: impl FnMut(usize, usize)) {
    let whole = blocks / BLOCKS_PER_PASS * BLOCKS_PER_PASS;
    for first in (0..whole).step_by(BLOCKS_PER_PASS) {
        pass(first, BLOCKS_PER_PASS);
    }
    for block in whole..blocks {
        pass(block, 1);
    }
}

/// AVX-512 VNNI: `out[r] (=|+=) (w[r] . x) * scale[r] * input_scale + bias[r]`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn matvec_i8_avx512(weights: &Int8Matrix, input: QuantizedInput, bias: &[f32], out: &mut [f32], write: Write) {
    debug_assert_eq!(weights.layout, Layout::VnniBlocks { rows_per_block: AVX512_ROWS_PER_BLOCK });
    let blocks = weights.rows.div_ceil(AVX512_ROWS_PER_BLOCK);
    for_each_pass(blocks, |first, count| unsafe {
        if count == BLOCKS_PER_PASS {
            let sums = accumulate_avx512::<BLOCKS_PER_PASS>(weights, first, input.values.as_ptr());
            for (offset, sum) in sums.into_iter().enumerate() {
                finish_avx512(weights, first + offset, sum, input.scale, bias, out, write);
            }
        } else {
            let [sum] = accumulate_avx512::<1>(weights, first, input.values.as_ptr());
            finish_avx512(weights, first, sum, input.scale, bias, out, write);
        }
    })
}

/// The i32 sums of `N` blocks from `first`, of `x + 128` against the weights.
#[inline(always)]
unsafe fn accumulate_avx512<const N: usize>(weights: &Int8Matrix, first: usize, input: *const i8) -> [__m512i; N] {
    let block_bytes = AVX512_ROWS_PER_BLOCK * weights.cols;
    let blocks = weights.values.as_ptr().add(first * block_bytes);
    let mut sums = [_mm512_setzero_si512(); N];
    for group in 0..weights.cols / VNNI_COLUMNS_PER_GROUP {
        let inputs = _mm512_set1_epi32(offset_group(input, group));
        for (block, sum) in sums.iter_mut().enumerate() {
            let at = blocks.add(block * block_bytes + group * 64) as *const __m512i;
            *sum = _mm512_dpbusd_epi32(*sum, inputs, _mm512_loadu_si512(at));
        }
    }
    sums
}

/// Scales block `block`'s sums to real values and writes the rows that exist (masked in the
/// last block).
#[inline(always)]
unsafe fn finish_avx512(weights: &Int8Matrix, block: usize, sum: __m512i, input_scale: f32, bias: &[f32], out: &mut [f32], write: Write) {
    let first = block * AVX512_ROWS_PER_BLOCK;
    let rows = (weights.rows - first).min(AVX512_ROWS_PER_BLOCK);
    let mask: __mmask16 = if rows == AVX512_ROWS_PER_BLOCK { !0 } else { (1 << rows) - 1 };
    let correction = _mm512_loadu_si512(weights.offset_corrections.as_ptr().add(first) as *const __m512i);
    let dot = _mm512_cvtepi32_ps(_mm512_sub_epi32(sum, correction));
    let scales = _mm512_mul_ps(_mm512_loadu_ps(weights.scales.as_ptr().add(first)), _mm512_set1_ps(input_scale));
    let value = _mm512_add_ps(_mm512_mul_ps(dot, scales), _mm512_maskz_loadu_ps(mask, bias.as_ptr().add(first)));
    let out = out.as_mut_ptr().add(first);
    match write {
        Write::Set => _mm512_mask_storeu_ps(out, mask, value),
        Write::Add => _mm512_mask_storeu_ps(out, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), value)),
    }
}

/// AVX-VNNI (the VEX form, on CPUs with AVX2 but without AVX-512): as [`matvec_i8_avx512`] on
/// eight-row blocks.
#[target_feature(enable = "avx2,fma,avxvnni")]
pub unsafe fn matvec_i8_avx_vnni(weights: &Int8Matrix, input: QuantizedInput, bias: &[f32], out: &mut [f32], write: Write) {
    debug_assert_eq!(weights.layout, Layout::VnniBlocks { rows_per_block: AVX_VNNI_ROWS_PER_BLOCK });
    let blocks = weights.rows.div_ceil(AVX_VNNI_ROWS_PER_BLOCK);
    for_each_pass(blocks, |first, count| unsafe {
        if count == BLOCKS_PER_PASS {
            let sums = accumulate_avx_vnni::<BLOCKS_PER_PASS>(weights, first, input.values.as_ptr());
            for (offset, sum) in sums.into_iter().enumerate() {
                finish_avx_vnni(weights, first + offset, sum, input.scale, bias, out, write);
            }
        } else {
            let [sum] = accumulate_avx_vnni::<1>(weights, first, input.values.as_ptr());
            finish_avx_vnni(weights, first, sum, input.scale, bias, out, write);
        }
    })
}

/// As [`accumulate_avx512`] on eight-row blocks.
#[inline(always)]
unsafe fn accumulate_avx_vnni<const N: usize>(weights: &Int8Matrix, first: usize, input: *const i8) -> [__m256i; N] {
    let block_bytes = AVX_VNNI_ROWS_PER_BLOCK * weights.cols;
    let blocks = weights.values.as_ptr().add(first * block_bytes);
    let mut sums = [_mm256_setzero_si256(); N];
    for group in 0..weights.cols / VNNI_COLUMNS_PER_GROUP {
        let inputs = _mm256_set1_epi32(offset_group(input, group));
        for (block, sum) in sums.iter_mut().enumerate() {
            let at = blocks.add(block * block_bytes + group * 32) as *const __m256i;
            *sum = _mm256_dpbusd_avx_epi32(*sum, inputs, _mm256_loadu_si256(at));
        }
    }
    sums
}

/// As [`finish_avx512`] on eight-row blocks (AVX2 masked loads and stores).
#[inline(always)]
unsafe fn finish_avx_vnni(weights: &Int8Matrix, block: usize, sum: __m256i, input_scale: f32, bias: &[f32], out: &mut [f32], write: Write) {
    let first = block * AVX_VNNI_ROWS_PER_BLOCK;
    let rows = (weights.rows - first).min(AVX_VNNI_ROWS_PER_BLOCK) as i32;
    let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    let correction = _mm256_loadu_si256(weights.offset_corrections.as_ptr().add(first) as *const __m256i);
    let dot = _mm256_cvtepi32_ps(_mm256_sub_epi32(sum, correction));
    let scales = _mm256_mul_ps(_mm256_loadu_ps(weights.scales.as_ptr().add(first)), _mm256_set1_ps(input_scale));
    let value = _mm256_add_ps(_mm256_mul_ps(dot, scales), _mm256_maskload_ps(bias.as_ptr().add(first), mask));
    let out = out.as_mut_ptr().add(first);
    match write {
        Write::Set => _mm256_maskstore_ps(out, mask, value),
        Write::Add => _mm256_maskstore_ps(out, mask, _mm256_add_ps(_mm256_maskload_ps(out, mask), value)),
    }
}
