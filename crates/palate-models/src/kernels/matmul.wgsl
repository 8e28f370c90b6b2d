// out[z, m, n] = a[z, m, k] · b[z, k, n], f32, row-major, any m, k and n; z = workgroup_id.z
// walks the batch (attention's batch × heads). A `b` shared by every batch has b_batch = 0.
// Palate's general matrix product on WebGPU (crates/palate-models/src/wgsl.rs explains why).
//
// The tiling of linear.wgsl (32 × 32 outputs per workgroup of 8 × 8 threads, 4 rows × 4 columns
// each, blocks of 32 along k through workgroup memory), with scalar global loads and stores
// guarded one by one, so no width has to be a multiple of 4.

struct Info {
  m: u32,
  k: u32,
  n: u32,
  a_batch: u32,  // elements between two batches of a (m · k)
  b_batch: u32,  // elements between two batches of b (k · n, or 0 when shared)
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

// All read_write, as in linear.wgsl (cubecl's memory pool shares buffers between tensors).
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> info: Info;

const TILE: u32 = 32u;  // rows and columns of out per workgroup, and k per block
const V: u32 = 8u;      // TILE / 4: vec4 per tile row

var<workgroup> tile_a: array<array<vec4<f32>, 8>, 32>;  // [row][k / 4]
var<workgroup> tile_b: array<array<vec4<f32>, 8>, 32>;  // [k][column / 4]
var<workgroup> k_uniform: u32;  // k, made uniform for the loop that holds the barriers (linear.wgsl)

fn load_a(base: u32, row: u32, col: u32) -> f32 {
  if (row < info.m && col < info.k) {
    return a[base + row * info.k + col];
  }
  return 0.0;
}

fn load_b(base: u32, row: u32, col: u32) -> f32 {
  if (row < info.k && col < info.n) {
    return b[base + row * info.n + col];
  }
  return 0.0;
}

fn store(base: u32, row: u32, col: u32, v: vec4<f32>) {
  if (row >= info.m) {
    return;
  }
  let at = base + row * info.n + col;
  if (col < info.n) { out[at] = v.x; }
  if (col + 1u < info.n) { out[at + 1u] = v.y; }
  if (col + 2u < info.n) { out[at + 2u] = v.z; }
  if (col + 3u < info.n) { out[at + 3u] = v.w; }
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let a0 = wid.z * info.a_batch;
  let b0 = wid.z * info.b_batch;
  let o0 = wid.z * info.m * info.n;
  let row0 = wid.y * TILE;
  let col0 = wid.x * TILE;    // in scalars
  let tx = lid.x;             // this thread's 4 columns in the tile: 4 tx .. 4 tx + 3
  let ty = lid.y;             // this thread's rows in the tile: 4 ty .. 4 ty + 3
  let flat = ty * V + tx;     // 0 .. 63
  if (flat == 0u) {
    k_uniform = info.k;
  }
  let k = workgroupUniformLoad(&k_uniform);

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);

  for (var t = 0u; t < k; t += TILE) {
    for (var i = 0u; i < 4u; i++) {
      let idx = flat + 64u * i;
      let r = idx / V;
      let c = 4u * (idx % V);
      let ra = row0 + r;
      tile_a[r][c / 4u] = vec4<f32>(load_a(a0, ra, t + c), load_a(a0, ra, t + c + 1u), load_a(a0, ra, t + c + 2u), load_a(a0, ra, t + c + 3u));
      let rb = t + r;
      let cb = col0 + c;
      tile_b[r][c / 4u] = vec4<f32>(load_b(b0, rb, cb), load_b(b0, rb, cb + 1u), load_b(b0, rb, cb + 2u), load_b(b0, rb, cb + 3u));
    }
    workgroupBarrier();
    for (var kk = 0u; kk < V; kk++) {
      let b0v = tile_b[4u * kk][tx];
      let b1v = tile_b[4u * kk + 1u][tx];
      let b2v = tile_b[4u * kk + 2u][tx];
      let b3v = tile_b[4u * kk + 3u][tx];
      let a0v = tile_a[4u * ty][kk];
      let a1v = tile_a[4u * ty + 1u][kk];
      let a2v = tile_a[4u * ty + 2u][kk];
      let a3v = tile_a[4u * ty + 3u][kk];
      acc0 += a0v.x * b0v + a0v.y * b1v + a0v.z * b2v + a0v.w * b3v;
      acc1 += a1v.x * b0v + a1v.y * b1v + a1v.z * b2v + a1v.w * b3v;
      acc2 += a2v.x * b0v + a2v.y * b1v + a2v.z * b2v + a2v.w * b3v;
      acc3 += a3v.x * b0v + a3v.y * b1v + a3v.z * b2v + a3v.w * b3v;
    }
    workgroupBarrier();
  }

  let r = row0 + 4u * ty;
  let col = col0 + 4u * tx;
  store(o0, r, col, acc0);
  store(o0, r + 1u, col, acc1);
  store(o0, r + 2u, col, acc2);
  store(o0, r + 3u, col, acc3);
}
