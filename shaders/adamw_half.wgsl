// AdamW (adamw.wgsl's update, element for element the same arithmetic) that also writes the updated values rounded to
// halves into the f16 weight copy of f16-mixed training, so the copy costs no pass of its own: thread j updates
// elements 2j and 2j + 1 and writes word j of the copy (element 2j in the low 16 bits; an odd count pads with +0,
// the alignment gap the model never reads). Rounding as to_half.wgsl (ties to even, past 65504 → ±infinity). A
// skipped update (non-finite norm) leaves the copy as it was, the rounding of the unchanged values.
//#include adamw_step
@group(0) @binding(5) var<storage, read_write> copy16: array<u32>;
@group(0) @binding(6) var<uniform> p: Params;

//#include half_bits

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * 256u;
  let i = 2u * j;
  if (i >= p.n) { return; }
  if (!is_finite(gradNorm[0])) { return; }
  let k = gradFactor();
  let lo = halfBits(adamwStep(i, k));
  var hi = 0u;
  if (i + 1u < p.n) { hi = halfBits(adamwStep(i + 1u, k)); }
  copy16[j] = lo | (hi << 16u);
}
