import { expect } from 'vitest';
import type { FineTuneCheckpointStore } from '../../src/fine-tuning/checkpoint-store';
import { type FineTuneOptions, fineTune } from '../../src/fine-tuning/fine-tune';

/**
 * Runs `fineTune(options)` with a checkpoint every 2 steps into `store` and
 * aborts it during step `stopAt` (default 3, so the last checkpoint is step
 * 2's); asserts it rejects with the abort's reason. The resume tests call
 * `fineTune({ ...options, checkpointStore: store, checkpointEvery: 2 })` next.
 */
export async function interruptedFineTune(
  options: FineTuneOptions,
  store: FineTuneCheckpointStore,
  stopAt = 3,
): Promise<void> {
  const controller = new AbortController();
  const reason = new Error('stop');
  const run = fineTune({
    ...options,
    checkpointStore: store,
    checkpointEvery: 2,
    signal: controller.signal,
    onStep: ({ step }) => {
      if (step === stopAt) controller.abort(reason);
    },
  });
  await expect(run).rejects.toBe(reason);
}
