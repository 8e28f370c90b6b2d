//! Row-parallel products: with the `threads` feature, a product's rows are split into contiguous
//! chunks, one task per chunk on rayon's pool (in the browser, `wasm-bindgen-rayon`'s workers over
//! shared memory); without it, or on a pool of one thread, the whole product runs as one task.
//!
//! Each output row of [`crate::kernels::gemm`] and [`crate::kernels::igemm`] depends only on its own
//! input row, and a chunk runs the same tiles with the same reductions in the same order as the
//! whole product would, so the numbers are identical for any number of threads (tested).

/// Rows per task below which a product is not split: smaller chunks cost more in scheduling than
/// they gain (a 384 × 384 product of 16 rows is ~0.1 ms).
const MIN_ROWS: usize = 16;

/// Threads a product may use: rayon's pool size with `threads`, else 1.
pub fn threads() -> usize {
    #[cfg(feature = "threads")]
    {
        rayon::current_num_threads()
    }
    #[cfg(not(feature = "threads"))]
    {
        1
    }
}

/// `product(rows, m_chunk)` for `m` rows of `k` values in `a` (row-major), each chunk's `m_chunk × n`
/// outputs concatenated in row order. Chunks are multiples of `tile` rows.
pub fn by_rows(a: &[f32], m: usize, k: usize, n: usize, tile: usize, product: impl Fn(&[f32], usize) -> Vec<f32> + Sync) -> Vec<f32> {
    let tasks = threads().min(m / MIN_ROWS).max(1);
    if tasks == 1 || k == 0 {
        return product(a, m);
    }
    let chunk = m.div_ceil(tasks).next_multiple_of(tile.max(1));
    let chunks: Vec<&[f32]> = a.chunks(chunk * k).collect();
    let outputs = map(&chunks, |rows| product(rows, rows.len() / k));
    let mut out = Vec::with_capacity(m * n);
    for o in outputs {
        out.extend_from_slice(&o);
    }
    out
}

#[cfg(feature = "threads")]
fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use rayon::prelude::*;
    items.par_iter().map(&f).collect()
}

#[cfg(not(feature = "threads"))]
fn map<T, R>(items: &[T], f: impl Fn(&T) -> R) -> Vec<R> {
    items.iter().map(f).collect()
}
