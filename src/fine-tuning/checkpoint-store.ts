import { clone, dispose, type Tensor, type TensorContainer, tidy } from '@tensorflow/tfjs-core';
import type { RunLedgerState } from '../efficiency/run-ledger';
import type { TensorMap } from '../tree/types';
import { mapTree, visitLeaves } from '../tree/walk';

/** One history entry of {@link FineTuneResult.history}: an optimizer step. */
export type FineTuneRecord = {
  /** The step, counting from 1. */
  step: number;
  /** The training loss of the step: masked next-token cross-entropy over its counted tokens. */
  loss: number;
  /** The schedule's value used by this step (`1` without a schedule). */
  learningRate: number;
  /** The held-out loss, on the steps where it was evaluated. */
  heldOutLoss?: number;
  /** With `fineTune`'s `privacy` option: ε spent after this step. */
  epsilon?: number;
};

/**
 * What `fineTune` saves to resume a run exactly: the trained tensors, the
 * optimizer state and the step (the data position follows from the step:
 * batches are drawn from a seeded stream), plus the early-stopping record
 * and the history.
 *
 * @example
 * ```ts
 * declare const checkpoint: FineTuneCheckpoint;
 * checkpoint.step; // optimizer steps taken
 * ```
 */
export type FineTuneCheckpoint = {
  /** Optimizer steps taken. */
  step: number;
  /** The trained tensors (the adapter's, or all params) by dotted path. */
  trainable: TensorMap;
  /** The optimizer's state (a tree of tensors and numbers). */
  optimizerState: unknown;
  /** The best tensors so far, when early stopping keeps them. */
  best?: TensorMap;
  /** JSON data: history, early-stopping record, examples seen. */
  metadata: FineTuneCheckpointMetadata;
};

/** The JSON part of a {@link FineTuneCheckpoint}. */
export type FineTuneCheckpointMetadata = {
  /** The steps so far. */
  history: FineTuneRecord[];
  /** The best held-out loss so far, if evaluated. */
  bestHeldOutLoss?: number;
  /** The step of the best held-out loss. */
  bestStep?: number;
  /** Evaluations since the best one (early stopping's patience counter). */
  evalsWithoutImprovement: number;
  /** Training examples consumed (the data position). */
  examplesSeen: number;
  /** With `fineTune`'s `ledger` option: the run ledger's state at this checkpoint. */
  ledger?: RunLedgerState;
};

/**
 * Where `fineTune` keeps its checkpoints: browser-safe, so a page can put
 * them in IndexedDB or the Origin Private File System and Node in a
 * directory (`fineTuneCheckpointDir` of `tfjs-blocks/node`).
 *
 * Ownership: `save` must not keep or dispose the tensors it is given (copy
 * them or write them out before its promise resolves); `load` hands fresh
 * tensors to the caller, or `undefined` when there is nothing to resume.
 *
 * @example
 * ```ts
 * const store: FineTuneCheckpointStore = memoryCheckpointStore();
 * ```
 */
export interface FineTuneCheckpointStore {
  /** Keeps `checkpoint` (replacing the previous one). */
  save(checkpoint: FineTuneCheckpoint): Promise<void>;
  /** The last checkpoint saved, or `undefined`. */
  load(): Promise<FineTuneCheckpoint | undefined>;
}

/** Clones every tensor of a tree (numbers and structure kept). */
function cloneTree<T>(tree: T): T {
  const walk = { fn: 'memoryCheckpointStore', argument: 'checkpoint' };
  return tidy(() => mapTree(tree, (leaf) => clone(leaf as Tensor), walk) as TensorContainer) as T;
}

/** Disposes every tensor of a tree. */
export function disposeTree(tree: unknown): void {
  if (tree === null || typeof tree !== 'object') return;
  const leaves: Tensor[] = [];
  visitLeaves(
    tree,
    (leaf) => {
      leaves.push(leaf as Tensor);
    },
    { fn: 'fineTune', argument: 'state' },
  );
  dispose(leaves);
}

/**
 * A {@link FineTuneCheckpointStore} in memory: it keeps copies of the last
 * checkpoint's tensors (until `dispose()`), for tests, and for runs in a
 * page that should survive an abort but not a reload.
 *
 * @example
 * ```ts
 * const store = memoryCheckpointStore();
 * // fineTune({ ..., checkpointStore: store, checkpointEvery: 10 }), abort, then run again to resume.
 * store.dispose();
 * ```
 */
export function memoryCheckpointStore(): FineTuneCheckpointStore & { dispose(): void } {
  let kept: FineTuneCheckpoint | undefined;
  return {
    async save(checkpoint) {
      const copy = cloneTree(checkpoint);
      if (kept !== undefined) disposeTree(kept);
      kept = structuredCopyMetadata(copy);
    },
    async load() {
      return kept === undefined ? undefined : structuredCopyMetadata(cloneTree(kept));
    },
    dispose() {
      if (kept !== undefined) disposeTree(kept);
      kept = undefined;
    },
  };
}

function structuredCopyMetadata(checkpoint: FineTuneCheckpoint): FineTuneCheckpoint {
  return { ...checkpoint, metadata: structuredClone(checkpoint.metadata) };
}
