// How much memory the column sums that wait inside a backward pass may take (ops/colsum.ts), apart from the module so
// that the memory estimate (settings/memory.ts, pure) can count it.

/**
 * Bytes of scratch and kept inputs a backward pass's waiting column sums may hold; past it they are recorded at once.
 * A fixed constant, so which dispatch a sum goes in depends on the shapes alone, never on the device. Their arena
 * (scratch taken from the pool for the pass) is at most this size too.
 */
export const WAITING_SUM_BYTES = 32 * 2 ** 20;
