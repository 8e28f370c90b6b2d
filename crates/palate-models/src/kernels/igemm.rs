//! The matrix product of a q8 linear layer on burn's CPU backend in the browser, in integers.
//!
//! Why: [`crate::kernels::gemm`] multiplies f32 by f32, so a q8 weight had to be dequantized into f32
//! panels on every call, and the product cost what an f32 one costs: in Chromium, MiniLM on q8
//! weights ran 1.45–1.70× slower than onnxruntime-web's q8, which multiplies in integers
//! (`bench/RESULTS.md` before this module). wasm SIMD's widest integer product is
//! `i32x4.dot_i16x8_s`: eight 16-bit products summed in pairs into four 32-bit lanes, one
//! instruction where f32 needs a multiply and an add for four.
//!
//! What is integer:
//! - **Weights** ([`PackedI8`]): q8 in blocks of [`BLOCK`] = 32 *along k* (the summed dimension,
//!   d_in in burn's `Linear` layout `[k, n]`), one f32 scale per block and column, GGUF's Q8_0
//!   layout. Within a block the scale is constant, so its sum runs in integers and is scaled once.
//!   Quantized from the f32 weights when the model is quantized in the browser
//!   ([`crate::pipelines::sentence::SentenceEmbedder::quantize`]).
//! - **Activations**, once per call: each row, per block of [`KC`] along k, rounded to i16 with
//!   one scale (`max |a| / 32767`). Fifteen bits keep this rounding far below the weights'
//!   (onnxruntime rounds activations to 8 bits); a block's sums stay inside i32 (16 pairs × 2 ×
//!   127 × 32767 < 2³¹).
//!
//! Palate's stored q8 (`.bpk`, burn's quantized tensors) has its blocks the other way, along n,
//! so the scales change along the sum. Measured on MiniLM (min cosine to f32 over the fixture
//! texts, float64 simulation): stored q8 0.99953, this layout from f32 0.99958; this layout
//! requantized from stored q8 0.99901 (two roundings), one scale per column 0.9964. Keeping the
//! stored values exact instead, by folding their scales into the activations, needs the
//! activations rounded again for every block of 32 columns: that alone took longer than the f32
//! product (Node 20). So a stored q8 pack keeps [`crate::kernels::gemm`]'s f32 product, and this path
//! serves models quantized from f32 when they load.
//!
//! The kernel is [`crate::kernels::gemm`]'s: a 4 × 8 register tile, written out by hand (`opt-level = "z"`
//! neither unrolls loops nor keeps arrays in registers). Per pair of k values: one 16-byte load of
//! the panel, widened into two i16 vectors; per row of the tile, one 32-bit splat of two
//! activations and two `dot_i16x8` + adds. Per block of 32: the integer sums, converted and scaled
//! by the block's column scales; per block of [`KC`], the tile scaled by its rows' activation
//! scales and added into the output, in vector lanes inside the kernel (as a scalar loop over a
//! returned array, bounds-checked slices took ~9% of a q8 forward pass in a V8 profile). Integer
//! sums are exact, so the native build (array lanes, where the tests run) computes what the
//! browser's does. The comparison with onnxruntime-web's q8 is in `bench/RESULTS.md`.

use crate::kernels::gemm::NR;

/// Rows per kernel call.
const MR: usize = 4;
/// Depth per block of activations (a multiple of [`BLOCK`]): one activation scale each. A
/// panel's slice is `KC × NR` bytes = 2 KiB.
pub const KC: usize = 256;
/// Rows per block: their `KC`-slices of the activations (32 KiB) are reused across all panels.
const MC: usize = 64;
/// Largest quantized activation.
const A_MAX: f32 = 32767.0;
/// Largest quantized weight.
const W_MAX: f32 = 127.0;

/// Values of k per weight scale.
pub const BLOCK: usize = 32;

/// A q8 weight `[k, n]` in blocks of [`BLOCK`] along k, in panels of [`NR`] columns. Inside a
/// panel, rows come in pairs: pair `t` is 16 bytes, `q[2t, c], q[2t + 1, c]` for each column `c`
/// of the panel, the order `dot_i16x8` sums in; `k` is padded with zero rows to whole blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedI8 {
    k: usize,
    n: usize,
    /// `k` rounded up to a whole number of blocks.
    kp: usize,
    panels: Vec<i8>,
    /// Panel by panel, block by block, the [`NR`] columns' scales (zeros for padding columns).
    scales: Vec<f32>,
}

impl PackedI8 {
    /// Quantizes a row-major `[k, n]` f32 matrix (symmetric min-max per block and column).
    /// `None` when `values` does not hold `k · n` values or one of them is not finite.
    pub fn from_row_major(values: &[f32], k: usize, n: usize) -> Option<Self> {
        if k.checked_mul(n)? != values.len() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let panel_count = n.div_ceil(NR);
        let kp = k.next_multiple_of(BLOCK);
        let blocks = kp / BLOCK;
        let mut panels = vec![0i8; panel_count.checked_mul(kp)?.checked_mul(NR)?];
        let mut scales = vec![0f32; panel_count * blocks * NR];
        for p in 0..panel_count {
            for b in 0..blocks {
                let rows = b * BLOCK..((b + 1) * BLOCK).min(k);
                for j in 0..NR.min(n - p * NR) {
                    let c = p * NR + j;
                    let max = rows.clone().map(|r| values[r * n + c].abs()).fold(0f32, f32::max);
                    scales[(p * blocks + b) * NR + j] = max / W_MAX;
                    let inverse = if max > 0.0 { W_MAX / max } else { 0.0 };
                    for r in rows.clone() {
                        panels[(p * kp + (r / 2) * 2) * NR + 2 * j + r % 2] = (values[r * n + c] * inverse).round_ties_even() as i8;
                    }
                }
            }
        }
        Some(Self { k, n, kp, panels, scales })
    }

    /// The f32 values the product uses (`scale · q`), row-major `[k, n]`.
    pub fn to_row_major(&self) -> Vec<f32> {
        let blocks = self.kp / BLOCK;
        let mut values = vec![0f32; self.k * self.n];
        for r in 0..self.k {
            for c in 0..self.n {
                let (p, j) = (c / NR, c % NR);
                let q = self.panels[(p * self.kp + (r / 2) * 2) * NR + 2 * j + r % 2];
                values[r * self.n + c] = self.scales[(p * blocks + r / BLOCK) * NR + j] * q as f32;
            }
        }
        values
    }

    /// `[k, n]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.k, self.n]
    }

    /// Bytes held (values with their padding, and the scales).
    pub fn bytes(&self) -> usize {
        self.panels.len() + self.scales.len() * 4
    }
}

/// `a · w + bias` for `a` row-major `[m, k]`: row-major `[m, n]`, with `a` rounded once per call
/// (module docs). A row holding a value that is not finite comes out all NaN.
///
/// Panics when the lengths disagree (`a.len() != m · k`, a bias that is not `n` long): callers
/// pass tensors whose shapes the model checked when it loaded.
pub fn matmul(a: &[f32], m: usize, w: &PackedI8, bias: Option<&[f32]>) -> Vec<f32> {
    assert_eq!(a.len(), m * w.k, "igemm::matmul: a is not [{m}, {}]", w.k);
    crate::kernels::pool::by_rows(a, m, w.k, w.n, MR, |rows, m| matmul_rows(rows, m, w, bias))
}

/// [`matmul`] on one thread.
fn matmul_rows(a: &[f32], m: usize, w: &PackedI8, bias: Option<&[f32]>) -> Vec<f32> {
    let (k, kp, n) = (w.k, w.kp, w.n);
    assert_eq!(a.len(), m * k, "igemm::matmul: a is not [{m}, {k}]");
    if let Some(bias) = bias {
        assert_eq!(bias.len(), n, "igemm::matmul: the bias is not {n} long");
    }
    let panel_count = n.div_ceil(NR);
    let width = panel_count * NR;
    let rows = m.next_multiple_of(MR);
    let (blocks, a_blocks) = (kp / BLOCK, kp.div_ceil(KC));
    // Every row starts as the bias; each block of KC along k adds its products.
    let mut c = vec![0f32; rows * width];
    if let Some(bias) = bias {
        for row in c.chunks_exact_mut(width) {
            row[..n].copy_from_slice(bias);
        }
    }
    let (qa, sa) = quantize_rows(a, m, k, rows, kp);
    let (qa_ptr, w_ptr, s_ptr, sa_ptr, c_ptr) = (qa.as_ptr(), w.panels.as_ptr(), w.scales.as_ptr(), sa.as_ptr(), c.as_mut_ptr());
    for ab in 0..a_blocks {
        let pc = ab * KC;
        let kc = KC.min(kp - pc);
        for ic in (0..rows).step_by(MC) {
            for p in 0..panel_count {
                // SAFETY: `p < panel_count` and `pc + kc <= kp` (whole blocks), so the panel's
                // slice and its `kc / BLOCK` blocks of scales lie in `w.panels` (`panel_count · kp
                // · NR` values) and `w.scales` (`panel_count · blocks · NR`); rows `i..i + MR <=
                // rows` of `qa` (`rows · kp` values), columns `pc..pc + kc`.
                let (panel, scales) = unsafe { (w_ptr.add((p * kp + pc) * NR), s_ptr.add((p * blocks + pc / BLOCK) * NR)) };
                for i in (ic..(ic + MC).min(rows)).step_by(MR) {
                    // SAFETY: as above, and rows `i..i + MR` of `sa` (`rows · a_blocks` values)
                    // and of `c` (`rows · width`), columns `p·NR..p·NR + NR <= width`.
                    unsafe {
                        let row_scales = std::array::from_fn(|r| *sa_ptr.add((i + r) * a_blocks + ab));
                        kernel_4x8(qa_ptr.add(i * kp + pc), kp, panel, scales, kc / BLOCK, row_scales, c_ptr.add(i * width + p * NR), width);
                    }
                }
            }
        }
    }
    c.truncate(m * width);
    if width == n { c } else { c.chunks_exact(width).flat_map(|row| &row[..n]).copied().collect() }
}

/// `a` rounded to i16, `rows × kp` (zero padding), with one scale per row and block of [`KC`]:
/// `max |a| / 32767`, or NaN for a block holding a value that is not finite (its row then comes
/// out NaN).
fn quantize_rows(a: &[f32], m: usize, k: usize, rows: usize, kp: usize) -> (Vec<i16>, Vec<f32>) {
    let a_blocks = kp.div_ceil(KC);
    let mut qa = vec![0i16; rows * kp];
    let mut sa = vec![0f32; rows * a_blocks];
    for i in 0..m {
        for b in 0..a_blocks {
            let (start, end) = (b * KC, ((b + 1) * KC).min(k));
            if start >= end {
                continue;
            }
            let values = &a[i * k + start..i * k + end];
            let max = lanes::abs_max(values);
            if !max.is_finite() {
                sa[i * a_blocks + b] = f32::NAN;
            } else if max > 0.0 {
                sa[i * a_blocks + b] = max / A_MAX;
                lanes::round_into(values, A_MAX / max, &mut qa[i * kp + start..i * kp + end]);
            }
        }
    }
    (qa, sa)
}

/// `max(a, b)`, NaN when either is (`f32::max` would drop it).
fn max_or_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() { f32::NAN } else { a.max(b) }
}

/// `c[r][0..8] += row_scales[r] · Σ_b scales_b · (a[r][block b] · panel[block b][0..8])` for `r
/// < 4`, over `blocks` blocks of [`BLOCK`] along k: each block's sums in integers, then scaled by
/// its columns' scales; the total by the row's activation scale.
///
/// # Safety
/// `a + r·lda + j` readable for `r < 4, j < blocks · BLOCK`; `panel` readable for `blocks ·
/// BLOCK · NR` bytes, `scales` for `blocks · NR` values; `c + r·ldc + j` readable and writable for
/// `r < 4, j < NR`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn kernel_4x8(a: *const i16, lda: usize, panel: *const i8, scales: *const f32, blocks: usize, row_scales: [f32; MR], c: *mut f32, ldc: usize) {
    use lanes::{F32x4, I16x8, I32x4};
    unsafe {
        let f = F32x4::zero();
        let (mut f00, mut f01, mut f10, mut f11, mut f20, mut f21, mut f30, mut f31) = (f, f, f, f, f, f, f, f);
        let (mut a0, mut a1, mut a2, mut a3) = (a, a.add(lda), a.add(2 * lda), a.add(3 * lda));
        let (mut w, mut s) = (panel, scales);
        for _ in 0..blocks {
            let z = I32x4::zero();
            let (mut r00, mut r01, mut r10, mut r11, mut r20, mut r21, mut r30, mut r31) = (z, z, z, z, z, z, z, z);
            for t in 0..BLOCK / 2 {
                let (w0, w1) = I16x8::read_widened(w.add(2 * NR * t));
                let x = I16x8::read_pair_splat(a0.add(2 * t));
                r00 = r00.dot_add(x, w0);
                r01 = r01.dot_add(x, w1);
                let x = I16x8::read_pair_splat(a1.add(2 * t));
                r10 = r10.dot_add(x, w0);
                r11 = r11.dot_add(x, w1);
                let x = I16x8::read_pair_splat(a2.add(2 * t));
                r20 = r20.dot_add(x, w0);
                r21 = r21.dot_add(x, w1);
                let x = I16x8::read_pair_splat(a3.add(2 * t));
                r30 = r30.dot_add(x, w0);
                r31 = r31.dot_add(x, w1);
            }
            let (s0, s1) = (F32x4::read(s), F32x4::read(s.add(4)));
            f00 = f00.add_scaled(r00, s0);
            f01 = f01.add_scaled(r01, s1);
            f10 = f10.add_scaled(r10, s0);
            f11 = f11.add_scaled(r11, s1);
            f20 = f20.add_scaled(r20, s0);
            f21 = f21.add_scaled(r21, s1);
            f30 = f30.add_scaled(r30, s0);
            f31 = f31.add_scaled(r31, s1);
            w = w.add(BLOCK * NR);
            s = s.add(NR);
            (a0, a1, a2, a3) = (a0.add(BLOCK), a1.add(BLOCK), a2.add(BLOCK), a3.add(BLOCK));
        }
        for (r, (lo, hi)) in [(f00, f01), (f10, f11), (f20, f21), (f30, f31)].into_iter().enumerate() {
            let row = c.add(r * ldc);
            lo.scale_add_to(row_scales[r], row);
            hi.scale_add_to(row_scales[r], row.add(4));
        }
    }
}

/// wasm's `v128` as eight i16 / four i32 where SIMD is on.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct I16x8(v128);
    #[derive(Clone, Copy)]
    pub struct I32x4(v128);

    impl I16x8 {
        /// Sixteen i8 at `p`, widened: values 0–7 and 8–15.
        ///
        /// # Safety
        /// `p..p + 16` must be readable.
        #[inline(always)]
        pub unsafe fn read_widened(p: *const i8) -> (Self, Self) {
            // SAFETY: the caller's contract; v128_load has no alignment requirement.
            let v = unsafe { v128_load(p.cast()) };
            (Self(i16x8_extend_low_i8x16(v)), Self(i16x8_extend_high_i8x16(v)))
        }
        /// `p[0], p[1]` repeated four times (one `load32_splat`).
        ///
        /// # Safety
        /// `p..p + 2` must be readable.
        #[inline(always)]
        pub unsafe fn read_pair_splat(p: *const i16) -> Self {
            // SAFETY: the caller's contract; no alignment requirement.
            Self(unsafe { v128_load32_splat(p.cast()) })
        }
    }

    impl I32x4 {
        #[inline(always)]
        pub fn zero() -> Self {
            Self(i32x4_splat(0))
        }
        /// `self[i] + x[2i]·w[2i] + x[2i+1]·w[2i+1]`.
        #[inline(always)]
        pub fn dot_add(self, x: I16x8, w: I16x8) -> Self {
            Self(i32x4_add(self.0, i32x4_dot_i16x8(x.0, w.0)))
        }
    }

    /// `max |v|`; NaN or infinite when a value is not finite.
    pub fn abs_max(values: &[f32]) -> f32 {
        let mut acc = f32x4_splat(0.0);
        let chunks = values.chunks_exact(4);
        let tail = chunks.remainder();
        for c in chunks {
            // SAFETY: four f32 in `c`; v128_load has no alignment requirement. wasm's f32x4.max
            // returns NaN when either lane is NaN.
            acc = f32x4_max(acc, f32x4_abs(unsafe { v128_load(c.as_ptr().cast()) }));
        }
        let lanes = [f32x4_extract_lane::<0>(acc), f32x4_extract_lane::<1>(acc), f32x4_extract_lane::<2>(acc), f32x4_extract_lane::<3>(acc)];
        lanes.into_iter().chain(tail.iter().map(|v| v.abs())).fold(0.0, super::max_or_nan)
    }

    /// `out[i] = round_ties_even(values[i] · scale)` as i16 (saturating).
    pub fn round_into(values: &[f32], scale: f32, out: &mut [i16]) {
        let s = f32x4_splat(scale);
        let mut chunks = values.chunks_exact(8).zip(out.chunks_exact_mut(8));
        for (v, o) in &mut chunks {
            // SAFETY: eight values in `v`, eight slots in `o`; no alignment requirement.
            unsafe {
                let x0 = f32x4_nearest(f32x4_mul(v128_load(v.as_ptr().cast()), s));
                let x1 = f32x4_nearest(f32x4_mul(v128_load(v.as_ptr().add(4).cast()), s));
                v128_store(o.as_mut_ptr().cast(), i16x8_narrow_i32x4(i32x4_trunc_sat_f32x4(x0), i32x4_trunc_sat_f32x4(x1)));
            }
        }
        let done = values.len() / 8 * 8;
        for (o, v) in out[done..].iter_mut().zip(&values[done..]) {
            *o = (v * scale).round_ties_even() as i16;
        }
    }

    #[derive(Clone, Copy)]
    pub struct F32x4(v128);

    impl F32x4 {
        #[inline(always)]
        pub fn zero() -> Self {
            Self(f32x4_splat(0.0))
        }
        /// Four f32 at `p`.
        ///
        /// # Safety
        /// `p..p + 4` must be readable.
        #[inline(always)]
        pub unsafe fn read(p: *const f32) -> Self {
            // SAFETY: the caller's contract; v128_load has no alignment requirement.
            Self(unsafe { v128_load(p.cast()) })
        }
        /// `self + f32(sums) · scales`.
        #[inline(always)]
        pub fn add_scaled(self, sums: I32x4, scales: Self) -> Self {
            Self(f32x4_add(self.0, f32x4_mul(f32x4_convert_i32x4(sums.0), scales.0)))
        }
        /// `p[i] += self[i] · scale` (a multiply, then an add: no fused rounding).
        ///
        /// # Safety
        /// `p..p + 4` must be readable and writable.
        #[inline(always)]
        pub unsafe fn scale_add_to(self, scale: f32, p: *mut f32) {
            // SAFETY: the caller's contract; no alignment requirement.
            unsafe { v128_store(p.cast(), f32x4_add(v128_load(p.cast()), f32x4_mul(self.0, f32x4_splat(scale)))) }
        }
    }
}

/// The same operations on arrays (native builds, where the tests run).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    #[derive(Clone, Copy)]
    pub struct I16x8([i16; 8]);
    #[derive(Clone, Copy)]
    pub struct I32x4([i32; 4]);

    impl I16x8 {
        /// # Safety
        /// `p..p + 16` must be readable.
        #[inline(always)]
        pub unsafe fn read_widened(p: *const i8) -> (Self, Self) {
            // SAFETY: the caller's contract.
            let v: [i8; 16] = unsafe { p.cast::<[i8; 16]>().read_unaligned() };
            (Self(std::array::from_fn(|i| i16::from(v[i]))), Self(std::array::from_fn(|i| i16::from(v[8 + i]))))
        }
        /// # Safety
        /// `p..p + 2` must be readable.
        #[inline(always)]
        pub unsafe fn read_pair_splat(p: *const i16) -> Self {
            // SAFETY: the caller's contract.
            let (x, y) = unsafe { (p.read_unaligned(), p.add(1).read_unaligned()) };
            Self([x, y, x, y, x, y, x, y])
        }
    }

    impl I32x4 {
        #[inline(always)]
        pub fn zero() -> Self {
            Self([0; 4])
        }
        #[inline(always)]
        pub fn dot_add(self, x: I16x8, w: I16x8) -> Self {
            let (x, w) = (x.0, w.0);
            Self(std::array::from_fn(|i| {
                let pair = i32::from(x[2 * i]) * i32::from(w[2 * i]) + i32::from(x[2 * i + 1]) * i32::from(w[2 * i + 1]);
                self.0[i].wrapping_add(pair)
            }))
        }
    }

    /// `max |v|`; NaN or infinite when a value is not finite.
    pub fn abs_max(values: &[f32]) -> f32 {
        values.iter().map(|v| v.abs()).fold(0.0, super::max_or_nan)
    }

    /// `out[i] = round_ties_even(values[i] · scale)` as i16 (saturating), as wasm's `nearest`.
    pub fn round_into(values: &[f32], scale: f32, out: &mut [i16]) {
        for (o, v) in out.iter_mut().zip(values) {
            *o = (v * scale).round_ties_even() as i16;
        }
    }

    #[derive(Clone, Copy)]
    pub struct F32x4([f32; 4]);

    impl F32x4 {
        #[inline(always)]
        pub fn zero() -> Self {
            Self([0.0; 4])
        }
        /// # Safety
        /// `p..p + 4` must be readable.
        #[inline(always)]
        pub unsafe fn read(p: *const f32) -> Self {
            // SAFETY: the caller's contract.
            Self(unsafe { p.cast::<[f32; 4]>().read_unaligned() })
        }
        #[inline(always)]
        pub fn add_scaled(self, sums: I32x4, scales: Self) -> Self {
            Self(std::array::from_fn(|i| self.0[i] + sums.0[i] as f32 * scales.0[i]))
        }
        /// # Safety
        /// `p..p + 4` must be readable and writable.
        #[inline(always)]
        pub unsafe fn scale_add_to(self, scale: f32, p: *mut f32) {
            for (i, v) in self.0.into_iter().enumerate() {
                // SAFETY: the caller's contract.
                unsafe { *p.add(i) += v * scale };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm::testing::{pseudo_random, reference};

    fn q8(w: &[f32], k: usize, n: usize) -> PackedI8 {
        PackedI8::from_row_major(w, k, n).expect("k · n finite values")
    }

    #[test]
    fn weights_round_to_within_half_a_step_of_their_block() {
        let (k, n) = (70, 21);
        let mut w = pseudo_random(k * n, 5);
        for r in 0..k {
            w[r * n + 3] = 0.0; // an all-zero column
        }
        let packed = q8(&w, k, n);
        assert_eq!(packed.shape(), [k, n]);
        assert_eq!(packed.bytes(), 3 * 96 * NR + 3 * 3 * NR * 4, "k padded to 3 blocks, three panels, scales padded");
        let back = packed.to_row_major();
        for c in 0..n {
            for block in (0..k).collect::<Vec<_>>().chunks(BLOCK) {
                let max = block.iter().map(|&r| w[r * n + c].abs()).fold(0f32, f32::max);
                for &r in block {
                    let (got, want) = (back[r * n + c], w[r * n + c]);
                    assert!((got - want).abs() <= max / 127.0 * 0.5 * 1.0001, "({r}, {c}): {got} vs {want}");
                }
            }
        }
        assert!(PackedI8::from_row_major(&w, k, n - 1).is_none());
        let mut bad = w.clone();
        bad[40] = f32::NAN;
        assert!(PackedI8::from_row_major(&bad, k, n).is_none());
    }

    #[test]
    fn matmul_matches_a_float64_product_of_the_quantized_weights() {
        // m around MR and MC; k odd, around BLOCK and KC (one block, two, a ragged one); n around NR.
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (4, 32, 8), (5, 33, 9), (7, 300, 17), (65, 257, 24), (130, 513, 40), (9, 384, 1536), (2, 0, 3)] {
            let a = pseudo_random(m * k, 7 + m as u32);
            let packed = q8(&pseudo_random(k * n, 11 + k as u32), k, n);
            let (wq, bias) = (packed.to_row_major(), pseudo_random(n, 13));
            for bias in [None, Some(&bias[..])] {
                let got = matmul(&a, m, &packed, bias);
                let want = reference(&a, &wq, bias, m, k, n);
                assert_eq!(got.len(), m * n);
                // Each activation is rounded to half a step of 1/32767 of its block's largest
                // (|a| ≤ 0.5), times |w| ≤ 0.5; plus f32 rounding.
                let tolerance = k as f64 * 0.5 * (0.5 / 32767.0) * 0.5 + 1e-6 * (k as f64 + 1.0);
                for (index, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((*g as f64 - w).abs() <= tolerance, "m {m} k {k} n {n}: entry {index}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn sums_stay_exact_at_the_largest_values() {
        // Every weight and activation at its largest magnitude: a block's i32 sums reach
        // 32 · 127 · 32767, and the result is k · (1 · 1) up to the f32 rounding of the scales.
        let (m, k, n) = (4, 3 * KC + 2, 8);
        let packed = q8(&vec![1.0; k * n], k, n);
        for sign in [1.0, -1.0] {
            let got = matmul(&vec![sign; m * k], m, &packed, None);
            assert!(got.iter().all(|&v| (v - sign * k as f32).abs() <= k as f32 * 1e-6), "{:?}", &got[..8]);
        }
    }

    #[test]
    fn a_row_with_a_value_that_is_not_finite_comes_out_nan_and_the_others_do_not() {
        let (m, k, n) = (3, 10, 5);
        let packed = q8(&pseudo_random(k * n, 3), k, n);
        for bad in [f32::INFINITY, f32::NAN] {
            let mut a = pseudo_random(m * k, 9);
            a[k + 4] = bad;
            let got = matmul(&a, m, &packed, None);
            assert!(got[n..2 * n].iter().all(|v| v.is_nan()), "{bad}");
            assert!(got[..n].iter().chain(&got[2 * n..]).all(|v| v.is_finite()), "{bad}");
        }
        let zeros = matmul(&vec![0.0; m * k], m, &packed, Some(&[2.0; 5]));
        assert!(zeros.iter().all(|&v| v == 2.0), "zero rows give the bias");
    }

    #[test]
    #[should_panic(expected = "a is not")]
    fn matmul_refuses_an_input_of_the_wrong_width() {
        let packed = q8(&[1.0; 6], 2, 3);
        matmul(&[1.0; 5], 2, &packed, None);
    }
}
