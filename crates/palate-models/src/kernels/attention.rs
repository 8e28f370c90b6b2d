//! Self-attention on burn's CPU backend in one pass per head: `softmax(q·kᵀ·scale, hidden keys →
//! 0)·v`, reading the heads straight out of the linear layers' outputs and writing them straight
//! into the layer's output.
//!
//! Why: run as burn ops, attention splits the heads out (`reshape` + `swap_dims`), multiplies
//! with the `gemm` crate (which packs both operands on every call), softmaxes the scores in a pass
//! of their own, multiplies again and copies the heads back together. In Chromium (wasm CPU,
//! MiniLM q8, 8 texts × 128 tokens; a V8 CPU profile) the two products alone were ~9% of a forward
//! pass for ~5% of its multiply-adds. Here each head's keys and values are packed once into
//! [`crate::kernels::gemm`]'s panels, and for each tile of four queries the scores, their softmax
//! ([`crate::kernels::cpu_ops::softmax_biased_row`]) and the weighted values run on
//! [`crate::kernels::gemm::kernel_4x8`] while the tile is in cache.
//!
//! Heads are independent, so they are the unit of work across threads ([`crate::kernels::pool`]):
//! each output value is computed the same way whatever the number of threads.

use burn::tensor::{Bool, Tensor, TensorData};

use crate::kernels::cpu_ops::{F32x4, on_host, softmax_biased_row};
use crate::kernels::gemm::{MR, NR, kernel_4x8};
use crate::kernels::pool;

/// Multiply-adds below which the heads run on one thread.
const MIN_SPLIT_MACS: usize = 1 << 20;

/// Attention over `heads` heads of `q`, `k`, `v` `[batch, seq, heads · head_dim]` (head `h` in
/// columns `h·head_dim..(h + 1)·head_dim`, as a linear layer writes them) → `[batch, seq, heads ·
/// head_dim]` in the same layout. `hidden` is true where a key is hidden from a query (padding):
/// `[batch or 1, 1, seq or 1, seq]`. A query whose keys are all hidden gets zeros, as
/// [`crate::kernels::cpu_ops::masked_softmax`].
///
/// `None` where this path does not apply and the caller's burn ops run instead: not f32 on the
/// host, shapes that disagree, a head size that is not a multiple of [`NR`], or a mask of another
/// shape.
pub fn self_attention(q: &Tensor<3>, k: &Tensor<3>, v: &Tensor<3>, heads: usize, scale: f64, hidden: &Tensor<4, Bool>) -> Option<Tensor<3>> {
    let [batch, seq, width] = q.dims();
    let mask = hidden.dims();
    let applies = on_host(q)
        && on_host(k)
        && on_host(v)
        && k.dims() == q.dims()
        && v.dims() == q.dims()
        && heads > 0
        && width.is_multiple_of(heads)
        && (width / heads).is_multiple_of(NR)
        && (mask[0] == 1 || mask[0] == batch)
        && mask[1] == 1
        && (mask[2] == 1 || mask[2] == seq)
        && mask[3] == seq;
    if !applies {
        return None;
    }
    let host = |t: &Tensor<3>| t.clone().into_data().try_into_vec::<f32>().ok();
    let (qs, ks, vs) = (host(q)?, host(k)?, host(v)?);
    let hidden = hidden.clone().into_data().try_into_vec::<bool>().ok()?;
    let shape = Shape { seq, width, head_dim: width / heads, scale: scale as f32, mask_batch: mask[0] > 1, mask_rows: mask[2] > 1 };
    let mut out = vec![0f32; batch * seq * width];
    let shared = pool::SharedMut::new(&mut out);
    let work = 2 * batch * heads * seq * seq * shape.head_dim;
    pool::ranges(batch * heads, work, MIN_SPLIT_MACS, |pairs| {
        let mut scratch = Scratch::new(&shape);
        for pair in pairs {
            // SAFETY: `out` holds `batch · seq · width` values and head `pair % heads` of batch
            // `pair / heads` writes only its own columns of its own batch's rows; the ranges are
            // disjoint, so no two tasks write the same value.
            unsafe { shape.head(pair / heads, pair % heads, &qs, &ks, &vs, &hidden, &mut scratch, shared.ptr()) };
        }
    });
    Some(Tensor::from_data(TensorData::new(out, [batch, seq, width]), &q.device()))
}

/// The sizes of one [`self_attention`] call.
struct Shape {
    seq: usize,
    width: usize,
    head_dim: usize,
    scale: f32,
    /// Whether the mask has a row per batch / per query (else it broadcasts).
    mask_batch: bool,
    mask_rows: bool,
}

/// One task's buffers, reused across its heads.
struct Scratch {
    /// Keys padded to whole panels: `ceil(seq / NR) · NR`.
    keys: usize,
    /// `kᵀ` of one head as panels of [`NR`] keys: `keys / NR` panels of `head_dim × NR`.
    k_panels: Vec<f32>,
    /// `v` of one head as panels of [`NR`] columns: `head_dim / NR` panels of `keys × NR`.
    v_panels: Vec<f32>,
    /// A tile's scores, then weights: `MR × keys`.
    scores: Vec<f32>,
    /// The last partial tile of queries (`MR × head_dim`, zero rows past `seq`) and its output.
    q_tail: Vec<f32>,
    out_tail: Vec<f32>,
    /// The mask row of [`Self::bias_of`] as 0 (seen) or −∞ (hidden, and the padding keys).
    bias: Vec<f32>,
    /// Which mask row `bias` holds: its offset in the mask.
    bias_of: Option<usize>,
}

impl Scratch {
    fn new(s: &Shape) -> Self {
        let keys = s.seq.next_multiple_of(NR);
        Self {
            keys,
            k_panels: vec![0.0; keys * s.head_dim],
            v_panels: vec![0.0; keys * s.head_dim],
            scores: vec![0.0; MR * keys],
            q_tail: vec![0.0; MR * s.head_dim],
            out_tail: vec![0.0; MR * s.head_dim],
            bias: vec![f32::NEG_INFINITY; keys],
            bias_of: None,
        }
    }
}

impl Shape {
    /// Head `h` of batch `b` into `out`.
    ///
    /// # Safety
    /// `out` is valid for `batch · seq · width` values, and no other thread writes columns
    /// `h·head_dim..(h + 1)·head_dim` of batch `b`'s rows meanwhile.
    #[allow(clippy::too_many_arguments)]
    unsafe fn head(&self, b: usize, h: usize, q: &[f32], k: &[f32], v: &[f32], hidden: &[bool], s: &mut Scratch, out: *mut f32) {
        let (seq, width, d, keys) = (self.seq, self.width, self.head_dim, s.keys);
        let column = h * d;
        let row = |j: usize| (b * seq + j) * width + column;
        // Keys and values of this head into panels; padding keys stay zero.
        let (k_panels, v_panels) = (s.k_panels.as_mut_ptr(), s.v_panels.as_mut_ptr());
        for j in 0..seq {
            let (k_row, v_row) = (&k[row(j)..row(j) + d], &v[row(j)..row(j) + d]);
            let k_at = (j / NR * d) * NR + j % NR;
            for t in 0..d {
                // SAFETY: `j < seq <= keys` and `t < d`: inside `k_panels` (`keys · d` values);
                // `k_row` and `v_row` are `d` long.
                unsafe { *k_panels.add(k_at + t * NR) = *k_row.get_unchecked(t) };
            }
            for p in 0..d / NR {
                // SAFETY: panel `p < d / NR`, row `j < keys`: `NR` values inside `v_panels`
                // (`d / NR · keys · NR`); columns `p·NR..p·NR + NR <= d` of `v_row`.
                unsafe { std::ptr::copy_nonoverlapping(v_row.as_ptr().add(p * NR), v_panels.add((p * keys + j) * NR), NR) };
            }
        }
        let zero = Some((F32x4::splat(0.0), F32x4::splat(0.0)));
        for i0 in (0..seq).step_by(MR) {
            let rows = MR.min(seq - i0);
            let (a, lda) = if rows == MR {
                (q[row(i0)..].as_ptr(), width)
            } else {
                s.q_tail.fill(0.0);
                for r in 0..rows {
                    s.q_tail[r * d..(r + 1) * d].copy_from_slice(&q[row(i0 + r)..row(i0 + r) + d]);
                }
                (s.q_tail.as_ptr(), d)
            };
            // SAFETY: `a` holds MR rows of `d` values `lda` apart (four rows of `q` below `seq`,
            // or `q_tail`); each panel is `d × NR` values of `k_panels`; `scores` is `MR × keys`
            // and the tile writes columns `p·NR..p·NR + NR <= keys`.
            for p in 0..keys / NR {
                unsafe { kernel_4x8(a, lda, s.k_panels.as_ptr().add(p * d * NR), d, s.scores.as_mut_ptr().add(p * NR), keys, zero) };
            }
            for r in 0..MR {
                let scores = &mut s.scores[r * keys..(r + 1) * keys];
                if r >= rows {
                    scores.fill(0.0);
                    continue;
                }
                // The mask is `[batch or 1, 1, seq or 1, seq]`, contiguous.
                let per_batch = if self.mask_rows { seq * seq } else { seq };
                let at = if self.mask_batch { b * per_batch } else { 0 } + if self.mask_rows { (i0 + r) * seq } else { 0 };
                if s.bias_of != Some(at) {
                    for (slot, &h) in s.bias.iter_mut().zip(&hidden[at..at + seq]) {
                        *slot = if h { f32::NEG_INFINITY } else { 0.0 };
                    }
                    s.bias_of = Some(at);
                }
                softmax_biased_row(scores, self.scale, &s.bias);
            }
            let (c, ldc) = if rows == MR { (unsafe { out.add(row(i0)) }, width) } else { (s.out_tail.as_mut_ptr(), d) };
            // SAFETY: `scores` holds MR rows of `keys` weights; each panel is `keys × NR` values
            // of `v_panels`; `c` is four rows `ldc` apart of this head's `d` columns of `out` (rows
            // below `seq`, the caller's contract) or `out_tail`.
            for p in 0..d / NR {
                unsafe { kernel_4x8(s.scores.as_ptr(), keys, s.v_panels.as_ptr().add(p * keys * NR), keys, c.add(p * NR), ldc, zero) };
            }
            if rows < MR {
                for r in 0..rows {
                    // SAFETY: row `i0 + r < seq` of `out`, this head's columns (the caller's contract).
                    unsafe { std::ptr::copy_nonoverlapping(s.out_tail.as_ptr().add(r * d), out.add(row(i0 + r)), d) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::cpu_device;
    use crate::kernels::gemm::testing::pseudo_random;

    /// Float64 attention over `[batch, seq, heads · d]` values, `hidden(b, i, j)` true where key
    /// `j` is hidden from query `i` of text `b`.
    fn reference(q: &[f32], k: &[f32], v: &[f32], [batch, seq, width]: [usize; 3], heads: usize, hidden: impl Fn(usize, usize, usize) -> bool) -> Vec<f64> {
        let d = width / heads;
        let scale = 1.0 / (d as f64).sqrt();
        let mut out = vec![0f64; batch * seq * width];
        let at = |b: usize, i: usize, h: usize, t: usize| (b * seq + i) * width + h * d + t;
        for b in 0..batch {
            for h in 0..heads {
                for i in 0..seq {
                    let scores: Vec<f64> = (0..seq)
                        .map(|j| match hidden(b, i, j) {
                            true => f64::NEG_INFINITY,
                            false => (0..d).map(|t| q[at(b, i, h, t)] as f64 * k[at(b, j, h, t)] as f64).sum::<f64>() * scale,
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    if max == f64::NEG_INFINITY {
                        continue;
                    }
                    let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let total: f64 = weights.iter().sum();
                    for t in 0..d {
                        out[at(b, i, h, t)] = (0..seq).map(|j| weights[j] / total * v[at(b, j, h, t)] as f64).sum();
                    }
                }
            }
        }
        out
    }

    fn run(dims: [usize; 3], heads: usize, mask: (Vec<bool>, [usize; 4]), hidden: impl Fn(usize, usize, usize) -> bool) {
        let device = cpu_device();
        let n = dims.iter().product();
        let (q, k, v) = (pseudo_random(n, 1), pseudo_random(n, 5), pseudo_random(n, 9));
        let tensor = |x: &[f32]| Tensor::<3>::from_data(TensorData::new(x.to_vec(), dims), &device);
        let mask = Tensor::<4, Bool>::from_data(TensorData::new(mask.0, mask.1), &device);
        let d = dims[2] / heads;
        let got = self_attention(&tensor(&q), &tensor(&k), &tensor(&v), heads, 1.0 / (d as f64).sqrt(), &mask).expect("f32 on the host, head size a multiple of 8");
        let got = got.into_data().try_into_vec::<f32>().expect("f32");
        let want = reference(&q, &k, &v, dims, heads, hidden);
        let worst = got.iter().zip(&want).map(|(&g, &w)| (g as f64 - w).abs()).fold(0.0, f64::max);
        assert!(worst < 2e-6, "{dims:?}, {heads} heads: max |ours - float64| = {worst:e}");
    }

    #[test]
    fn matches_a_float64_reference_with_padding_and_partial_tiles() {
        // 13 tokens: a partial tile of queries (13 = 3·4 + 1) and of keys (13 = 8 + 5).
        let (batch, seq) = (2, 13);
        // The second text's last five tokens are padding.
        let pad = |b: usize, j: usize| b == 1 && j >= seq - 5;
        let mask: Vec<bool> = (0..batch * seq).map(|x| pad(x / seq, x % seq)).collect();
        run([batch, seq, 3 * 16], 3, (mask, [batch, 1, 1, seq]), |b, _, j| pad(b, j));
        // One token, one tile.
        run([1, 1, 2 * 8], 2, (vec![false], [1, 1, 1, 1]), |_, _, _| false);
    }

    #[test]
    fn matches_a_float64_reference_with_a_mask_per_query() {
        // A causal mask shared by the batch, with a text whose first query sees nothing.
        let seq = 9;
        let hidden = |_: usize, i: usize, j: usize| j > i || i == 0;
        let mask: Vec<bool> = (0..seq * seq).map(|x| hidden(0, x / seq, x % seq)).collect();
        run([2, seq, 2 * 8], 2, (mask, [1, 1, seq, seq]), hidden);
    }

    #[test]
    fn declines_what_it_does_not_cover() {
        let device = cpu_device();
        let x = Tensor::<3>::from_data(TensorData::new(pseudo_random(2 * 3 * 12, 1), [2, 3, 12]), &device);
        let mask = Tensor::<4, Bool>::from_data(TensorData::new(vec![false; 6], [2, 1, 1, 3]), &device);
        // Heads of 6 values (not whole panels of 8), and heads that do not divide the width.
        assert!(self_attention(&x, &x, &x, 2, 1.0, &mask).is_none());
        assert!(self_attention(&x, &x, &x, 5, 1.0, &mask).is_none());
        // A mask of another shape.
        let wrong = Tensor::<4, Bool>::from_data(TensorData::new(vec![false; 4], [2, 1, 1, 2]), &device);
        assert!(self_attention(&x, &x, &x, 1, 1.0, &wrong).is_none());
        let one_head = Tensor::<3>::from_data(TensorData::new(pseudo_random(2 * 3 * 8, 1), [2, 3, 8]), &device);
        assert!(self_attention(&one_head, &one_head, &one_head, 1, 1.0, &mask).is_some());
    }
}
