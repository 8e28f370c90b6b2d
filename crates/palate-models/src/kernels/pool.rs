//! Work split across threads: a forward pass run on the pool ([`install`]), products by rows
//! ([`by_rows`]) or by ranges of panels ([`ranges`]), and element-wise or per-row passes
//! ([`split_mut`]). With the `threads` feature the pieces run on rayon's pool (in the browser,
//! `wasm-bindgen-rayon`'s workers over shared memory); without it, on a pool of one thread, or
//! for small work, everything runs as one task.
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

/// Runs `f` on a thread of the pool (with `threads`), so every split inside it is nested work
/// that the pool's threads share by stealing. Called from outside the pool (the page's worker
/// calling into wasm), each split would otherwise be sent to the pool on its own and the caller
/// put to sleep until it finishes: two hand-offs between threads per product, softmax or layer
/// norm, a hundred per MiniLM forward pass, which cost more than one-token batches gain.
/// Without `threads`, already on the pool, or for a `device` other than burn's CPU backend, `f`
/// runs here: the pool splits only host work, and on the wgpu backend a pass run on another thread
/// than the one that made its tensors gave wrong SmolLM2 log-probabilities (natively, `tests/gguf.rs`;
/// cubecl keeps device streams per thread).
pub fn install<R: Send>(device: &burn::tensor::Device, f: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "threads")]
    if threads() > 1 && rayon::current_thread_index().is_none() && crate::device::is_cpu(device) {
        return rayon::scope(|_| f());
    }
    let _ = device;
    f()
}

/// Tasks per thread a split aims for when the work allows: more tasks than threads let a thread
/// that finishes early steal from one that was held up (on a machine the browser shares, one
/// thread is often delayed), at the cost of more, smaller pieces.
const TASKS_PER_THREAD: usize = 3;

/// Pieces for `work` units in at most `pieces`, each of at least `min_work`:
/// [`TASKS_PER_THREAD`] per thread, fewer for small work, 1 without `threads`.
fn pieces(work: usize, min_work: usize, pieces: usize) -> usize {
    (threads() * TASKS_PER_THREAD).min(work / min_work.max(1)).min(pieces).max(1)
}

/// `f(range)` over `0..count` cut into contiguous ranges, in parallel with `threads`: as many as
/// `work` (the whole job's, in any unit) allows at `min_work` a piece.
pub fn ranges(count: usize, work: usize, min_work: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
    let tasks = pieces(work, min_work, count);
    if tasks == 1 {
        return f(0..count);
    }
    let per = count.div_ceil(tasks);
    let starts: Vec<usize> = (0..count).step_by(per).collect();
    map(&starts, |&start| f(start..(start + per).min(count)));
}

/// A slice that several tasks write at once, each to values no other task touches (disjoint
/// columns of one output, say), through [`Self::ptr`]. The borrow keeps the slice alive and
/// unread elsewhere meanwhile.
pub struct SharedMut<'a, T> {
    ptr: *mut T,
    _slice: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: `SharedMut` hands out only a raw pointer; every write through it is `unsafe` and its
// caller promises the tasks' writes are disjoint. `T: Send` because values are written from
// other threads.
unsafe impl<T: Send> Send for SharedMut<'_, T> {}
unsafe impl<T: Send> Sync for SharedMut<'_, T> {}

impl<'a, T> SharedMut<'a, T> {
    /// Shares `values` for the life of the borrow.
    pub fn new(values: &'a mut [T]) -> Self {
        Self { ptr: values.as_mut_ptr(), _slice: std::marker::PhantomData }
    }

    /// The first value's address.
    pub fn ptr(&self) -> *mut T {
        self.ptr
    }
}

/// `product(rows, m_chunk)` for `m` rows of `k` values in `a` (row-major): each chunk's `m_chunk ×
/// n` outputs, written in row order into one `[m, n]` output. Chunks are multiples of `tile` rows.
pub fn by_rows(a: &[f32], m: usize, k: usize, n: usize, tile: usize, product: impl Fn(&[f32], usize) -> Vec<f32> + Sync) -> Vec<f32> {
    let tasks = pieces(m, MIN_ROWS, m);
    if tasks == 1 || k == 0 || n == 0 {
        return product(a, m);
    }
    let chunk = m.div_ceil(tasks).next_multiple_of(tile.max(1));
    let mut out = vec![0f32; m * n];
    for_each_piece(&mut out, chunk * n, |i, out| {
        let rows = out.len() / n;
        out.copy_from_slice(&product(&a[i * chunk * k..][..rows * k], rows));
    });
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
    let tasks = pieces(values.len(), MIN_VALUES, units);
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
