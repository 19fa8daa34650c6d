/**
 * What both decoding loops (sampling and beam search) do between two model
 * steps: run the logits processors, reading asynchronously, and stop on an
 * aborted signal.
 */
import { dispose, type Tensor2D } from '@tensorflow/tfjs-core';
import { throwIfAborted as throwIfAbortedIn } from '../internal/abort';
import { type LogitsProcessorContext, runProcessor } from './logits-processors';
import type { NamedProcessor } from './options';

/** Throws the signal's reason (an `AbortError` if it has none) once it is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  throwIfAbortedIn('generate', signal);
}

/**
 * Runs `processors` in order on `logits`, as `applyLogitsProcessors` does,
 * but reads the logits with `await data()` before each processor and once
 * at the end, so that the processors' and the token pickers' `dataSync`
 * find the values already on the CPU. On WebGPU a synchronous read of a
 * tensor that is only on the GPU goes through a canvas: slow, and on some
 * adapters (SwiftShader) it returns zeros and loses the device; `data()`
 * downloads asynchronously and leaves a CPU copy behind. Never disposes
 * `logits`; returns it unchanged when there are no processors, else a
 * tensor the caller owns. Each processor must return a float32 tensor of
 * the logits' shape (a {@link TfjsBlocksError} names it otherwise).
 * Disposes its intermediates, also when a processor or a read throws.
 */
export async function processLogits(
  logits: Tensor2D,
  processors: NamedProcessor[],
  context: LogitsProcessorContext,
): Promise<Tensor2D> {
  let current = logits;
  try {
    for (const { name, run } of processors) {
      await current.data();
      current = runProcessor('generate', name, run, current, context, logits);
    }
    await current.data();
    return current;
  } catch (e) {
    if (current !== logits) dispose(current);
    throw e;
  }
}
