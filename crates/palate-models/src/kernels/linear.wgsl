// out[m, n] = a[m, k] · b[k, n] + bias[n], f32, row-major; k and n multiples of 4.
// Palate's linear layers on WebGPU (crates/palate-models/src/wgsl.rs explains why).
//
// A workgroup of 8 × 8 threads computes a 32 × 32 tile of `out`; each thread 4 rows × one vec4 of
// columns, in four vec4 accumulators. Along k the tile walks blocks of 32: both operands' blocks
// go through workgroup memory (32 × 8 vec4 each), every thread loading 4 vec4 of each. Every size
// the loops depend on is a constant, so they unroll and the browser's bounds clamps (robustness)
// on workgroup memory fold away; only the global loads and stores are guarded, once each.

struct Info {
  m: u32,
  k: u32,
  n: u32,
  _pad: u32,
}

// All read_write, as cubecl declares its own kernels' buffers: its memory pool places several
// tensors in one wgpu buffer, and WebGPU refuses a buffer bound read-only and writable in one
// dispatch.
// The bias comes last: wgsl.rs drops its line (and reads zero) for layers without one.
@group(0) @binding(0) var<storage, read_write> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> info: Info;
@group(0) @binding(4) var<storage, read_write> bias: array<vec4<f32>>;

const TILE: u32 = 32u;  // rows and columns of out per workgroup, and k per block
const V: u32 = 8u;      // TILE / 4: vec4 per tile row

var<workgroup> tile_a: array<array<vec4<f32>, 8>, 32>;  // [row][k / 4]
var<workgroup> tile_b: array<array<vec4<f32>, 8>, 32>;  // [k][column / 4]
// k through workgroup memory: a value read from a read_write storage buffer is non-uniform to
// WGSL's uniformity analysis, and a loop bounded by it may not contain a barrier (Chromium's Tint
// refuses the module; naga, natively, does not check). workgroupUniformLoad makes it uniform.
var<workgroup> k_uniform: u32;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let m = info.m;
  let n4 = info.n / 4u;
  let row0 = wid.y * TILE;
  let col0 = wid.x * V;       // in vec4
  let tx = lid.x;             // this thread's vec4 of columns in the tile
  let ty = lid.y;             // this thread's rows in the tile: 4 ty .. 4 ty + 3
  let flat = ty * V + tx;     // 0 .. 63
  if (flat == 0u) {
    k_uniform = info.k;
  }
  let k4 = workgroupUniformLoad(&k_uniform) / 4u;

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);

  for (var t = 0u; t < k4; t += V) {
    for (var i = 0u; i < 4u; i++) {
      let idx = flat + 64u * i;
      let r = idx / V;
      let c = idx % V;
      var va = vec4<f32>(0.0);
      if (row0 + r < m && t + c < k4) {
        va = a[(row0 + r) * k4 + t + c];
      }
      tile_a[r][c] = va;
      var vb = vec4<f32>(0.0);
      if (4u * t + r < info.k && col0 + c < n4) {
        vb = b[(4u * t + r) * n4 + col0 + c];
      }
      tile_b[r][c] = vb;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < V; kk++) {
      let b0 = tile_b[4u * kk][tx];
      let b1 = tile_b[4u * kk + 1u][tx];
      let b2 = tile_b[4u * kk + 2u][tx];
      let b3 = tile_b[4u * kk + 3u][tx];
      let a0 = tile_a[4u * ty][kk];
      let a1 = tile_a[4u * ty + 1u][kk];
      let a2 = tile_a[4u * ty + 2u][kk];
      let a3 = tile_a[4u * ty + 3u][kk];
      acc0 += a0.x * b0 + a0.y * b1 + a0.z * b2 + a0.w * b3;
      acc1 += a1.x * b0 + a1.y * b1 + a1.z * b2 + a1.w * b3;
      acc2 += a2.x * b0 + a2.y * b1 + a2.z * b2 + a2.w * b3;
      acc3 += a3.x * b0 + a3.y * b1 + a3.z * b2 + a3.w * b3;
    }
    workgroupBarrier();
  }

  let col = col0 + tx;
  if (col >= n4) {
    return;
  }
  let bv = bias[col];
  let r = row0 + 4u * ty;
  if (r < m) { out[r * n4 + col] = acc0 + bv; }
  if (r + 1u < m) { out[(r + 1u) * n4 + col] = acc1 + bv; }
  if (r + 2u < m) { out[(r + 2u) * n4 + col] = acc2 + bv; }
  if (r + 3u < m) { out[(r + 3u) * n4 + col] = acc3 + bv; }
}
