/**
 * Throws the signal's reason once it is aborted, or an `AbortError` naming
 * `fn` when it was aborted without one. Shared by the loops that take an
 * `AbortSignal` (generation, fine-tuning).
 */
export function throwIfAborted(fn: string, signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (reason !== undefined) throw reason;
  const error = new Error(`${fn}: aborted`);
  error.name = 'AbortError';
  throw error;
}
