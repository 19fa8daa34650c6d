/**
 * Training checkpoints on Node: params, optimizer state, step, RNG state and
 * metadata in one directory per step, written so that a crash at any moment
 * leaves the previous checkpoint loadable.
 *
 * Layout of `directory`:
 *   step-<n>/params.safetensors     params by dotted path (`blocks.0.mlp.kernel`)
 *   step-<n>/optimizer.safetensors  optimizer state tensors (`saveOptimizerState` names)
 *   step-<n>/checkpoint.json        step, rng, metadata, params and optimizer skeletons
 *   latest                          the name of the newest complete step directory
 * A step directory is built under a temp name and renamed into place whole,
 * then `latest` is replaced atomically; a crash before the rename leaves only
 * a temp directory, which readers ignore and the next save removes.
 */
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { dispose } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  syncDirectory,
  tempPathFor,
  writeAll,
  writeFileAtomically,
} from '../internal/atomic-files';
import { joinTensors, splitTensors } from '../internal/tensor-skeleton';
import { restoreOptimizerState, saveOptimizerState } from '../optim/state-io';
import type { TensorMap } from '../optim/types';
import { readSafetensorsFile, writeSafetensorsFile } from './safetensors-node';

/**
 * What a checkpoint holds.
 *
 * @example
 * ```ts
 * const checkpoint: Checkpoint = { params: { dense: { kernel, bias } }, optimizerState: state, step: 100 };
 * ```
 */
export interface Checkpoint<P = unknown, S = unknown> {
  /**
   * The params: a tensor record, nested records and arrays allowed (numbers,
   * strings and booleans in it are kept). Saved under dotted paths, the
   * names PyTorch state dicts use.
   */
  params: P;
  /** The optimizer state (a `GradientTransformation` state), if any. */
  optimizerState?: S;
  /** The number of optimizer steps taken; names the checkpoint directory. */
  step: number;
  /** The state of the caller's random number generator (any JSON value). */
  rng?: unknown;
  /** Anything else to keep (any JSON object): config, data position, losses. */
  metadata?: Record<string, unknown>;
}

/**
 * Options of {@link saveCheckpoint}.
 *
 * @example
 * ```ts
 * await saveCheckpoint('runs/7', checkpoint, { keepLast: 3 });
 * ```
 */
export interface SaveCheckpointOptions {
  /** How many of the newest checkpoints to keep; older ones are removed after the save. Default: all. */
  keepLast?: number;
}

/**
 * Options of {@link loadCheckpoint}.
 *
 * @example
 * ```ts
 * const checkpoint = await loadCheckpoint('runs/7', { step: 500 });
 * ```
 */
export interface LoadCheckpointOptions {
  /** The step to load. Default: the one `latest` names (else the newest complete one). */
  step?: number;
}

const FORMAT = 'tfjs-blocks-checkpoint';
const VERSION = 1;
const PARAMS_FILE = 'params.safetensors';
const OPTIMIZER_FILE = 'optimizer.safetensors';
const JSON_FILE = 'checkpoint.json';
const LATEST_FILE = 'latest';
const STEP_DIR = /^step-(\d+)$/;
const TEMP_ENTRY = /\.tmp-\d+-[0-9a-f]{8}$/;

/** Takes params apart into tensors by dotted path and a JSON skeleton naming them. */
function splitParams(params: unknown): { tensors: TensorMap; skeleton: unknown } {
  return splitTensors(params, {
    separator: '.',
    rejectLeaf(path, type) {
      throw new TfjsBlocksError(
        'saveCheckpoint',
        `params.${path}`,
        'tensors, records, arrays or JSON values',
        type,
      );
    },
    rejectDuplicate(path) {
      throw new TfjsBlocksError(
        'saveCheckpoint',
        `params.${path}`,
        'a unique dotted path',
        'a duplicate',
      );
    },
  });
}

/** The inverse of {@link splitParams}; takes ownership of the tensors it places. */
function joinParams(skeleton: unknown, tensors: TensorMap, fn: string): unknown {
  return joinTensors(skeleton, (path) => {
    const t = tensors[path];
    if (t === undefined) {
      throw new TfjsBlocksError(fn, PARAMS_FILE, `a tensor named "${path}"`, 'none');
    }
    return t;
  });
}

function stepDirectoryName(step: number): string {
  return `step-${step}`;
}

function checkStep(step: unknown, fn: string, argument: string): asserts step is number {
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
    throw new TfjsBlocksError(fn, argument, 'a non-negative integer', String(step));
  }
}

/**
 * Saves a training checkpoint into `directory/step-<step>/`, atomically, and
 * points `directory/latest` at it.
 *
 * The step directory is written under a temp name (each file fsynced), renamed
 * into place whole, then `latest` is replaced by an atomic rename. A process
 * killed at any moment leaves every earlier checkpoint loadable, and
 * `loadCheckpoint` finds either the new one or the previous one. Saving a
 * step that exists replaces it. Temp directories of crashed saves are removed
 * by the next save; one writer per directory at a time.
 *
 * Reads tensors synchronously and disposes none of them (the caller's params
 * and state stay usable).
 *
 * @param directory - the run's checkpoint directory; created when missing.
 * @param checkpoint - params, optimizer state, step, rng and metadata.
 * @param options - `keepLast`: how many of the newest checkpoints to keep.
 * @returns the step directory's path.
 *
 * @example
 * ```ts
 * import { saveCheckpoint } from 'tfjs-blocks/node';
 *
 * await saveCheckpoint('runs/7', { params, optimizerState: state, step, rng: { seed, calls } }, { keepLast: 3 });
 * ```
 */
export async function saveCheckpoint(
  directory: string,
  checkpoint: Checkpoint,
  options: SaveCheckpointOptions = {},
): Promise<string> {
  const fn = 'saveCheckpoint';
  if (typeof directory !== 'string' || directory.length === 0) {
    throw new TfjsBlocksError(fn, 'directory', 'a non-empty string', String(directory));
  }
  if (checkpoint === null || typeof checkpoint !== 'object') {
    throw new TfjsBlocksError(fn, 'checkpoint', '{params, step, ...}', String(checkpoint));
  }
  checkStep(checkpoint.step, fn, 'checkpoint.step');
  const { keepLast } = options;
  if (keepLast !== undefined && (!Number.isSafeInteger(keepLast) || keepLast < 1)) {
    throw new TfjsBlocksError(fn, 'options.keepLast', 'a positive integer', String(keepLast));
  }
  // Everything that can be rejected is rejected before the disk is touched.
  const params = splitParams(checkpoint.params);
  const optimizer =
    checkpoint.optimizerState === undefined
      ? undefined
      : saveOptimizerState(checkpoint.optimizerState);
  const json = `${JSON.stringify(
    {
      format: FORMAT,
      version: VERSION,
      step: checkpoint.step,
      rng: checkpoint.rng ?? null,
      metadata: checkpoint.metadata ?? {},
      params: params.skeleton,
      optimizer: optimizer?.skeleton ?? null,
    },
    null,
    1,
  )}\n`;

  const root = resolve(directory);
  await mkdir(root, { recursive: true });
  await removeTempEntries(root);
  const name = stepDirectoryName(checkpoint.step);
  const final = join(root, name);
  const temp = tempPathFor(final);
  await mkdir(temp);
  try {
    await writeSafetensorsFile(join(temp, PARAMS_FILE), params.tensors, { format: 'pt' });
    if (optimizer) await writeSafetensorsFile(join(temp, OPTIMIZER_FILE), optimizer.tensors);
    await writeFileAtomically(join(temp, JSON_FILE), (h) =>
      writeAll(h, new TextEncoder().encode(json)),
    );
    await syncDirectory(temp);
    if (await exists(final)) {
      // rename() cannot replace a non-empty directory: move the old one aside
      // first. Until `latest` is rewritten, a loader falls back to the newest
      // complete step if `latest` names the missing one.
      const aside = tempPathFor(final);
      await rename(final, aside);
      await rename(temp, final);
      await rm(aside, { recursive: true, force: true });
    } else {
      await rename(temp, final);
    }
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
  await syncDirectory(root);
  await writeFileAtomically(join(root, LATEST_FILE), (h) =>
    writeAll(h, new TextEncoder().encode(`${name}\n`)),
  );
  if (keepLast !== undefined) {
    const steps = await listCheckpoints(root);
    for (const old of steps.slice(0, Math.max(0, steps.length - keepLast))) {
      if (old !== checkpoint.step)
        await rm(join(root, stepDirectoryName(old)), { recursive: true, force: true });
    }
  }
  return final;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function removeTempEntries(root: string): Promise<void> {
  for (const entry of await readdir(root)) {
    if (TEMP_ENTRY.test(entry)) await rm(join(root, entry), { recursive: true, force: true });
  }
}

/**
 * The steps of the complete checkpoints in `directory`, ascending (a step
 * directory counts once its `checkpoint.json` is there; temp directories of
 * crashed saves never do). `[]` when the directory is missing.
 *
 * @example
 * ```ts
 * import { listCheckpoints } from 'tfjs-blocks/node';
 *
 * const steps = await listCheckpoints('runs/7'); // [500, 1000, 1500]
 * ```
 */
export async function listCheckpoints(directory: string): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir(resolve(directory));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const steps: number[] = [];
  for (const entry of entries) {
    const match = STEP_DIR.exec(entry);
    if (match && (await exists(join(resolve(directory), entry, JSON_FILE))))
      steps.push(Number(match[1]));
  }
  return steps.sort((a, b) => a - b);
}

async function latestStep(root: string, fn: string): Promise<number> {
  const steps = await listCheckpoints(root);
  try {
    const match = STEP_DIR.exec((await readFile(join(root, LATEST_FILE), 'utf8')).trim());
    if (match && steps.includes(Number(match[1]))) return Number(match[1]);
  } catch {
    // No `latest` (a crash before the first pointer landed): use the listing.
  }
  const newest = steps.at(-1);
  if (newest === undefined) {
    throw new TfjsBlocksError(
      fn,
      'directory',
      'a directory holding a checkpoint',
      `none in ${root}`,
    );
  }
  return newest;
}

/**
 * Loads a checkpoint saved by {@link saveCheckpoint}: the params in their
 * saved structure, the optimizer state, step, rng and metadata. Every
 * tensor is new (the caller disposes them).
 *
 * @param directory - the run's checkpoint directory.
 * @param options - `step`: which checkpoint; default the latest.
 * @returns the checkpoint.
 * @throws TfjsBlocksError when there is no such checkpoint or a file is malformed.
 *
 * @example
 * ```ts
 * import { loadCheckpoint } from 'tfjs-blocks/node';
 *
 * const { params, optimizerState, step, rng } = await loadCheckpoint('runs/7');
 * ```
 */
export async function loadCheckpoint<P = unknown, S = unknown>(
  directory: string,
  options: LoadCheckpointOptions = {},
): Promise<Checkpoint<P, S>> {
  const fn = 'loadCheckpoint';
  if (typeof directory !== 'string' || directory.length === 0) {
    throw new TfjsBlocksError(fn, 'directory', 'a non-empty string', String(directory));
  }
  const root = resolve(directory);
  if (options.step !== undefined) checkStep(options.step, fn, 'options.step');
  const step = options.step ?? (await latestStep(root, fn));
  const dir = join(root, stepDirectoryName(step));
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(await readFile(join(dir, JSON_FILE), 'utf8'));
  } catch (e) {
    throw new TfjsBlocksError(
      fn,
      'options.step',
      `a saved checkpoint in ${root}`,
      `${step} (${(e as Error).message})`,
    );
  }
  if (saved.format !== FORMAT || saved.version !== VERSION) {
    throw new TfjsBlocksError(
      fn,
      JSON_FILE,
      `format ${FORMAT} version ${VERSION}`,
      `${saved.format} ${saved.version}`,
    );
  }
  const params = await readSafetensorsFile(join(dir, PARAMS_FILE));
  let optimizerState: unknown;
  try {
    if (saved.optimizer !== null) {
      const { tensors } = await readSafetensorsFile(join(dir, OPTIMIZER_FILE));
      try {
        optimizerState = restoreOptimizerState({ tensors, skeleton: saved.optimizer });
      } finally {
        // restoreOptimizerState copies; the read tensors are ours to drop.
        dispose(Object.values(tensors));
      }
    }
    return {
      params: joinParams(saved.params, params.tensors, fn) as P,
      ...(optimizerState === undefined ? {} : { optimizerState: optimizerState as S }),
      step: saved.step as number,
      rng: saved.rng ?? undefined,
      metadata: saved.metadata as Record<string, unknown>,
    };
  } catch (e) {
    dispose(Object.values(params.tensors));
    throw e;
  }
}
