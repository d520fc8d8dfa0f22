// Batched matmul with optional transposes and epilogue:
//   C[b] = alpha · op(A[b]) · op(B[b]) + bias + beta · C[b]
// op(A) is [M,K]: A is stored [M,K], or [K,M] when TRANS_A. op(B) is [K,N]: B is stored [K,N], or [N,K] when TRANS_B.
// Bias [N] is added per column when HAS_BIAS. C is read only when beta != 0 (so an uninitialised C is fine).
// Register tiling (shaders/lib/matmul_tile.wgsl; TILE = 8·WG: 128 with 16×16 threads, 64 with 8×8). The launcher
// also has the plain 64×64, 4×4-per-thread kernel (matmul_simple.wgsl) and a vec4-load twin of this one
// (matmul_v4.wgsl), and picks per shape, by timing where it may. K advances TK at a time; the next K slice is fetched
// from global memory into registers (scalar loads) while the current one is multiplied.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
const WG: u32 = 16u; // 8 in the 64×64 variant (the launcher substitutes this line)

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

//#include matmul_tile

// Operand elements each thread stages per K slice: TK·TILE / WG² = 128 / WG (8 or 16). All constants: every loop
// below has a compile-time trip count, so the per-thread arrays can live in registers.
const LOADS: u32 = (TK * TILE) / (WG * WG);

fn loadA(base: u32, m0: u32, k0: u32, e: u32) -> f32 {
  // Consecutive threads walk the stored layout's contiguous dimension.
  var m: u32; var k: u32;
  if (TRANS_A) { k = e / TILE; m = e % TILE; } else { m = e / TK; k = e % TK; }
  let gm = m0 + m;
  let gk = k0 + k;
  if (gm >= p.M || gk >= p.K) { return 0.0; }
  if (TRANS_A) { return A[base + gk * p.M + gm]; }
  return A[base + gm * p.K + gk];
}

fn loadB(base: u32, n0: u32, k0: u32, e: u32) -> f32 {
  var n: u32; var k: u32;
  if (TRANS_B) { n = e / TK; k = e % TK; } else { k = e / TILE; n = e % TILE; }
  let gn = n0 + n;
  let gk = k0 + k;
  if (gn >= p.N || gk >= p.K) { return 0.0; }
  if (TRANS_B) { return B[base + gn * p.K + gk]; }
  return B[base + gk * p.N + gn];
}

// Where element e of a thread's staged slice goes in workgroup memory: (k, m) → As[k][m].
fn slotA(e: u32) -> vec2<u32> {
  var m: u32; var k: u32;
  if (TRANS_A) { k = e / TILE; m = e % TILE; } else { m = e / TK; k = e % TK; }
  return vec2<u32>(k * Q + m / 4u, m % 4u);
}

fn slotB(e: u32) -> vec2<u32> {
  var n: u32; var k: u32;
  if (TRANS_B) { n = e / TK; k = e % TK; } else { k = e / TILE; n = e % TILE; }
  return vec2<u32>(k * Q + n / 4u, n % 4u);
}

@compute @workgroup_size(WG, WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  let aBase = wid.z * p.strideA;
  let bBase = wid.z * p.strideB;
  let cBase = wid.z * p.strideC;
  let threads = WG * WG;
  var acc: array<vec4<f32>, 16>; // row r (0..7) × column half h: acc[r * 2 + h]
  var ra: array<f32, LOADS>;
  var rb: array<f32, LOADS>;
  for (var i = 0u; i < LOADS; i++) {
    ra[i] = loadA(aBase, m0, 0u, li + i * threads);
    rb[i] = loadB(bBase, n0, 0u, li + i * threads);
  }
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    for (var i = 0u; i < LOADS; i++) {
      let sa = slotA(li + i * threads);
      As[sa.x][sa.y] = ra[i];
      let sb = slotB(li + i * threads);
      Bs[sb.x][sb.y] = rb[i];
    }
    workgroupBarrier();
    if (k0 + TK < p.K) {
      for (var i = 0u; i < LOADS; i++) {
        ra[i] = loadA(aBase, m0, k0 + TK, li + i * threads);
        rb[i] = loadB(bBase, n0, k0 + TK, li + i * threads);
      }
    }
    multiplySlice(&acc, lid);
    workgroupBarrier();
  }
  storeTile(&acc, m0, n0, cBase, lid);
}
