import { TfjsBlocksError } from '../errors';
import {
  disposeTree,
  type FineTuneCheckpoint,
  type FineTuneCheckpointMetadata,
  type FineTuneCheckpointStore,
} from '../fine-tuning/checkpoint-store';
import { checkInteger, checkOptionKeys, describeValue, optionKeys } from '../internal/checks';
import type { TensorMap } from '../tree/types';
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from './checkpoint';

/** Options of {@link fineTuneCheckpointDir}. */
export interface FineTuneCheckpointDirOptions {
  /** How many of the newest checkpoints to keep. Default `2`. */
  keepLast?: number;
}

const DIR_KEYS = optionKeys<FineTuneCheckpointDirOptions>({ keepLast: true });

type SavedParams = { trainable: TensorMap; best?: TensorMap };

/**
 * A `fineTune` checkpoint store in a directory (the issue's
 * `checkpointDir`): each save is a `saveCheckpoint` step directory (crash
 * safe, checksummed) holding the trained tensors, the optimizer state and
 * the step, with the history and early-stopping record as metadata; `load`
 * reads the latest complete one (`loadCheckpoint`), or nothing when the
 * directory is empty or missing, so the same call starts a run or resumes it.
 *
 * @param directory - the run's directory (created on the first save).
 * @param options - `keepLast`: checkpoints kept (default 2).
 * @example
 * ```ts
 * import { fineTuneCheckpointDir } from 'tfjs-blocks/node';
 *
 * declare const options: FineTuneOptions;
 * const result = await fineTune({ ...options, checkpointStore: fineTuneCheckpointDir('runs/lora-1') });
 * ```
 */
export function fineTuneCheckpointDir(
  directory: string,
  options: FineTuneCheckpointDirOptions = {},
): FineTuneCheckpointStore {
  const fn = 'fineTuneCheckpointDir';
  if (typeof directory !== 'string' || directory === '') {
    throw new TfjsBlocksError(fn, 'directory', 'a directory path', describeValue(directory));
  }
  checkOptionKeys(fn, options, DIR_KEYS);
  const keepLast = checkInteger(fn, 'options.keepLast', options.keepLast ?? 2, 1);
  return {
    async save(checkpoint: FineTuneCheckpoint) {
      const params: SavedParams = { trainable: checkpoint.trainable };
      if (checkpoint.best !== undefined) params.best = checkpoint.best;
      await saveCheckpoint(
        directory,
        {
          params,
          optimizerState: checkpoint.optimizerState,
          step: checkpoint.step,
          metadata: { fineTune: checkpoint.metadata },
        },
        { keepLast },
      );
    },
    async load() {
      if ((await listCheckpoints(directory)).length === 0) return undefined;
      const saved = await loadCheckpoint<SavedParams>(directory);
      const metadata = saved.metadata?.fineTune as FineTuneCheckpointMetadata | undefined;
      if (metadata === undefined) {
        disposeTree(saved.params);
        disposeTree(saved.optimizerState);
        throw new TfjsBlocksError(
          fn,
          'directory',
          'checkpoints written by fineTune (metadata.fineTune)',
          'a checkpoint without them',
        );
      }
      return {
        step: saved.step,
        trainable: saved.params.trainable,
        optimizerState: saved.optimizerState,
        ...(saved.params.best === undefined ? {} : { best: saved.params.best }),
        metadata,
      };
    },
  };
}
