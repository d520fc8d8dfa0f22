// Column sums of many independent jobs in one dispatch, each job described by a row of a table instead of bindings
// of its own: every job's input lies in one buffer (x: the column-sum arena of a backward pass) and its output in one
// of four (out0…out3: gradient banks, or separate gradients). Job j sums x[xOff + r·N + n] over r < R ≤ 256 (a
// single chunk: the last stage of a sum) into out_slot[outOff + n], with exactly the tiling and order of colsum.wgsl,
// so a job gives the same bits in either kernel. Table row j (8 words): first workgroup of the job, xOff, outOff, R,
// N, mode (1: write, 2: add, as in colsum.wgsl), slot, 0; rows are sorted by their first workgroup, and p.work is the
// total. Workgroup w (linear over a folded 2-D grid) finds its job by binary search.
struct Params { jobs: u32, work: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out0: array<f32>;
@group(0) @binding(2) var<storage, read_write> out1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out2: array<f32>;
@group(0) @binding(4) var<storage, read_write> out3: array<f32>;
@group(0) @binding(5) var<storage, read> table: array<u32>;
@group(0) @binding(6) var<uniform> p: Params;

const TILE: u32 = 64u;
const LANES: u32 = 4u;
const CHUNK: u32 = 256u;
const ROW: u32 = 8u;
var<workgroup> lanes: array<f32, 256>; // [LANES][TILE]

// Stores t at out_slot[i]: over it (mode 1) or added (mode 2).
fn store(slot: u32, mode: u32, i: u32, t: f32) {
  switch slot {
    case 0u: { if (mode == 2u) { out0[i] += t; } else { out0[i] = t; } }
    case 1u: { if (mode == 2u) { out1[i] += t; } else { out1[i] = t; } }
    case 2u: { if (mode == 2u) { out2[i] += t; } else { out2[i] = t; } }
    default: { if (mode == 2u) { out3[i] += t; } else { out3[i] = t; } }
  }
}

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= p.work) { return; }
  // The last job whose first workgroup is ≤ g.
  var lo = 0u;
  var hi = p.jobs;
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (table[mid * ROW] <= g) { lo = mid; } else { hi = mid; }
  }
  let row = lo * ROW;
  let w = g - table[row];
  let xOff = table[row + 1u];
  let outOff = table[row + 2u];
  let R = table[row + 3u];
  let N = table[row + 4u];
  let mode = table[row + 5u];
  let slot = table[row + 6u];
  let n = w * TILE + lid.x;
  let end = min(R, CHUNK);
  var s = 0.0;
  if (n < N) {
    // Four rows per iteration so their loads are in flight together; the adds stay in row order.
    var r = lid.y;
    for (; r + 3u * LANES < end; r += 4u * LANES) {
      let a = x[xOff + r * N + n];
      let b = x[xOff + (r + LANES) * N + n];
      let c = x[xOff + (r + 2u * LANES) * N + n];
      let d = x[xOff + (r + 3u * LANES) * N + n];
      s += a; s += b; s += c; s += d;
    }
    for (; r < end; r += LANES) { s += x[xOff + r * N + n]; }
  }
  lanes[lid.y * TILE + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && n < N) {
    let t = ((lanes[lid.x] + lanes[TILE + lid.x]) + lanes[2u * TILE + lid.x]) + lanes[3u * TILE + lid.x];
    store(slot, mode, outOff + n, t);
  }
}
