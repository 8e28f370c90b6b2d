//! Two elementwise steps of a transformer layer done on the host for burn's CPU backend, four
//! values at a time (wasm SIMD in the browser).
//!
//! Why: burn-flex computes GELU with libm's scalar `erff` and softmax with a scalar `expf` per value.
//! In the browser (wasm CPU, MiniLM, 8 texts × 128 tokens) those two took 17% of a forward pass
//! (GELU 10%, softmax 7%; a V8 CPU profile), where onnxruntime-web runs vectorised polynomial
//! approximations. Here the same kind of polynomials run over the tensor's values in place; on any
//! other device, or for a dtype other than f32, burn's own op runs. The wasm build is optimised for
//! size (`opt-level = "z"`), which turns LLVM's loop vectoriser off, so the lanes are explicit:
//! [`F32x4`] is wasm's `v128` where SIMD is on and `[f32; 4]` elsewhere (where the tests run the
//! same polynomial code).
//!
//! Accuracy (tests below, against f64 `erf`/`exp`): [`erf4`] within 5e-7 absolute, [`exp4`] within
//! 2 ulp over softmax's range; outputs agree with burn's ops to ~1e-6.

use burn::tensor::{Bool, DType, Tensor, TensorData, activation};

use crate::device::is_cpu;

/// `x · Φ(x)` (exact GELU, `0.5·x·(1 + erf(x/√2))`), as `burn::tensor::activation::gelu`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !on_host(&x) {
        return activation::gelu(x);
    }
    map_in_place(x, |values| {
        // Pieces of whole lanes: each value's result is the same however the work is split.
        crate::kernels::pool::split_mut(values, 4, |_, piece| {
            let (half, one, frac_1_sqrt_2) = (F32x4::splat(0.5), F32x4::splat(1.0), F32x4::splat(std::f32::consts::FRAC_1_SQRT_2));
            for_each_lane(piece, |x| half * x * (one + erf4(x * frac_1_sqrt_2)));
        });
    })
}

/// Attention weights: `softmax(scores · scale, masked keys → 0)` along the last axis.
///
/// `mask` is true where a key is hidden (padding, or the future in a causal decoder), in any shape
/// that broadcasts to `scores` (`[batch, 1, 1, keys]`, `[batch, 1, queries, keys]`, …). The same as
/// `softmax((scores · scale).mask_fill(mask, f32::MIN))`, which is what runs on other devices. A
/// row whose keys are all hidden comes out uniform there and all zero here; no caller makes one
/// (every query sees at least its own position or the first token).
pub fn masked_softmax(scores: Tensor<4>, scale: f64, mask: Tensor<4, Bool>) -> Tensor<4> {
    let dims = scores.dims();
    let mask_dims = mask.dims();
    let broadcasts = (0..4).all(|axis| mask_dims[axis] == 1 || mask_dims[axis] == dims[axis]);
    let hidden = match on_host(&scores) && broadcasts {
        true => mask.clone().into_data().try_into_vec::<bool>().ok(),
        false => None,
    };
    let (Some(hidden), true) = (hidden, dims[3] > 0) else {
        return activation::softmax((scores * scale).mask_fill(mask, f32::MIN), 3);
    };
    // Strides of the mask in `scores`' index space: 0 along an axis it broadcasts over.
    let mut strides = [0usize; 4];
    let mut stride = 1;
    for axis in (0..4).rev() {
        strides[axis] = if mask_dims[axis] == 1 { 0 } else { stride };
        stride *= mask_dims[axis];
    }
    let keys = dims[3];
    let scale = scale as f32;
    map_in_place(scores, |values| {
        // Whole rows per piece, on as many threads as the pool has (kernels::pool).
        crate::kernels::pool::split_mut(values, keys, |first, piece| {
            let mut broadcast_row = Vec::new();
            for (offset, row) in piece.chunks_exact_mut(keys).enumerate() {
                let index = first + offset;
                let (q, h, b) = (index % dims[2], (index / dims[2]) % dims[1], index / (dims[2] * dims[1]));
                let base = b * strides[0] + h * strides[1] + q * strides[2];
                let row_mask = if strides[3] == 1 {
                    &hidden[base..base + keys]
                } else {
                    broadcast_row.clear();
                    broadcast_row.resize(keys, hidden[base]);
                    &broadcast_row[..]
                };
                softmax_row(row, scale, row_mask);
            }
        });
    })
}

fn softmax_row(row: &mut [f32], scale: f32, hidden: &[bool]) {
    let mut max = f32::NEG_INFINITY;
    for (v, &h) in row.iter_mut().zip(hidden) {
        *v = if h { f32::NEG_INFINITY } else { *v * scale };
        max = if *v > max { *v } else { max };
    }
    exponentiate(row, max);
}

/// [`softmax_row`] for a row whose hidden keys come as an additive `bias` (0, or −∞ where hidden)
/// and whose length is a multiple of 4: every pass four lanes at a time. The same values as
/// [`softmax_row`] with `hidden[i] = bias[i] == −∞`.
pub(crate) fn softmax_biased_row(row: &mut [f32], scale: f32, bias: &[f32]) {
    debug_assert!(row.len().is_multiple_of(4) && bias.len() == row.len());
    let s = F32x4::splat(scale);
    let mut max = F32x4::splat(f32::NEG_INFINITY);
    for (v, b) in row.chunks_exact_mut(4).zip(bias.chunks_exact(4)) {
        let x = F32x4::load(v) * s + F32x4::load(b);
        max = max.max(x);
        x.store(v);
    }
    exponentiate(row, max.to_array().into_iter().fold(f32::NEG_INFINITY, f32::max));
}

/// `row[i] = exp(row[i] − max) / Σ exp(row[j] − max)`; all zero when `max` is −∞ (every key hidden).
fn exponentiate(row: &mut [f32], max: f32) {
    if max == f32::NEG_INFINITY {
        row.fill(0.0);
        return;
    }
    let shift = F32x4::splat(max);
    let mut sums = F32x4::splat(0.0);
    for_each_lane(row, |v| {
        let e = exp4(v - shift);
        sums = sums + e;
        e
    });
    // for_each_lane pads a short tail with −∞, whose exp is 0: padding adds nothing to the sum.
    let inv = F32x4::splat(1.0 / sums.to_array().iter().sum::<f32>());
    for_each_lane(row, |v| v * inv);
}

pub(crate) fn on_host<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && is_cpu(&x.device())
}

fn map_in_place<const D: usize>(x: Tensor<D>, f: impl FnOnce(&mut [f32])) -> Tensor<D> {
    let device = x.device();
    let shape = x.shape();
    // Called only where `on_host` checked that the tensor is f32.
    #[allow(clippy::expect_used)]
    let mut values = x.into_data().try_into_vec::<f32>().expect("on_host checked that the tensor is f32");
    f(&mut values);
    Tensor::from_data(TensorData::new(values, shape), &device)
}

/// `values[i] = f(values[i])`, four at a time; a short tail is padded with −∞ (see `softmax_row`).
#[inline(always)]
fn for_each_lane(values: &mut [f32], mut f: impl FnMut(F32x4) -> F32x4) {
    let mut chunks = values.chunks_exact_mut(4);
    for chunk in &mut chunks {
        f(F32x4::load(chunk)).store(chunk);
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let mut lanes = [f32::NEG_INFINITY; 4];
        lanes[..tail.len()].copy_from_slice(tail);
        let out = f(F32x4::from_array(lanes)).to_array();
        tail.copy_from_slice(&out[..tail.len()]);
    }
}

/// `erf(x)`: a rational approximation `x·P(x²)/Q(x²)` on [−4, 4] (±1 beyond), the one XLA and
/// Eigen use for f32 (`ErfImpl32`, `generic_fast_erf_float`); error ≤ 5e-7 absolute.
#[inline(always)]
fn erf4(x: F32x4) -> F32x4 {
    const ALPHA: [f32; 7] = [
        -2.726_142_3e-10,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_600_1e-3,
        -1.609_603_3e-2,
    ];
    const BETA: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329_2e-3, -1.426_474e-2];
    let x = x.max(F32x4::splat(-4.0)).min(F32x4::splat(4.0));
    let x2 = x * x;
    let mut p = F32x4::splat(ALPHA[0]);
    for &a in &ALPHA[1..] {
        p = p * x2 + F32x4::splat(a);
    }
    let mut q = F32x4::splat(BETA[0]);
    for &b in &BETA[1..] {
        q = q * x2 + F32x4::splat(b);
    }
    x * p / q
}

/// `eˣ` for x ≤ 0 (softmax's range after the row maximum is subtracted; 0 below −87.3): Cephes'
/// `expf`, `2ⁿ · e^r` with `n = round(x / ln 2)`, `|r| ≤ ln 2 / 2` and a degree-5 polynomial for
/// `e^r − 1 − r`. Within 2 ulp.
#[inline(always)]
fn exp4(x: F32x4) -> F32x4 {
    const P: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5];
    // (Cephes' last coefficient, 5.0000001201e-1, is 0.5 in f32.) ln 2 split in two, so n·ln 2 is
    // exact in the high part.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let floor = F32x4::splat(-87.3);
    let underflow = x.lt(floor);
    let x = x.max(floor);
    let n = (x * F32x4::splat(std::f32::consts::LOG2_E) + F32x4::splat(0.5)).floor();
    let r = x - n * F32x4::splat(LN2_HI) - n * F32x4::splat(LN2_LO);
    let mut p = F32x4::splat(P[0]);
    for &c in &P[1..] {
        p = p * r + F32x4::splat(c);
    }
    let e = p * r * r + r + F32x4::splat(1.0);
    // n ≥ −126 here, so 2ⁿ is a normal number.
    F32x4::select(underflow, F32x4::splat(0.0), e * n.exp2_of_integer())
}

/// Four f32 lanes: wasm's `v128` when the build has SIMD, else an array (native builds
/// auto-vectorise it at `opt-level = 3`; tests run the polynomials through it).
#[derive(Clone, Copy)]
pub(crate) struct F32x4(Lanes);

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
type Lanes = core::arch::wasm32::v128;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
type Lanes = [f32; 4];

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::*;

    use super::F32x4;

    impl F32x4 {
        #[inline(always)]
        pub fn splat(v: f32) -> Self {
            Self(f32x4_splat(v))
        }
        #[inline(always)]
        pub fn from_array(a: [f32; 4]) -> Self {
            Self(f32x4(a[0], a[1], a[2], a[3]))
        }
        #[inline(always)]
        pub fn to_array(self) -> [f32; 4] {
            [f32x4_extract_lane::<0>(self.0), f32x4_extract_lane::<1>(self.0), f32x4_extract_lane::<2>(self.0), f32x4_extract_lane::<3>(self.0)]
        }
        #[inline(always)]
        pub fn load(chunk: &[f32]) -> Self {
            assert!(chunk.len() >= 4);
            // SAFETY: four f32 are readable at `chunk` (checked above); v128_load has no alignment requirement.
            Self(unsafe { v128_load(chunk.as_ptr().cast()) })
        }
        #[inline(always)]
        pub fn store(self, chunk: &mut [f32]) {
            assert!(chunk.len() >= 4);
            // SAFETY: four f32 are writable at `chunk` (checked above); no alignment requirement.
            unsafe { v128_store(chunk.as_mut_ptr().cast(), self.0) }
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
        /// Stores the lanes at `p`.
        ///
        /// # Safety
        /// `p..p + 4` must be writable.
        #[inline(always)]
        pub unsafe fn write(self, p: *mut f32) {
            // SAFETY: the caller's contract.
            unsafe { v128_store(p.cast(), self.0) }
        }
        /// Eight i8 at `p` as f32, in two vectors (values 0–3, 4–7).
        ///
        /// # Safety
        /// `p..p + 8` must be readable.
        #[inline(always)]
        pub unsafe fn read_i8x8(p: *const i8) -> (Self, Self) {
            // SAFETY: the caller's contract: eight bytes, no alignment requirement.
            let bytes = unsafe { v128_load64_zero(p.cast()) };
            let words = i16x8_extend_low_i8x16(bytes);
            (Self(f32x4_convert_i32x4(i32x4_extend_low_i16x8(words))), Self(f32x4_convert_i32x4(i32x4_extend_high_i16x8(words))))
        }
        /// The f32 at `p` in every lane (one `load32_splat`).
        ///
        /// # Safety
        /// `p` must be readable.
        #[inline(always)]
        pub unsafe fn read_splat(p: *const f32) -> Self {
            // SAFETY: the caller's contract.
            Self(unsafe { v128_load32_splat(p.cast()) })
        }
        #[inline(always)]
        pub fn min(self, o: Self) -> Self {
            Self(f32x4_pmin(self.0, o.0))
        }
        #[inline(always)]
        pub fn max(self, o: Self) -> Self {
            Self(f32x4_pmax(self.0, o.0))
        }
        #[inline(always)]
        pub fn floor(self) -> Self {
            Self(f32x4_floor(self.0))
        }
        /// All-ones lanes where `self < o`.
        #[inline(always)]
        pub fn lt(self, o: Self) -> Self {
            Self(f32x4_lt(self.0, o.0))
        }
        /// `if mask { a } else { b }` per lane, for a mask from [`F32x4::lt`].
        #[inline(always)]
        pub fn select(mask: Self, a: Self, b: Self) -> Self {
            Self(v128_bitselect(a.0, b.0, mask.0))
        }
        /// `2ⁿ` for lanes holding integers n in [−126, 127].
        #[inline(always)]
        pub fn exp2_of_integer(self) -> Self {
            Self(i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(self.0), i32x4_splat(127)), 23))
        }
    }

    macro_rules! op {
        ($trait:ident, $method:ident, $intrinsic:ident) => {
            impl core::ops::$trait for F32x4 {
                type Output = Self;
                #[inline(always)]
                fn $method(self, o: Self) -> Self {
                    Self($intrinsic(self.0, o.0))
                }
            }
        };
    }
    op!(Add, add, f32x4_add);
    op!(Sub, sub, f32x4_sub);
    op!(Mul, mul, f32x4_mul);
    op!(Div, div, f32x4_div);
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    use super::F32x4;

    impl F32x4 {
        #[inline(always)]
        fn map(self, f: impl Fn(f32) -> f32) -> Self {
            Self(self.0.map(f))
        }
        #[inline(always)]
        fn zip(self, o: Self, f: impl Fn(f32, f32) -> f32) -> Self {
            Self(std::array::from_fn(|i| f(self.0[i], o.0[i])))
        }
        #[inline(always)]
        pub fn splat(v: f32) -> Self {
            Self([v; 4])
        }
        #[inline(always)]
        pub fn from_array(a: [f32; 4]) -> Self {
            Self(a)
        }
        #[inline(always)]
        pub fn to_array(self) -> [f32; 4] {
            self.0
        }
        #[inline(always)]
        pub fn load(chunk: &[f32]) -> Self {
            Self([chunk[0], chunk[1], chunk[2], chunk[3]])
        }
        #[inline(always)]
        pub fn store(self, chunk: &mut [f32]) {
            chunk[..4].copy_from_slice(&self.0);
        }
        /// # Safety
        /// `p..p + 4` must be readable.
        #[inline(always)]
        pub unsafe fn read(p: *const f32) -> Self {
            // SAFETY: the caller's contract.
            Self(unsafe { [*p, *p.add(1), *p.add(2), *p.add(3)] })
        }
        /// # Safety
        /// `p..p + 4` must be writable.
        #[inline(always)]
        pub unsafe fn write(self, p: *mut f32) {
            // SAFETY: the caller's contract.
            unsafe { core::ptr::copy_nonoverlapping(self.0.as_ptr(), p, 4) }
        }
        /// # Safety
        /// `p` must be readable.
        #[inline(always)]
        pub unsafe fn read_splat(p: *const f32) -> Self {
            // SAFETY: the caller's contract.
            Self([unsafe { *p }; 4])
        }
        /// # Safety
        /// `p..p + 8` must be readable.
        #[inline(always)]
        pub unsafe fn read_i8x8(p: *const i8) -> (Self, Self) {
            // SAFETY: the caller's contract.
            let v = |i: usize| unsafe { *p.add(i) } as f32;
            (Self([v(0), v(1), v(2), v(3)]), Self([v(4), v(5), v(6), v(7)]))
        }
        /// wasm's `pmin`: `if o < self { o } else { self }`.
        #[inline(always)]
        pub fn min(self, o: Self) -> Self {
            self.zip(o, |a, b| if b < a { b } else { a })
        }
        /// wasm's `pmax`: `if self < o { o } else { self }`.
        #[inline(always)]
        pub fn max(self, o: Self) -> Self {
            self.zip(o, |a, b| if a < b { b } else { a })
        }
        #[inline(always)]
        pub fn floor(self) -> Self {
            self.map(f32::floor)
        }
        #[inline(always)]
        pub fn lt(self, o: Self) -> Self {
            self.zip(o, |a, b| f32::from_bits(if a < b { u32::MAX } else { 0 }))
        }
        #[inline(always)]
        pub fn select(mask: Self, a: Self, b: Self) -> Self {
            Self(std::array::from_fn(|i| f32::from_bits((mask.0[i].to_bits() & a.0[i].to_bits()) | (!mask.0[i].to_bits() & b.0[i].to_bits()))))
        }
        #[inline(always)]
        pub fn exp2_of_integer(self) -> Self {
            self.map(|n| f32::from_bits(((n as i32).wrapping_add(127) as u32) << 23))
        }
    }

    macro_rules! op {
        ($trait:ident, $method:ident, $op:tt) => {
            impl core::ops::$trait for F32x4 {
                type Output = Self;
                #[inline(always)]
                fn $method(self, o: Self) -> Self {
                    self.zip(o, |a, b| a $op b)
                }
            }
        };
    }
    op!(Add, add, +);
    op!(Sub, sub, -);
    op!(Mul, mul, *);
    op!(Div, div, /);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::cpu_device;

    /// One lane of [`erf4`].
    fn erf(x: f32) -> f32 {
        erf4(F32x4::splat(x)).to_array()[0]
    }

    /// One lane of [`exp4`].
    fn exp(x: f32) -> f32 {
        exp4(F32x4::splat(x)).to_array()[0]
    }

    #[test]
    fn erf_matches_f64_erf_over_the_whole_line() {
        let mut worst = 0f64;
        for i in -600_000..=600_000 {
            let x = i as f32 * 1e-5;
            let err = (erf(x) as f64 - libm::erf(x as f64)).abs();
            worst = worst.max(err);
        }
        for &x in &[-1e30f32, -10.0, 10.0, 1e30, f32::MIN, f32::MAX] {
            assert!((erf(x) - x.signum()).abs() <= 2e-7, "erf({x}) = {}", erf(x));
        }
        assert!(worst < 5e-7, "worst |erf - erf_f64| = {worst:e}");
        // Odd, and not a constant: a sign or coefficient slip shows here.
        assert!((erf(0.5) + erf(-0.5)).abs() < 1e-7 && (erf(0.5) - 0.520_499_9).abs() < 1e-6);
    }

    #[test]
    fn exp_is_within_two_ulp_of_f64_exp_below_zero() {
        let mut worst_ulp = 0f64;
        for i in 0..=870_000 {
            let x = -(i as f32) * 1e-4;
            let want = libm::exp(x as f64);
            let got = exp(x) as f64;
            let ulp = (want as f32).abs() as f64 * f32::EPSILON as f64;
            worst_ulp = worst_ulp.max((got - want).abs() / ulp.max(f64::MIN_POSITIVE));
        }
        assert!(worst_ulp <= 2.0, "worst error {worst_ulp} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    }

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let (a, b) = (a.into_data().try_into_vec::<f32>().unwrap(), b.into_data().try_into_vec::<f32>().unwrap());
        assert_eq!(a.len(), b.len());
        a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    fn pseudo_random(n: usize, spread: f32) -> Vec<f32> {
        let mut state = 0x2545_f491_u32;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32 - 0.5) * 2.0 * spread
            })
            .collect()
    }

    #[test]
    fn gelu_agrees_with_burns_gelu() {
        let device = cpu_device();
        let x = Tensor::<3>::from_data(TensorData::new(pseudo_random(2 * 9 * 40, 8.0), [2, 9, 40]), &device);
        let diff = max_abs_diff(gelu(x.clone()), activation::gelu(x));
        assert!(diff < 2e-6, "max |ours - burn| = {diff:e}");
    }

    #[test]
    fn masked_softmax_agrees_with_burn_for_padding_and_causal_masks() {
        let device = cpu_device();
        let (b, h, q, k) = (2, 3, 5, 7);
        let scores = Tensor::<4>::from_data(TensorData::new(pseudo_random(b * h * q * k, 30.0), [b, h, q, k]), &device);
        let scale = 1.0 / 8f64.sqrt();
        let reference = |mask: Tensor<4, Bool>| activation::softmax((scores.clone() * scale).mask_fill(mask, f32::MIN), 3);
        // Padding: the second text's last three keys are hidden, for every head and query.
        let pad: Vec<bool> = (0..b * k).map(|i| i / k == 1 && i % k >= 4).collect();
        let pad = Tensor::<4, Bool>::from_data(TensorData::new(pad, [b, 1, 1, k]), &device);
        let ours = masked_softmax(scores.clone(), scale, pad.clone());
        let hidden_mass: f32 = ours.clone().mask_fill(pad.clone().bool_not(), 0.0).sum().into_scalar();
        assert_eq!(hidden_mass, 0.0, "hidden keys must get exactly zero weight");
        assert!(max_abs_diff(ours, reference(pad)) < 1e-6);
        // Causal and padding together, one mask per text and query.
        let causal: Vec<bool> = (0..b * q * k).map(|i| (i % k) > (i / k) % q + 2 || (i / (q * k) == 0 && i % k == 0)).collect();
        let causal = Tensor::<4, Bool>::from_data(TensorData::new(causal, [b, 1, q, k]), &device);
        assert!(max_abs_diff(masked_softmax(scores.clone(), scale, causal.clone()), reference(causal)) < 1e-6);
        // Rows sum to one.
        let sums = masked_softmax(scores, 1.0, Tensor::<4, Bool>::from_data(TensorData::new(vec![false; k], [1, 1, 1, k]), &device))
            .sum_dim(3)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-6), "{sums:?}");
    }
}
