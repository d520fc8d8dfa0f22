// GELU, tanh form: gelu(x) = 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³).
// Evaluated as x·σ(2u), an identity (1 + tanh u = 2σ(2u)) that keeps full relative precision in the negative
// tail, where 1 + tanh(u) cancels. 2u is clamped to ±80 so exp() stays finite (σ is exactly 0 or 1 there in f32).
// Shared by gelu_forward.wgsl and the matmul's GELU epilogue (matmul_out_gelu.wgsl).
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

fn geluTanh(v: f32) -> f32 {
  let u2 = clamp(2.0 * SQRT_2_OVER_PI * (v + 0.044715 * v * v * v), -80.0, 80.0);
  return v / (1.0 + exp(-u2));
}
