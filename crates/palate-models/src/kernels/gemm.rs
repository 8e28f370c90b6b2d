//! The matrix product of a linear layer on burn's CPU backend in the browser, with the weight
//! packed once when the model loads.
//!
//! Why: in Chromium, MiniLM's linear layers were ~77% of a forward pass on the wasm CPU backend
//! (`ARCHITECTURE.md`), run by the `gemm` crate through burn-flex. For `x · W` with a row-major
//! weight, `gemm` packs the weight into panels on *every* call; onnxruntime-web packs constant
//! weights once, at session start. This module does the same: [`PackedMatrix`] holds a weight
//! `[k, n]` (burn's `Linear` layout, d_in × d_out) as column panels of [`NR`] values, so the
//! kernel reads each panel front to back; [`matmul`] computes `a · W + bias` in blocks of [`KC`]
//! along k (a panel's slice stays in L1) with a 4 × 8 register tile: per step of k, two loads of
//! the panel, four broadcasts of `a`, eight multiplies and eight adds (wasm SIMD has no FMA). The
//! tile is written out by hand, not as loops over arrays, because `opt-level = "z"` neither
//! unrolls nor keeps such arrays in registers. In the same wasm build it is 1.26–1.40× faster
//! than `gemm` on MiniLM's and Qwen3-0.6B's shapes (Node 20; `ARCHITECTURE.md`).
//!
//! The same code runs natively with [`F32x4`]'s array lanes (where the tests check it against a
//! float64 product); natively, burn's own matmul (gemm's AVX/FMA kernels) is faster, so models
//! use this path only where [`PREFERRED`] (wasm with SIMD).

use crate::kernels::cpu_ops::F32x4;

/// Whether linear layers on the CPU should hold their weights in a [`PackedMatrix`]: in wasm
/// with SIMD (the browser build). Natively, gemm's AVX/FMA kernels are faster.
pub const PREFERRED: bool = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));

/// Columns per panel: two four-lane vectors.
pub const NR: usize = 8;
/// Rows per kernel call.
pub(crate) const MR: usize = 4;
/// Depth per block: a panel's slice is `KC × NR × 4` bytes = 8 KiB.
pub const KC: usize = 256;
/// Rows per block: their `KC`-slices of `a` (64 KiB) are reused across all panels.
const MC: usize = 64;

/// A weight `[k, n]` held as `ceil(n / NR)` panels of `k × NR` values (row-major inside a
/// panel; a last partial panel is padded with zeros).
#[derive(Clone, Debug, PartialEq)]
pub struct PackedMatrix {
    k: usize,
    n: usize,
    panels: Vec<f32>,
}

impl PackedMatrix {
    /// Packs a row-major `[k, n]` matrix; `None` when `values` does not hold `k · n` values.
    pub fn from_row_major(values: &[f32], k: usize, n: usize) -> Option<Self> {
        if k.checked_mul(n)? != values.len() {
            return None;
        }
        let mut packed = Self::zeros(k, n);
        if packed.panels.is_empty() {
            return Some(packed);
        }
        // Row by row: the reads run straight through `values` (panel by panel, they would stride
        // by a row each time: measured 3 ns a value for a 1024 × 3072 weight in wasm).
        for (r, row) in values.chunks_exact(n).enumerate() {
            for (p, chunk) in row.chunks(NR).enumerate() {
                packed.panel_row_mut(p, r)[..chunk.len()].copy_from_slice(chunk);
            }
        }
        Some(packed)
    }

    /// A `[k, n]` matrix of zeros.
    pub(crate) fn zeros(k: usize, n: usize) -> Self {
        Self { k, n, panels: vec![0f32; n.div_ceil(NR) * k * NR] }
    }

    /// All panels, panel after panel (`k · NR` values each: row after row of NR columns).
    pub(crate) fn panels_mut(&mut self) -> &mut [f32] {
        &mut self.panels
    }

    /// The NR values of row `r` in panel `p` (columns `p·NR..p·NR + NR`, padding included).
    #[inline(always)]
    pub(crate) fn panel_row_mut(&mut self, p: usize, r: usize) -> &mut [f32] {
        let at = (p * self.k + r) * NR;
        &mut self.panels[at..at + NR]
    }

    /// Dequantizes a row-major `[k, n]` matrix of i8 values straight into panels: value `(r, c)`
    /// is `multiplier · scales[(r·n + c) / 32] · q` (blocks of 32 along each row, burn's q8 layout
    /// and its order of operations, so the values are bit-identical to burn's dequantization).
    /// One pass, no row-major f32 copy: per call for quantized weights. `None` when the lengths
    /// disagree or `n` is not a multiple of 32.
    pub fn from_blocked_i8(values: &[i8], scales: &[f32], multiplier: f32, k: usize, n: usize) -> Option<Self> {
        const BLOCK: usize = 32;
        if k.checked_mul(n)? != values.len() || !n.is_multiple_of(BLOCK) || scales.len() * BLOCK != values.len() {
            return None;
        }
        let panel_count = n / NR;
        let mut panels = vec![0f32; panel_count * k * NR];
        for r in 0..k {
            for p in 0..panel_count {
                let at = r * n + p * NR;
                let scale = F32x4::splat(multiplier * scales[at / BLOCK]);
                let (lo, hi) = (&values[at..at + NR], &mut panels[(p * k + r) * NR..(p * k + r + 1) * NR]);
                // SAFETY: `lo` holds NR = 8 values and `hi` NR slots (the slices above).
                unsafe {
                    let (a, b) = F32x4::read_i8x8(lo.as_ptr());
                    (scale * a).write(hi.as_mut_ptr());
                    (scale * b).write(hi.as_mut_ptr().add(4));
                }
            }
        }
        Some(Self { k, n, panels })
    }

    /// The row-major `[k, n]` values back.
    pub fn to_row_major(&self) -> Vec<f32> {
        let mut values = vec![0f32; self.k * self.n];
        if values.is_empty() {
            return values;
        }
        for (p, panel) in self.panels.chunks_exact(self.k * NR).enumerate() {
            let (start, width) = (p * NR, NR.min(self.n - p * NR));
            for (row, packed) in values.chunks_exact_mut(self.n).zip(panel.chunks_exact(NR)) {
                row[start..start + width].copy_from_slice(&packed[..width]);
            }
        }
        values
    }

    /// `[k, n]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.k, self.n]
    }

    /// Bytes held (with the padding of a last partial panel).
    pub fn bytes(&self) -> usize {
        self.panels.len() * 4
    }
}

/// `a · w + bias` for `a` row-major `[m, k]`: row-major `[m, n]`.
///
/// Panics when the lengths disagree (`a.len() != m · k`, a bias that is not `n` long): callers
/// pass tensors whose shapes the model checked when it loaded.
///
/// On several threads ([`crate::kernels::pool`]) the panels are split into contiguous ranges
/// ([`crate::kernels::pool::ranges`]): each task streams only its share of the weight (f32 weights
/// make this product bandwidth-bound, so a split by rows, where every task streams all of it,
/// gains little) and writes its columns straight into the one output; each output value comes
/// from the same tiles in the same order as on one thread.
pub fn matmul(a: &[f32], m: usize, w: &PackedMatrix, bias: Option<&[f32]>) -> Vec<f32> {
    let (k, n) = (w.k, w.n);
    assert_eq!(a.len(), m * k, "gemm::matmul: a is not [{m}, {k}]");
    assert_eq!(w.panels.len(), n.div_ceil(NR) * k * NR, "gemm::matmul: panels do not hold [{k}, {n}]");
    if let Some(bias) = bias {
        assert_eq!(bias.len(), n, "gemm::matmul: the bias is not {n} long");
    }
    let panel_count = n.div_ceil(NR);
    let width = panel_count * NR;
    let rows = m.next_multiple_of(MR);
    let mut c = vec![0f32; rows * width];
    if m == 0 || n == 0 {
        c.truncate(m * n);
        return c;
    }
    let mut lanes_bias = vec![0f32; width];
    if let Some(bias) = bias {
        lanes_bias[..n].copy_from_slice(bias);
    }
    // The last `m % MR` rows, padded with zero rows to a whole tile.
    let full = m - m % MR;
    let mut tail = vec![0f32; MR * k];
    tail[..(m - full) * k].copy_from_slice(&a[full * k..]);

    let product = Product { a, tail: &tail, k, full, rows, width, panels: &w.panels, bias: &lanes_bias };
    let work = m.saturating_mul(k).saturating_mul(n);
    let out = crate::kernels::pool::SharedMut::new(&mut c);
    crate::kernels::pool::ranges(panel_count, work, MIN_SPLIT_MACS, |panels| {
        // SAFETY: the ranges are disjoint, and `panels_into` writes only the columns of its
        // panels, of rows below `rows`: no two tasks write the same value, and `c` holds `rows ·
        // width` values.
        unsafe { product.panels_into(panels, out.ptr()) }
    });
    if width == n {
        c.truncate(m * n);
        c
    } else {
        c.chunks_exact(width).take(m).flat_map(|row| &row[..n]).copied().collect()
    }
}

/// Multiply-adds below which [`matmul`] runs on one thread (~0.1 ms of work).
const MIN_SPLIT_MACS: usize = 1 << 20;

/// One product's operands, as [`matmul`] prepared them.
struct Product<'a> {
    /// `[m, k]`, row-major.
    a: &'a [f32],
    /// The rows of `a` from `full` on, padded with zero rows to `MR`.
    tail: &'a [f32],
    k: usize,
    /// Rows of `a` in whole tiles.
    full: usize,
    /// `m` rounded up to whole tiles: the rows of the output.
    rows: usize,
    /// Columns of the output: whole panels.
    width: usize,
    panels: &'a [f32],
    /// `width` values: the bias, zeros past `n`.
    bias: &'a [f32],
}

impl Product<'_> {
    /// Columns `p·NR..p·NR + NR` of every output row, for each panel `p` of `panels`, into `c`
    /// (`rows × width`, row-major).
    ///
    /// # Safety
    /// `c` is valid for `rows · width` values, `panels` lies within the weight's panels, and no
    /// other thread touches these columns of `c` meanwhile.
    unsafe fn panels_into(&self, panels: std::ops::Range<usize>, c: *mut f32) {
        let Self { a, tail, k, full, rows, width, .. } = *self;
        let (a_ptr, tail_ptr, w_ptr, bias_ptr) = (a.as_ptr(), tail.as_ptr(), self.panels.as_ptr(), self.bias.as_ptr());
        if k == 0 {
            // No products: every value is the bias.
            for r in 0..rows {
                for p in panels.clone() {
                    unsafe { std::ptr::copy_nonoverlapping(bias_ptr.add(p * NR), c.add(r * width + p * NR), NR) };
                }
            }
        }
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            for ic in (0..rows).step_by(MC) {
                let ic_end = (ic + MC).min(rows);
                for p in panels.clone() {
                    // SAFETY (all pointer arithmetic below): `p` is a panel of the weight and `pc +
                    // kc <= k`, so the panel slice lies in `self.panels` (`width / NR · k · NR`
                    // values, asserted by `matmul`); a tile's rows `i..i + MR` are `< m` when read
                    // from `a` (`i < full`) and are the `MR` rows of `tail` otherwise, columns
                    // `pc..pc + kc` of `k`; the tile writes rows `i..i + MR <= rows`, columns
                    // `p·NR..p·NR + NR <= width` of `c` (the caller's); `bias` is `width` long.
                    let panel = unsafe { w_ptr.add((p * k + pc) * NR) };
                    let init = (pc == 0).then(|| unsafe {
                        let b = bias_ptr.add(p * NR);
                        (F32x4::read(b), F32x4::read(b.add(4)))
                    });
                    for i in (ic..ic_end).step_by(MR) {
                        let a_tile = if i < full { unsafe { a_ptr.add(i * k + pc) } } else { unsafe { tail_ptr.add(pc) } };
                        unsafe { kernel_4x8(a_tile, k, panel, kc, c.add(i * width + p * NR), width, init) };
                    }
                }
            }
        }
    }
}

/// `c[0..4][0..8] = init + a[0..4][0..kc] · panel[0..kc][0..8]` where `init` is the given row
/// (the bias, on the first block along k) or `c`'s own values (the blocks after it).
///
/// # Safety
/// `a + r·lda + j` readable for `r < 4, j < kc`; `panel` readable for `kc · NR` values; `c +
/// r·ldc + j` readable and writable for `r < 4, j < NR`.
#[inline(always)]
pub(crate) unsafe fn kernel_4x8(a: *const f32, lda: usize, panel: *const f32, kc: usize, c: *mut f32, ldc: usize, init: Option<(F32x4, F32x4)>) {
    unsafe {
        let (c0, c1, c2, c3) = (c, c.add(ldc), c.add(2 * ldc), c.add(3 * ldc));
        let (mut r00, mut r01, mut r10, mut r11, mut r20, mut r21, mut r30, mut r31) = match init {
            Some((lo, hi)) => (lo, hi, lo, hi, lo, hi, lo, hi),
            None => (
                F32x4::read(c0),
                F32x4::read(c0.add(4)),
                F32x4::read(c1),
                F32x4::read(c1.add(4)),
                F32x4::read(c2),
                F32x4::read(c2.add(4)),
                F32x4::read(c3),
                F32x4::read(c3.add(4)),
            ),
        };
        let (a0, a1, a2, a3) = (a, a.add(lda), a.add(2 * lda), a.add(3 * lda));
        let mut b = panel;
        for j in 0..kc {
            let (b0, b1) = (F32x4::read(b), F32x4::read(b.add(4)));
            let x = F32x4::read_splat(a0.add(j));
            r00 = r00 + x * b0;
            r01 = r01 + x * b1;
            let x = F32x4::read_splat(a1.add(j));
            r10 = r10 + x * b0;
            r11 = r11 + x * b1;
            let x = F32x4::read_splat(a2.add(j));
            r20 = r20 + x * b0;
            r21 = r21 + x * b1;
            let x = F32x4::read_splat(a3.add(j));
            r30 = r30 + x * b0;
            r31 = r31 + x * b1;
            b = b.add(NR);
        }
        r00.write(c0);
        r01.write(c0.add(4));
        r10.write(c1);
        r11.write(c1.add(4));
        r20.write(c2);
        r21.write(c2.add(4));
        r30.write(c3);
        r31.write(c3.add(4));
    }
}

/// What the tests of this module and of [`crate::kernels::igemm`] share.
#[cfg(test)]
pub(crate) mod testing {
    /// `n` values in `[-0.5, 0.5)` from a xorshift of `seed`.
    pub fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed | 1;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as f32 / u32::MAX as f32 - 0.5
            })
            .collect()
    }

    /// The float64 product `a · w + bias` of row-major `a [m, k]` and `w [k, n]`, one dot product
    /// per entry (an independent reference).
    pub fn reference(a: &[f32], w: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|t| a[i * k + t] as f64 * w[t * n + j] as f64).sum();
                out[i * n + j] = dot + bias.map_or(0.0, |b| b[j] as f64);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{pseudo_random, reference};
    use super::*;

    #[test]
    fn matmul_matches_a_float64_product_for_every_edge_of_the_tiling() {
        // m around MR and MC, k around KC (one block, two, and a ragged last one), n around NR.
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (4, 8, 8), (5, 17, 9), (7, 300, 17), (65, 257, 24), (130, 513, 40), (9, 384, 1536), (2, 0, 3)] {
            let a = pseudo_random(m * k, 7 + m as u32);
            let w = pseudo_random(k * n, 11 + k as u32);
            let bias = pseudo_random(n, 13);
            let packed = PackedMatrix::from_row_major(&w, k, n).expect("k · n values");
            for bias in [None, Some(&bias[..])] {
                let got = matmul(&a, m, &packed, bias);
                let want = reference(&a, &w, bias, m, k, n);
                assert_eq!(got.len(), m * n);
                // f32 sums of k products of values in ±0.5: error grows like √k · ε.
                let tolerance = 1e-6 * (k as f64 + 1.0).sqrt() * 4.0;
                for (index, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((*g as f64 - w).abs() <= tolerance, "m {m} k {k} n {n} bias {}: entry {index}: {g} vs {w}", bias.is_some());
                }
            }
        }
    }

    #[test]
    fn packing_round_trips_and_refuses_a_wrong_length() {
        let w = pseudo_random(5 * 19, 3);
        let packed = PackedMatrix::from_row_major(&w, 5, 19).expect("5 · 19 values");
        assert_eq!(packed.shape(), [5, 19]);
        assert_eq!(packed.bytes(), 3 * 5 * NR * 4, "three panels, the last padded");
        assert_eq!(packed.to_row_major(), w);
        assert!(PackedMatrix::from_row_major(&w, 5, 18).is_none());
        assert!(PackedMatrix::from_row_major(&w, usize::MAX, 2).is_none());
    }

    #[test]
    fn blocked_i8_dequantizes_into_the_panels_of_the_f32_values() {
        let (k, n) = (3, 64);
        let values: Vec<i8> = (0..k * n).map(|i| (i as i32 * 37 % 255 - 127) as i8).collect();
        let scales: Vec<f32> = (0..k * n / 32).map(|b| 0.01 + b as f32 * 0.003).collect();
        let multiplier = 0.5;
        let f32s: Vec<f32> = values.iter().enumerate().map(|(i, &q)| multiplier * scales[i / 32] * q as f32).collect();
        let packed = PackedMatrix::from_blocked_i8(&values, &scales, multiplier, k, n).expect("valid layout");
        assert_eq!(packed, PackedMatrix::from_row_major(&f32s, k, n).expect("k · n values"), "bit-identical panels");
        assert!(PackedMatrix::from_blocked_i8(&values, &scales[1..], multiplier, k, n).is_none());
        assert!(PackedMatrix::from_blocked_i8(&values[..k * 40], &scales, multiplier, k, 40).is_none());
    }

    #[test]
    #[should_panic(expected = "a is not")]
    fn matmul_refuses_an_input_of_the_wrong_width() {
        let packed = PackedMatrix::from_row_major(&[1.0; 6], 2, 3).expect("2 · 3 values");
        matmul(&[1.0; 5], 2, &packed, None);
    }
}
