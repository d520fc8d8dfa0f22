// Will one micro-batch fit the adapter's buffer limits? Checked before anything is allocated, so a batch or context
// that is too large is refused with the limit it breaks, by how much, and the largest batch that fits — rather than
// failing half-way through the first step.

import { type BufferLimits, bindingLimitName, maxBindingOf } from '../gpu/limits';
import { formatBytes } from '../gpu/pool';

export type { BufferLimits };

/**
 * Why a micro-batch of `batch` × `ctx` tokens cannot run on an adapter with these limits (a sentence naming the
 * limit, the excess and a batch that fits), or null when it fits. `width`: floats per token of the model's widest
 * activation (its family's widestActivation, e.g. GPT-2's MLP hidden layer, 4·C). Every activation is one storage binding, so the
 * smaller of maxBufferSize and maxStorageBufferBindingSize bounds it.
 */
export function batchFitProblem(width: number, batch: number, ctx: number, limits: BufferLimits): string | null {
  const limit = maxBindingOf(limits);
  const name = bindingLimitName(limits);
  const bytes = batch * ctx * width * 4;
  if (bytes <= limit) return null;
  const fitBatch = Math.floor(limit / (ctx * width * 4));
  const fitCtx = Math.floor(limit / (width * 4));
  const advice =
    fitBatch >= 1
      ? `use batch ≤ ${fitBatch} (and ${Math.ceil(batch / fitBatch)}× the gradient accumulation to keep the tokens per update) or a shorter context`
      : `even batch 1 is too large at this context: use context ≤ ${fitCtx}`;
  return (
    `batch ${batch} × context ${ctx} needs a ${formatBytes(bytes)} activation buffer (${(batch * ctx).toLocaleString('en-US')} tokens × ${width} floats), ` +
    `over this adapter's ${name} of ${formatBytes(limit)} by ${formatBytes(bytes - limit)}: ${advice}`
  );
}
