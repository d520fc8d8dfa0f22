// Muon's momentum (SGD form): buf = μ·buf + g; the update fed to Newton–Schulz is g + μ·buf (Nesterov) or buf.
// (Muon's EMA form, buf = lerp(buf, g, 1−μ), differs by the factor 1−μ, which Newton–Schulz's normalisation removes.)
// A non-finite global gradient norm (set by guard_step) leaves buf untouched and writes a zero update.
// With loss scaling (`scaled`) g is the stored gradient times gradNorm[1] (guard_step's 1/scale).
struct Params { n: u32, mu: f32, nesterov: u32, scaled: u32 }

@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> buf: array<f32>;
@group(0) @binding(2) var<storage, read_write> update: array<f32>;
@group(0) @binding(3) var<storage, read> gradNorm: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

//#include finite

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  if (!is_finite(gradNorm[0])) {
    update[i] = 0.0;
    return;
  }
  var g = grad[i];
  if (p.scaled != 0u) { g = g * gradNorm[1]; }
  let b = p.mu * buf[i] + g;
  buf[i] = b;
  if (p.nesterov != 0u) { update[i] = g + p.mu * b; } else { update[i] = b; }
}
