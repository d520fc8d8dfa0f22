// The step guard: one thread checks the step's mean loss and global gradient norm. A non-finite value (or any earlier
// one: the flag is sticky) sets the flag and turns the norm into NaN, and every optimizer kernel skips its update
// when the norm it reads is not finite. So a bad step never reaches the parameters, without a host round trip.
// norm[1] is the factor the optimizer kernels multiply the gradients by before anything else: 1 without loss scaling.
//
// With dynamic loss scaling (p.scaled = 1) the gradients came from a backward seeded with scale/accum, so they are
// scale times the true ones. A non-finite norm then means they overflowed: this update alone is skipped (the norm is
// NaN for it, the flag stays clear), the scale halves (not below minScale) and the clean-step count restarts; where the
// scale was minScale already, the step halts the run as an unscaled one would. A finite norm is divided by the scale
// (the true norm, for clipping and the metrics), norm[1] = 1/scale unscales the gradients, and after `interval` clean
// updates in a row the scale doubles (not above maxScale). Scales are powers of two, so scaling and unscaling are exact
// in f32 wherever nothing overflows or goes subnormal: a scaled run's update is the unscaled one's, bit for bit.
// state = [scale, clean updates since the last change, updates skipped so far, 1 if this update was skipped]; the
// next update's backward seed is written from the new scale.
struct Params { scaled: u32, invAccum: f32, interval: f32, minScale: f32, maxScale: f32 }

@group(0) @binding(0) var<storage, read> loss: array<f32>;
@group(0) @binding(1) var<storage, read_write> norm: array<f32>;
@group(0) @binding(2) var<storage, read_write> flag: array<f32>;
@group(0) @binding(3) var<storage, read_write> state: array<f32>;
@group(0) @binding(4) var<storage, read_write> seed: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

//#include finite

/** A NaN from a runtime value (a constant NaN is a shader-creation error in WGSL). */
fn nan() -> f32 {
  return bitcast<f32>(0x7fc00000u | (bitcast<u32>(flag[0]) & 0u));
}

@compute @workgroup_size(1)
fn main() {
  let scaled = p.scaled != 0u;
  let overflow = scaled && is_finite(loss[0]) && flag[0] == 0.0 && !is_finite(norm[0]);
  if (overflow && state[0] > p.minScale) {
    norm[0] = nan();
    norm[1] = 0.0;
    state[0] = max(state[0] * 0.5, p.minScale);
    state[1] = 0.0;
    state[2] = state[2] + 1.0;
    state[3] = 1.0;
    seed[0] = state[0] * p.invAccum;
    return;
  }
  if (!is_finite(loss[0]) || !is_finite(norm[0]) || flag[0] != 0.0) {
    flag[0] = 1.0;
    norm[0] = nan();
    norm[1] = 0.0;
    if (scaled) { state[3] = 0.0; }
    return;
  }
  if (!scaled) {
    norm[1] = 1.0;
    return;
  }
  let scale = state[0];
  norm[0] = norm[0] / scale;
  norm[1] = 1.0 / scale;
  var next = scale;
  var clean = state[1] + 1.0;
  if (clean >= p.interval) {
    next = min(scale * 2.0, p.maxScale);
    clean = 0.0;
  }
  state[0] = next;
  state[1] = clean;
  state[3] = 0.0;
  seed[0] = next * p.invAccum;
}
