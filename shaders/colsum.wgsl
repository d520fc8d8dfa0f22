// Column sums of row-major matrices (the bias gradient of a matmul, split-K parts, LayerNorm parameter partials), one
// stage of a deterministic two-stage reduction (no atomics: every sum is taken in a fixed order, whatever the
// scheduling). One dispatch runs up to four independent jobs: job j sums xj [Rj, Nj] into outj (Rj = 0: none); the
// workgroups of job 0 come first, then job 1's, and so on. Every job takes its sums in the same order, so a job gives
// the same bits alone or beside others.
// Workgroup w of a job (linear over a folded 2-D grid; surplus workgroups do nothing) takes column tile w % tiles (64
// columns, so each row segment is 256 contiguous bytes) and row chunk w / tiles (256 rows). Thread (tx, ty) of its
// 64×4 threads sums column tile·64 + tx over the chunk's rows ty, ty + 4, … in order; the 4 row lanes are then added
// in order through workgroup memory. A job's MODE:
//   0 (partial): out[chunk·N + n] = chunk sum (a [chunks, N] scratch that a second stage, with R = chunks, sums)
//   1 (write):   out[n] = the sum of a single chunk (R ≤ 256; out not read)
//   2 (add):     out[n] += the sum of a single chunk
override MODE0: u32 = 2u;
override MODE1: u32 = 2u;
override MODE2: u32 = 2u;
override MODE3: u32 = 2u;

struct Params { R0: u32, N0: u32, R1: u32, N1: u32, R2: u32, N2: u32, R3: u32, N3: u32 }

@group(0) @binding(0) var<storage, read> x0: array<f32>;
@group(0) @binding(1) var<storage, read_write> out0: array<f32>;
@group(0) @binding(2) var<storage, read> x1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out1: array<f32>;
@group(0) @binding(4) var<storage, read> x2: array<f32>;
@group(0) @binding(5) var<storage, read_write> out2: array<f32>;
@group(0) @binding(6) var<storage, read> x3: array<f32>;
@group(0) @binding(7) var<storage, read_write> out3: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

const TILE: u32 = 64u;
const LANES: u32 = 4u;
const CHUNK: u32 = 256u;
var<workgroup> lanes: array<f32, 256>; // [LANES][TILE]

// The selected job's input (the job index is uniform across a workgroup).
fn load(job: u32, i: u32) -> f32 {
  switch job {
    case 0u: { return x0[i]; }
    case 1u: { return x1[i]; }
    case 2u: { return x2[i]; }
    default: { return x3[i]; }
  }
}

// Stores t at out_job[i]: over it (modes 0, 1) or added (mode 2).
fn store(job: u32, mode: u32, i: u32, t: f32) {
  switch job {
    case 0u: { if (mode == 2u) { out0[i] += t; } else { out0[i] = t; } }
    case 1u: { if (mode == 2u) { out1[i] += t; } else { out1[i] = t; } }
    case 2u: { if (mode == 2u) { out2[i] += t; } else { out2[i] = t; } }
    default: { if (mode == 2u) { out3[i] += t; } else { out3[i] = t; } }
  }
}

fn work(R: u32, N: u32) -> u32 {
  return ((N + TILE - 1u) / TILE) * ((R + CHUNK - 1u) / CHUNK);
}

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let Rs = array<u32, 4>(p.R0, p.R1, p.R2, p.R3);
  let Ns = array<u32, 4>(p.N0, p.N1, p.N2, p.N3);
  let modes = array<u32, 4>(MODE0, MODE1, MODE2, MODE3);
  // Which job this workgroup serves, and its index within that job's workgroups.
  var w = wid.x + wid.y * nwg.x;
  var job = 0u;
  loop {
    if (job == 4u) { return; }
    let n = work(Rs[job], Ns[job]);
    if (w < n) { break; }
    w -= n;
    job += 1u;
  }
  let R = Rs[job];
  let N = Ns[job];
  let mode = modes[job];
  let tiles = (N + TILE - 1u) / TILE;
  let chunk = w / tiles;
  let n = (w % tiles) * TILE + lid.x;
  let end = min(R, (chunk + 1u) * CHUNK);
  var s = 0.0;
  if (n < N) {
    // Four rows per iteration so their loads are in flight together; the adds stay in row order.
    var r = chunk * CHUNK + lid.y;
    for (; r + 3u * LANES < end; r += 4u * LANES) {
      let a = load(job, r * N + n);
      let b = load(job, (r + LANES) * N + n);
      let c = load(job, (r + 2u * LANES) * N + n);
      let d = load(job, (r + 3u * LANES) * N + n);
      s += a; s += b; s += c; s += d;
    }
    for (; r < end; r += LANES) { s += load(job, r * N + n); }
  }
  lanes[lid.y * TILE + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && n < N) {
    let t = ((lanes[lid.x] + lanes[TILE + lid.x]) + lanes[2u * TILE + lid.x]) + lanes[3u * TILE + lid.x];
    store(job, mode, select(n, chunk * N + n, mode == 0u), t);
  }
}
