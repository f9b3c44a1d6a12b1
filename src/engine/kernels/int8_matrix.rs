//! Int8 weights in the layout the kernel that reads them wants: rows of padded columns for the
//! row-by-row kernels (portable, AVX2, NEON), or VNNI blocks for `vpdpbusd`.
//!
//! A VNNI block holds `rows_per_block` rows (as many as a vector has i32 lanes); its group `g` is
//! the block's four columns `4 g .. 4 g + 4`: byte `4 r + j` is `w[row r of the block][4 g + j]`,
//! so one `vpdpbusd` with four input values broadcast to every lane adds four products to each of
//! the block's rows, and a block's sums come out one row per lane, with no horizontal additions.
//! The kernels accumulate blocks in passes (see [`vnni_passes`]) that share each broadcast; a
//! pass's groups are stored in the order the kernel reads them (group by group, the pass's blocks
//! side by side within a group), so a product reads its weights as one sequential stream, which
//! the hardware prefetchers follow. `vpdpbusd` multiplies unsigned by signed bytes: the kernels
//! feed `x + 128` (unsigned) against the signed weights and subtract `128 * row sum` afterwards,
//! exactly, in i32.

/// The offset that makes a symmetric int8 activation unsigned for `vpdpbusd` (`x ^ 0x80`).
pub const VNNI_INPUT_OFFSET: i32 = 128;

/// Columns one `vpdpbusd` lane multiplies and adds.
pub const VNNI_COLUMNS_PER_GROUP: usize = 4;

/// Blocks accumulated together in a wide pass, sharing each broadcast of the input and keeping as
/// many independent `vpdpbusd` chains in flight (a whole 128-row layer of the default model on
/// AVX-512).
pub const WIDE_PASS_BLOCKS: usize = 8;

/// Blocks of a narrow pass, after the wide ones (the default model's 64-row residual layers).
pub const NARROW_PASS_BLOCKS: usize = 4;

/// The passes over `blocks` blocks, as (first block, blocks in the pass): wide passes while they
/// fit, then narrow ones, then single blocks.
pub fn vnni_passes(blocks: usize) -> impl Iterator<Item = (usize, usize)> {
    let (wide, narrow) = pass_boundaries(blocks);
    let passes = |from: usize, to: usize, width: usize| (from..to).step_by(width).map(move |first| (first, width));
    passes(0, wide, WIDE_PASS_BLOCKS).chain(passes(wide, narrow, NARROW_PASS_BLOCKS)).chain(passes(narrow, blocks, 1))
}

/// Where the wide passes over `blocks` blocks end, and where the narrow ones end.
fn pass_boundaries(blocks: usize) -> (usize, usize) {
    let wide = blocks / WIDE_PASS_BLOCKS * WIDE_PASS_BLOCKS;
    (wide, wide + (blocks - wide) / NARROW_PASS_BLOCKS * NARROW_PASS_BLOCKS)
}

/// The pass of [`vnni_passes`] that holds `block`, as (first block, blocks in the pass).
fn pass_of(block: usize, blocks: usize) -> (usize, usize) {
    let (wide, narrow) = pass_boundaries(blocks);
    if block < wide {
        (block / WIDE_PASS_BLOCKS * WIDE_PASS_BLOCKS, WIDE_PASS_BLOCKS)
    } else if block < narrow {
        (wide + (block - wide) / NARROW_PASS_BLOCKS * NARROW_PASS_BLOCKS, NARROW_PASS_BLOCKS)
    } else {
        (block, 1)
    }
}

/// Bytes in a cache line, the size of a zmm load.
const CACHE_LINE_BYTES: usize = 64;

/// One cache line of weights, aligned to one.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, PartialEq)]
struct CacheLine([i8; CACHE_LINE_BYTES]);

/// Weights stored from the start of a cache line. The kernels read them in 64-byte (zmm) or
/// 32-byte steps from the start; on an allocator's 16-byte alignment most of those loads would
/// straddle two lines, each costing two: stored 16 bytes off a line, the default model's
/// AVX-512 step took 8.1 µs instead of 6.9 (BENCHMARKS.md, 2026-12-04).
#[derive(Clone, Debug, PartialEq)]
pub struct LineAlignedBytes {
    /// The bytes, then zeros to the end of the last line.
    lines: Vec<CacheLine>,
    /// How many of the bytes are real.
    len: usize,
}

impl LineAlignedBytes {
    /// A line-aligned copy of `bytes`.
    fn copy_of(bytes: &[i8]) -> Self {
        let mut lines = vec![CacheLine([0; CACHE_LINE_BYTES]); bytes.len().div_ceil(CACHE_LINE_BYTES)];
        for (line, chunk) in lines.iter_mut().zip(bytes.chunks(CACHE_LINE_BYTES)) {
            line.0[..chunk.len()].copy_from_slice(chunk);
        }
        Self { lines, len: bytes.len() }
    }
}

impl std::ops::Deref for LineAlignedBytes {
    type Target = [i8];

    fn deref(&self) -> &[i8] {
        // SAFETY: `CacheLine` is `repr(C)` over a byte array with no padding (its size is its
        // alignment), so the lines are `64 * lines.len() >= len` contiguous initialised bytes.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<i8>(), self.len) }
    }
}

impl std::ops::DerefMut for LineAlignedBytes {
    fn deref_mut(&mut self) -> &mut [i8] {
        // SAFETY: as in `deref`; any byte is a valid `i8`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<i8>(), self.len) }
    }
}

/// How a matrix's bytes are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `rows x cols`, one row after another.
    RowMajor,
    /// VNNI blocks of `rows_per_block` rows by [`VNNI_COLUMNS_PER_GROUP`] columns, block after
    /// block, the last block's missing rows zero.
    VnniBlocks {
        /// The i32 lanes of the kernel's vector: 16 (AVX-512) or 8 (AVX-VNNI).
        rows_per_block: usize,
    },
}

/// A symmetric int8 matrix with per-row scales, laid out for one kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct Int8Matrix {
    /// The weights, in `layout` order.
    pub(super) values: LineAlignedBytes,
    /// Real value of one int8 step, per row; zeros for the padding rows of the last VNNI block
    /// so whole blocks can be loaded.
    pub(super) scales: Vec<f32>,
    /// `128 * sum of the row's weights` (VNNI layouts only, padded like `scales`): what feeding
    /// `x + 128` adds to each row's sum.
    pub(super) offset_corrections: Vec<i32>,
    /// Real output rows.
    pub(super) rows: usize,
    /// Columns, a whole number of row chunks (the input's padded length).
    pub(super) cols: usize,
    /// The byte order, which must be the reading kernel's.
    pub(super) layout: Layout,
}

impl Int8Matrix {
    /// Lays out `rows x cols` row-major weights (`cols` whole row chunks) and their scales.
    pub fn new(values: &[i8], scales: &[f32], cols: usize, layout: Layout) -> Self {
        let rows = scales.len();
        assert_eq!(values.len(), rows * cols, "int8 matrix: {} weights do not make {rows} rows of {cols}", values.len());
        match layout {
            Layout::RowMajor => Self {
                values: LineAlignedBytes::copy_of(values),
                scales: scales.to_vec(),
                offset_corrections: Vec::new(),
                rows,
                cols,
                layout,
            },
            Layout::VnniBlocks { rows_per_block } => {
                let padded_rows = rows.div_ceil(rows_per_block) * rows_per_block;
                let mut padded_scales = scales.to_vec();
                padded_scales.resize(padded_rows, 0.0);
                let mut offset_corrections: Vec<i32> = values.chunks_exact(cols).map(offset_correction).collect();
                offset_corrections.resize(padded_rows, 0);
                Self {
                    values: LineAlignedBytes::copy_of(&vnni_blocks(values, rows, cols, rows_per_block)),
                    scales: padded_scales,
                    offset_corrections,
                    rows,
                    cols,
                    layout,
                }
            }
        }
    }

    /// Number of output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes one product reads: the weights, the scales and any offset corrections.
    pub fn bytes(&self) -> usize {
        self.values.len() + 4 * (self.scales.len() + self.offset_corrections.len())
    }

    /// Overwrites row `row` with `values` (`cols` of them) and its scale: the copy head writes
    /// one key a step into its ring this way, a row in place, never repacking the matrix.
    pub fn set_row(&mut self, row: usize, values: &[i8], scale: f32) {
        assert!(row < self.rows && values.len() == self.cols, "int8 matrix: no row {row} of {} values", values.len());
        self.scales[row] = scale;
        match self.layout {
            Layout::RowMajor => self.values[row * self.cols..][..self.cols].copy_from_slice(values),
            Layout::VnniBlocks { rows_per_block } => {
                for (col, &value) in values.iter().enumerate() {
                    self.values[vnni_position(row, col, self.rows, self.cols, rows_per_block)] = value;
                }
                self.offset_corrections[row] = offset_correction(values);
            }
        }
    }
}

/// What the input's offset adds to a row's product, `128 * (sum of the row's weights)`: the VNNI
/// kernels subtract it to get the product of the unoffset input.
fn offset_correction(row: &[i8]) -> i32 {
    VNNI_INPUT_OFFSET * row.iter().map(|&w| w as i32).sum::<i32>()
}

/// Where weight (`row`, `col`) of a `rows x cols` matrix lies in its VNNI blocks: in its pass
/// (see the module documentation), group by group, the pass's blocks side by side in a group,
/// four columns of a row in its lane.
fn vnni_position(row: usize, col: usize, rows: usize, cols: usize, rows_per_block: usize) -> usize {
    let (block, row_in_block) = (row / rows_per_block, row % rows_per_block);
    let (first, width) = pass_of(block, rows.div_ceil(rows_per_block));
    let (group, col_in_group) = (col / VNNI_COLUMNS_PER_GROUP, col % VNNI_COLUMNS_PER_GROUP);
    let block_bytes = rows_per_block * cols;
    let group_bytes = rows_per_block * VNNI_COLUMNS_PER_GROUP;
    first * block_bytes + (group * width + block - first) * group_bytes + row_in_block * VNNI_COLUMNS_PER_GROUP + col_in_group
}

/// Reorders row-major weights into VNNI blocks, pass by pass (see the module documentation).
fn vnni_blocks(values: &[i8], rows: usize, cols: usize, rows_per_block: usize) -> Vec<i8> {
    let mut packed = vec![0; rows.div_ceil(rows_per_block) * rows_per_block * cols];
    for (row, weights) in values.chunks_exact(cols).enumerate() {
        for (col, &weight) in weights.iter().enumerate() {
            packed[vnni_position(row, col, rows, cols, rows_per_block)] = weight;
        }
    }
    packed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_cover_the_blocks_wide_then_narrow_then_single() {
        let passes = |blocks| vnni_passes(blocks).collect::<Vec<_>>();
        assert_eq!(passes(20), [(0, 8), (8, 8), (16, 4)]);
        assert_eq!(passes(15), [(0, 8), (8, 4), (12, 1), (13, 1), (14, 1)]);
        assert_eq!(passes(3), [(0, 1), (1, 1), (2, 1)]);
        assert_eq!(passes(0), []);
    }

    #[test]
    fn a_pass_stores_its_blocks_side_by_side_group_by_group() {
        // 16 rows of 4 columns, 2 rows per block: 8 blocks, one wide pass of one group. Row r,
        // column c holds 4 r + c, so the pass is the rows in order.
        let values: Vec<i8> = (0..64).collect();
        let matrix = Int8Matrix::new(&values, &[1.0; 16], 4, Layout::VnniBlocks { rows_per_block: 2 });
        assert_eq!(*matrix.values, *values);
        // 16 rows of 8 columns: group 0 of every block (columns 0..4 of every row), then group 1.
        let values: Vec<i8> = (0..16).flat_map(|r| (0..8).map(move |c| (8 * r + c) as i8)).collect();
        let matrix = Int8Matrix::new(&values, &[1.0; 16], 8, Layout::VnniBlocks { rows_per_block: 2 });
        let expected: Vec<i8> =
            (0..2).flat_map(|g| (0..16).flat_map(move |r| (0..4).map(move |j| (8 * r + 4 * g + j) as i8))).collect();
        assert_eq!(*matrix.values, *expected);
    }

    #[test]
    fn weights_start_on_a_cache_line_in_every_layout() {
        let values: Vec<i8> = (0..96).map(|v| v as i8).collect();
        for layout in [Layout::RowMajor, Layout::VnniBlocks { rows_per_block: 16 }, Layout::VnniBlocks { rows_per_block: 8 }] {
            let matrix = Int8Matrix::new(&values, &[1.0; 3], 32, layout);
            assert_eq!(matrix.values.as_ptr() as usize % CACHE_LINE_BYTES, 0, "{layout:?}");
            assert_eq!(matrix.values.len(), if layout == Layout::RowMajor { 96 } else { 32 * matrix.scales.len() });
        }
    }

    #[test]
    fn a_row_set_in_place_is_the_row_packed_from_the_start_in_every_layout() {
        // 43 rows of 8 columns, each value its own: in 2-row blocks two wide passes, a narrow one
        // and two single blocks. Set row by row, last first, into a zero matrix.
        let (rows, cols) = (43, 8);
        let values: Vec<i8> = (0..rows * cols).map(|v| (v % 251) as i8).collect();
        let scales: Vec<f32> = (0..rows).map(|r| r as f32 + 0.5).collect();
        for layout in [Layout::RowMajor, Layout::VnniBlocks { rows_per_block: 2 }, Layout::VnniBlocks { rows_per_block: 16 }] {
            let packed = Int8Matrix::new(&values, &scales, cols, layout);
            let mut set = Int8Matrix::new(&vec![0; rows * cols], &vec![0.0; rows], cols, layout);
            for (row, (weights, &scale)) in values.chunks_exact(cols).zip(&scales).enumerate().rev() {
                set.set_row(row, weights, scale);
            }
            assert_eq!(set, packed, "{layout:?}");
        }
    }

    #[test]
    fn vnni_blocks_put_four_columns_of_each_row_in_its_lane_and_pad_the_last_block() {
        // 3 rows of 8 columns, 2 rows per block: row r, column c holds 10 r + c.
        let values: Vec<i8> = (0..3).flat_map(|r| (0..8).map(move |c| (10 * r + c) as i8)).collect();
        let matrix = Int8Matrix::new(&values, &[1.0, 2.0, 3.0], 8, Layout::VnniBlocks { rows_per_block: 2 });
        #[rustfmt::skip]
        let expected: Vec<i8> = vec![
            0, 1, 2, 3, 10, 11, 12, 13, 4, 5, 6, 7, 14, 15, 16, 17,
            20, 21, 22, 23, 0, 0, 0, 0, 24, 25, 26, 27, 0, 0, 0, 0,
        ];
        assert_eq!(*matrix.values, *expected);
        assert_eq!(matrix.scales, [1.0, 2.0, 3.0, 0.0]);
        assert_eq!(matrix.offset_corrections, [128 * 28, 128 * 108, 128 * 188, 0]);
        assert_eq!(matrix.rows(), 3);
    }
}
