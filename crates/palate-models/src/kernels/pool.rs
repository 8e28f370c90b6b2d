//! Work split across threads: products by rows ([`by_rows`]) or by any pieces ([`map`]), and
//! element-wise or per-row passes ([`split_mut`]). With the `threads` feature the pieces run on
//! rayon's pool (in the browser, `wasm-bindgen-rayon`'s workers over shared memory); without it, on
//! a pool of one thread, or for small work, everything runs as one task.
//!
//! [`crate::kernels::gemm`] splits its weight's panels (columns), [`crate::kernels::igemm`] its rows;
//! either way each output value is computed by the same tiles with the same reductions in the same
//! order as the whole product would, so the numbers are identical for any number of threads (tested).

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

/// Tasks for `work` units split in at most `pieces`, each of at least `min_work`: 1 without
/// `threads`, on a pool of one, or for small work.
pub fn tasks(work: usize, min_work: usize, pieces: usize) -> usize {
    threads().min(work / min_work.max(1)).min(pieces).max(1)
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

/// Values per task below which element-wise work is not split.
const MIN_VALUES: usize = 1 << 14;

/// `f(first_unit, piece)` over `values` cut into contiguous pieces of whole units of `unit` values
/// (rows of a softmax, or any run for element-wise work), in parallel with `threads`. A piece sees
/// exactly the values it would see on one thread, so element-wise and per-row work computes the
/// same numbers however it is split.
pub fn split_mut(values: &mut [f32], unit: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let unit = unit.max(1);
    let units = values.len() / unit;
    let tasks = threads().min(values.len() / MIN_VALUES).min(units).max(1);
    if tasks == 1 {
        return f(0, values);
    }
    let per_task = units.div_ceil(tasks);
    for_each_piece(values, per_task * unit, |i, piece| f(i * per_task, piece));
}

#[cfg(feature = "threads")]
fn for_each_piece(values: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    use rayon::prelude::*;
    values.par_chunks_mut(len).enumerate().for_each(|(i, piece)| f(i, piece));
}

#[cfg(not(feature = "threads"))]
fn for_each_piece(values: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32])) {
    values.chunks_mut(len).enumerate().for_each(|(i, piece)| f(i, piece));
}

/// `f` over `items`, in parallel with `threads`; the results in order.
#[cfg(feature = "threads")]
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use rayon::prelude::*;
    items.par_iter().map(&f).collect()
}

/// `f` over `items`, in order.
#[cfg(not(feature = "threads"))]
pub fn map<T, R>(items: &[T], f: impl Fn(&T) -> R) -> Vec<R> {
    items.iter().map(f).collect()
}
