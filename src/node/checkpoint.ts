/**
 * Training checkpoints on Node: params, optimizer state, step, RNG state and
 * metadata in one directory per step, written so that a crash at any moment
 * leaves the previous checkpoint loadable.
 *
 * Layout of `directory`:
 *   step-<n>/params.safetensors     params by dotted path (`blocks.0.mlp.kernel`)
 *   step-<n>/optimizer.safetensors  optimizer state tensors (`saveOptimizerState` names)
 *   step-<n>/checkpoint.json        step, rng, metadata, params and optimizer skeletons,
 *                                   size and SHA-256 of each tensor file, SHA-256 of itself
 *   latest                          the name of the newest complete step directory
 *   lock                            while a save runs: {pid, host, started, token}
 * A step directory is built under a temp name and renamed into place whole,
 * then `latest` is replaced atomically; a crash before the rename leaves only
 * a temp directory, which readers ignore and the next save removes (temp
 * names carry the writer's pid: only those of dead processes are removed).
 * Deletions go through a rename to a temp name too, so no step directory is
 * ever half-deleted.
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { dispose, Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkOptionKeys,
  describeValue,
  optionKeys,
  parseJson,
  truncateForMessage,
} from '../internal/checks';
import { planWrite } from '../interop/safetensors-format';
import { saveOptimizerState } from '../optim/state-io';
import { joinTensors, splitTensors } from '../tree/split';
import type { TensorMap } from '../tree/types';
import {
  lockDirectory,
  processIsAlive,
  removeTree,
  syncDirectory,
  tempOwner,
  tempPathFor,
  writeAll,
  writeFileAtomically,
} from './atomic-files';
import { errorCode, fileError } from './file-errors';
import { readSafetensorsFile } from './safetensors-node';

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

const CHECKPOINT_KEYS = optionKeys<Checkpoint>({
  params: true,
  optimizerState: true,
  step: true,
  rng: true,
  metadata: true,
});

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

const SAVE_OPTION_KEYS = optionKeys<SaveCheckpointOptions>({ keepLast: true });

/**
 * What {@link loadCheckpoint} reports through `onWarning` (by default
 * `console.warn` of `message`).
 *
 * @example
 * ```ts
 * const warnings: CheckpointWarning[] = [];
 * const checkpoint = await loadCheckpoint('runs/7', { onWarning: (w) => warnings.push(w) });
 * ```
 */
export interface CheckpointWarning {
  /**
   * `'skipped-corrupt'`: this step failed its checks while loading the latest
   * checkpoint, and the next newest step is tried instead. `'unverified'`:
   * this step was written by a tfjs-blocks version without checksums
   * (format version 1) and is loaded without verification.
   */
  kind: 'skipped-corrupt' | 'unverified';
  /** The step concerned. */
  step: number;
  /** One line for a log. */
  message: string;
  /** For `'skipped-corrupt'`: why the step was skipped. */
  error?: TfjsBlocksError;
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
  /**
   * The step to load. Default: the one `latest` names (else the newest
   * complete one). A given step that is missing or corrupt always throws.
   */
  step?: number;
  /**
   * Without `step`, what a corrupt latest checkpoint (checksum mismatch,
   * missing file, malformed `checkpoint.json`) does: `'fallback'` (default)
   * loads the newest intact older step and reports each skipped one through
   * `onWarning`; `'throw'` throws the latest one's error.
   */
  onCorrupt?: 'fallback' | 'throw';
  /** Receives the warnings (see {@link CheckpointWarning}). Default: `console.warn` of the message. */
  onWarning?: (warning: CheckpointWarning) => void;
}

const LOAD_OPTION_KEYS = optionKeys<LoadCheckpointOptions>({
  step: true,
  onCorrupt: true,
  onWarning: true,
});

const SAVE = 'saveCheckpoint';
const LOAD = 'loadCheckpoint';
const FORMAT = 'tfjs-blocks-checkpoint';
/** Version 2 adds `files` (size and SHA-256 per tensor file) and `sha256` (of the JSON itself). */
const VERSION = 2;
/** Written before checksums; still loaded, unverified, with a warning. */
const LEGACY_VERSION = 1;
const PARAMS_FILE = 'params.safetensors';
const OPTIMIZER_FILE = 'optimizer.safetensors';
const JSON_FILE = 'checkpoint.json';
const LATEST_FILE = 'latest';
/** Canonical step directory names only: `step-007` would not name step 7's directory. */
const STEP_DIR = /^step-(0|[1-9]\d*)$/;
const SHA256 = /^[0-9a-f]{64}$/;
const WRITABLE_DTYPES = ['float32', 'int32', 'bool'];

/** A tensor file as `checkpoint.json` records it. */
interface FileDigest {
  sha256: string;
  bytes: number;
}

/** A `checkpoint.json`, validated. */
interface SavedCheckpoint {
  version: number;
  rng: unknown;
  metadata: Record<string, unknown>;
  params: unknown;
  optimizer: unknown;
  /** Version 2 only. */
  files?: { params: FileDigest; optimizer?: FileDigest };
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

function stepDirectoryName(step: number): string {
  return `step-${step}`;
}

/** The step a directory entry names, or `undefined`. */
function stepOf(entry: string): number | undefined {
  const match = STEP_DIR.exec(entry);
  const step = match ? Number(match[1]) : Number.NaN;
  return Number.isSafeInteger(step) ? step : undefined;
}

function checkStep(step: unknown, fn: string, argument: string): asserts step is number {
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
    throw new TfjsBlocksError(fn, argument, 'a non-negative integer', describeValue(step));
  }
}

function checkDirectory(directory: unknown, fn: string): asserts directory is string {
  if (typeof directory !== 'string' || directory.length === 0) {
    throw new TfjsBlocksError(fn, 'directory', 'a non-empty string', describeValue(directory));
  }
}

/** Errors that mean the directory is not laid out as a save expects, as a typed error. */
function directoryError(e: unknown, fn: string, root: string): unknown {
  const code = errorCode(e);
  if (
    code === 'ENOENT' ||
    code === 'ENOTDIR' ||
    code === 'EISDIR' ||
    code === 'EEXIST' ||
    code === 'ENOTEMPTY'
  ) {
    const path = (e as NodeJS.ErrnoException).path ?? root;
    return new TfjsBlocksError(
      fn,
      'directory',
      `a checkpoint directory laid out as ${SAVE} writes it`,
      `${root} (${code} at ${path})`,
    );
  }
  return e;
}

/** Whether `path` exists; only "no such entry" counts as missing, other errors throw. */
async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    const code = errorCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw e;
  }
}

/** Takes params apart into tensors by dotted path and a JSON skeleton naming them. */
function splitParams(params: unknown): { tensors: TensorMap; skeleton: unknown } {
  return splitTensors(params, {
    separator: '.',
    rejectLeaf(path, type) {
      throw new TfjsBlocksError(
        SAVE,
        path ? `params.${path}` : 'params',
        'tensors, records, arrays or JSON values',
        type,
      );
    },
    rejectDuplicate(path) {
      throw new TfjsBlocksError(SAVE, `params.${path}`, 'a unique dotted path', 'a duplicate');
    },
  });
}

/** Rejects, before the disk is touched, a tensor the writer would fail on half-way. */
function checkWritable(tensors: TensorMap, name: (path: string) => string): void {
  for (const [path, t] of Object.entries(tensors)) {
    if (t.isDisposed)
      throw new TfjsBlocksError(SAVE, name(path), 'a live tensor', 'a disposed one');
    if (!WRITABLE_DTYPES.includes(t.dtype)) {
      throw new TfjsBlocksError(
        SAVE,
        name(path),
        'a float32, int32 or bool tensor',
        describeValue(t),
      );
    }
  }
}

/** `value` as JSON, or a typed error naming what JSON would drop or change. */
function jsonValue(value: unknown, argument: string): unknown {
  const { tensors, skeleton } = splitTensors(value, {
    separator: '.',
    rejectLeaf(path, type) {
      throw new TfjsBlocksError(SAVE, path ? `${argument}.${path}` : argument, 'JSON', type);
    },
  });
  const first = Object.keys(tensors)[0];
  if (first !== undefined) {
    throw new TfjsBlocksError(
      SAVE,
      first ? `${argument}.${first}` : argument,
      'JSON (tensors belong in params)',
      'a tensor',
    );
  }
  return skeleton;
}

/** Writes a safetensors file atomically, hashing the bytes as they go out. */
async function writeTensorFile(
  path: string,
  tensors: TensorMap,
  metadata?: Record<string, string>,
): Promise<FileDigest> {
  const { header, parts } = planWrite(tensors, metadata, SAVE);
  const hash = createHash('sha256');
  let bytes = 0;
  await writeFileAtomically(path, async (handle) => {
    for (const chunk of [header, ...parts.map((p) => p.bytes)]) {
      hash.update(chunk);
      bytes += chunk.byteLength;
      await writeAll(handle, chunk);
    }
  });
  return { sha256: hash.digest('hex'), bytes };
}

/** The JSON text of `content` with `sha256` (of the text without it) appended last. */
function sealJson(content: Record<string, unknown>): string {
  const seal = sha256(JSON.stringify(content, null, 1));
  return `${JSON.stringify({ ...content, sha256: seal }, null, 1)}\n`;
}

/**
 * Saves a training checkpoint into `directory/step-<step>/`, atomically, and
 * points `directory/latest` at it.
 *
 * The step directory is written under a temp name (each file fsynced), renamed
 * into place whole, then `latest` is replaced by an atomic rename. A process
 * killed at any moment leaves every earlier checkpoint loadable, and
 * `loadCheckpoint` finds either the new one or the previous one. Saving a
 * step that exists replaces it.
 *
 * Safety: the save holds the directory's lock file (`directory/lock`, with
 * pid and host) from start to end, so a second writer, in this process or
 * another, gets a `TfjsBlocksError` up front; a lock left by a dead process
 * on this host is taken over. `checkpoint.json` records the size and SHA-256
 * of each tensor file, and a SHA-256 of itself, which `loadCheckpoint`
 * verifies. Clean-up removes only temp entries whose owner process is gone,
 * and step directories left incomplete by an interrupted earlier version;
 * `keepLast` renames each old step directory to a temp name before deleting
 * it, so a kill never leaves a half-deleted step.
 *
 * Reads tensors synchronously and disposes none of them (the caller's params
 * and state stay usable).
 *
 * @param directory - the run's checkpoint directory; created when missing.
 * @param checkpoint - params, optimizer state, step, rng and metadata.
 * @param options - `keepLast`: how many of the newest checkpoints to keep.
 * @returns the step directory's path.
 * @throws TfjsBlocksError on bad input (before the disk is touched), when
 * another live process is saving into `directory`, or when the directory is
 * not laid out as a checkpoint directory.
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
  const fn = SAVE;
  checkDirectory(directory, fn);
  if (checkpoint === null || typeof checkpoint !== 'object' || Array.isArray(checkpoint)) {
    throw new TfjsBlocksError(fn, 'checkpoint', '{params, step, ...}', describeValue(checkpoint));
  }
  checkOptionKeys(fn, checkpoint, CHECKPOINT_KEYS, 'checkpoint');
  checkStep(checkpoint.step, fn, 'checkpoint.step');
  checkOptionKeys(fn, options, SAVE_OPTION_KEYS);
  const { keepLast } = options;
  if (keepLast !== undefined && (!Number.isSafeInteger(keepLast) || keepLast < 1)) {
    throw new TfjsBlocksError(
      fn,
      'options.keepLast',
      'a positive integer',
      describeValue(keepLast),
    );
  }
  const { metadata = {} } = checkpoint;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new TfjsBlocksError(fn, 'checkpoint.metadata', 'a JSON object', describeValue(metadata));
  }
  // Everything that can be rejected is rejected before the disk is touched.
  const params = splitParams(checkpoint.params);
  checkWritable(params.tensors, (path) => `params.${path}`);
  const optimizer =
    checkpoint.optimizerState === undefined
      ? undefined
      : saveOptimizerState(checkpoint.optimizerState);
  if (optimizer) {
    checkWritable(optimizer.tensors, (path) => `checkpoint.optimizerState["${path}"]`);
  }
  const content = {
    format: FORMAT,
    version: VERSION,
    step: checkpoint.step,
    rng: checkpoint.rng === undefined ? null : jsonValue(checkpoint.rng, 'checkpoint.rng'),
    metadata: jsonValue(metadata, 'checkpoint.metadata'),
    params: params.skeleton,
    optimizer: optimizer?.skeleton ?? null,
  };

  const root = resolve(directory);
  try {
    await mkdir(root, { recursive: true });
  } catch (e) {
    throw directoryError(e, fn, root);
  }
  const release = await lockDirectory(root, fn);
  try {
    await removeLeftovers(root);
    const name = stepDirectoryName(checkpoint.step);
    const final = join(root, name);
    const temp = tempPathFor(final);
    await mkdir(temp);
    try {
      const files: Record<string, FileDigest> = {
        [PARAMS_FILE]: await writeTensorFile(join(temp, PARAMS_FILE), params.tensors, {
          format: 'pt',
        }),
      };
      if (optimizer) {
        files[OPTIMIZER_FILE] = await writeTensorFile(
          join(temp, OPTIMIZER_FILE),
          optimizer.tensors,
        );
      }
      const json = sealJson({ ...content, files });
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
      const steps = await listSteps(root, fn);
      for (const old of steps.slice(0, Math.max(0, steps.length - keepLast))) {
        if (old !== checkpoint.step) await removeTree(join(root, stepDirectoryName(old)));
      }
    }
    return final;
  } catch (e) {
    throw directoryError(e, fn, root);
  } finally {
    await release();
  }
}

/**
 * Removes what interrupted saves left behind, under the lock: temp entries
 * of this process or of processes that are gone (a live owner's are left
 * alone), and step directories that can never load (no `checkpoint.json`, or
 * a tensor file it needs is gone: an old version's prune killed mid-delete).
 */
async function removeLeftovers(root: string): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    const owner = tempOwner(entry.name);
    if (owner !== undefined) {
      if (owner === process.pid || !processIsAlive(owner)) {
        await rm(path, { recursive: true, force: true });
      }
    } else if (
      entry.isDirectory() &&
      stepOf(entry.name) !== undefined &&
      !(await isComplete(path))
    ) {
      await removeTree(path);
    }
  }
}

/**
 * Whether a step directory holds every file of a checkpoint: `checkpoint.json`,
 * `params.safetensors`, and `optimizer.safetensors` when the JSON names an
 * optimizer state. A step with a corrupt JSON counts as complete: the loader
 * reports it (and a save never deletes it).
 */
async function isComplete(dir: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(join(dir, JSON_FILE), 'utf8');
  } catch (e) {
    const code = errorCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    if (code === 'EISDIR') return true;
    throw e;
  }
  const needed = [PARAMS_FILE];
  try {
    const saved = JSON.parse(text);
    if (saved !== null && typeof saved === 'object' && Object.hasOwn(saved, 'optimizer')) {
      if (saved.optimizer !== null) needed.push(OPTIMIZER_FILE);
    }
  } catch {
    // Corrupt JSON: listed, and the loader says what is wrong with it.
  }
  for (const file of needed) if (!(await exists(join(dir, file)))) return false;
  return true;
}

/**
 * The steps of the complete checkpoints in `directory`, ascending (a step
 * directory counts once its `checkpoint.json` and the tensor files it names
 * are there; temp directories of crashed saves never do). `[]` when the
 * directory is missing. Files are not verified here: `loadCheckpoint` does.
 *
 * @throws TfjsBlocksError when `directory` is not a string or is a file.
 *
 * @example
 * ```ts
 * import { listCheckpoints } from 'tfjs-blocks/node';
 *
 * const steps = await listCheckpoints('runs/7'); // [500, 1000, 1500]
 * ```
 */
export async function listCheckpoints(directory: string): Promise<number[]> {
  checkDirectory(directory, 'listCheckpoints');
  return listSteps(resolve(directory), 'listCheckpoints');
}

/** {@link listCheckpoints} of a resolved `root`; `fn` names the public caller in errors. */
async function listSteps(root: string, fn: string): Promise<number[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return [];
    if (errorCode(e) === 'ENOTDIR') {
      throw new TfjsBlocksError(fn, 'directory', 'a directory', `${root}, a file`);
    }
    throw e;
  }
  const steps: number[] = [];
  for (const entry of entries) {
    const step = stepOf(entry.name);
    if (step !== undefined && entry.isDirectory() && (await isComplete(join(root, entry.name)))) {
      steps.push(step);
    }
  }
  return steps.sort((a, b) => a - b);
}

/** The steps to try without an explicit step: the one `latest` names, then the rest, newest first. */
async function loadOrder(root: string): Promise<number[]> {
  const steps = (await listSteps(root, LOAD)).reverse();
  if (steps.length === 0) {
    throw new TfjsBlocksError(
      LOAD,
      'directory',
      'a directory holding a checkpoint',
      `none in ${root}`,
    );
  }
  let named: number | undefined;
  try {
    named = stepOf((await readFile(join(root, LATEST_FILE), 'utf8')).trim());
  } catch {
    // No `latest` (a crash before the first pointer landed): use the listing.
  }
  if (named === undefined) return steps;
  if (steps.includes(named)) return [named, ...steps.filter((s) => s !== named)];
  // `latest` names a step directory that is there but incomplete: try it
  // first anyway, so the fallback says what it skipped instead of going quiet.
  if (await exists(join(root, stepDirectoryName(named)))) return [named, ...steps];
  return steps;
}

/**
 * Loads a checkpoint saved by {@link saveCheckpoint}: the params in their
 * saved structure, the optimizer state, step, rng and metadata. Every
 * tensor is new (the caller disposes them).
 *
 * Before any tensor is made, `checkpoint.json` is validated (format, version,
 * step, every tensor reference) and, for checkpoints written with checksums,
 * its own SHA-256 and each tensor file's size and SHA-256 are verified. A
 * checkpoint written by an earlier version (no checksums) loads with an
 * `'unverified'` warning. Without `options.step`, a corrupt latest
 * checkpoint is skipped for the newest intact one, with a `'skipped-corrupt'`
 * warning (see `onCorrupt`). Leaves `tf.memory().numTensors` as it was when
 * it throws.
 *
 * @param directory - the run's checkpoint directory.
 * @param options - `step`: which checkpoint (default the latest);
 *   `onCorrupt`: `'fallback'` (default) or `'throw'`; `onWarning`: where
 *   warnings go (default `console.warn`).
 * @returns the checkpoint.
 * @throws TfjsBlocksError when there is no such checkpoint, a file is missing
 *   or fails its checksum (the error names the file), or `checkpoint.json`
 *   is malformed (the error names the field).
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
  const fn = LOAD;
  checkDirectory(directory, fn);
  checkOptionKeys(fn, options, LOAD_OPTION_KEYS);
  const { step, onCorrupt = 'fallback', onWarning = (w) => console.warn(w.message) } = options;
  if (step !== undefined) checkStep(step, fn, 'options.step');
  if (onCorrupt !== 'fallback' && onCorrupt !== 'throw') {
    throw new TfjsBlocksError(
      fn,
      'options.onCorrupt',
      "'fallback' or 'throw'",
      describeValue(onCorrupt),
    );
  }
  if (typeof onWarning !== 'function') {
    throw new TfjsBlocksError(fn, 'options.onWarning', 'a function', describeValue(onWarning));
  }
  const root = resolve(directory);
  if (step !== undefined) return readStep<P, S>(root, step, onWarning);
  const skipped: string[] = [];
  for (const candidate of await loadOrder(root)) {
    try {
      return await readStep<P, S>(root, candidate, onWarning);
    } catch (e) {
      if (!(e instanceof TfjsBlocksError) || onCorrupt === 'throw') throw e;
      skipped.push(`step ${candidate}: ${e.argument} (${e.actual})`);
      onWarning({
        kind: 'skipped-corrupt',
        step: candidate,
        error: e,
        message: `${fn}: skipped step ${candidate} in ${root}, which failed its checks (${e.message}); trying the next newest`,
      });
    }
  }
  throw new TfjsBlocksError(
    fn,
    'directory',
    'a directory holding an intact checkpoint',
    `${root}, where every step failed its checks: ${skipped.join('; ')}`,
  );
}

/** Reads and checks one step directory; every tensor it made is disposed if it throws. */
async function readStep<P, S>(
  root: string,
  step: number,
  warn: (warning: CheckpointWarning) => void,
): Promise<Checkpoint<P, S>> {
  const fn = LOAD;
  const name = stepDirectoryName(step);
  const dir = join(root, name);
  const jsonArgument = `${name}/${JSON_FILE}`;
  let text: string;
  try {
    text = await readFile(join(dir, JSON_FILE), 'utf8');
  } catch (e) {
    if (errorCode(e) === 'ENOENT' && !(await exists(dir))) {
      const saved = await listSteps(root, fn).catch(() => [] as number[]);
      throw new TfjsBlocksError(
        fn,
        'options.step',
        `a saved checkpoint in ${root}`,
        `${step} (saved: ${saved.length > 0 ? saved.join(', ') : 'none'})`,
      );
    }
    throw fileError(e, fn, jsonArgument);
  }
  const parsed = parseJson(fn, jsonArgument, text);
  const saved = checkSavedJson(parsed, step, jsonArgument);
  if (saved.files === undefined) {
    warn({
      kind: 'unverified',
      step,
      message: `${fn}: step ${step} in ${root} was written without checksums (format version ${LEGACY_VERSION}); loaded unverified`,
    });
  } else {
    await verifyFile(dir, name, PARAMS_FILE, saved.files.params);
    if (saved.files.optimizer) await verifyFile(dir, name, OPTIMIZER_FILE, saved.files.optimizer);
  }
  const read: TensorMap[] = [];
  try {
    const paramsFile = await readTensorFile(join(dir, PARAMS_FILE), `${name}/${PARAMS_FILE}`);
    read.push(paramsFile);
    const optimizerFile =
      saved.optimizer === null
        ? undefined
        : await readTensorFile(join(dir, OPTIMIZER_FILE), `${name}/${OPTIMIZER_FILE}`);
    if (optimizerFile) read.push(optimizerFile);
    const params = placeTensors(
      saved.params,
      paramsFile,
      `${name}/${PARAMS_FILE}`,
      `${jsonArgument}.params`,
    );
    const optimizerState =
      optimizerFile === undefined
        ? undefined
        : placeTensors(
            saved.optimizer,
            optimizerFile,
            `${name}/${OPTIMIZER_FILE}`,
            `${jsonArgument}.optimizer`,
          );
    return {
      params: params as P,
      ...(optimizerState === undefined ? {} : { optimizerState: optimizerState as S }),
      step,
      rng: saved.rng ?? undefined,
      metadata: saved.metadata,
    };
  } catch (e) {
    for (const tensors of read) dispose(Object.values(tensors));
    throw e;
  }
}

/** A file digest as `checkpoint.json` records it, or a typed error naming the field. */
function checkDigest(x: unknown, argument: string): FileDigest {
  const digest = x as Record<string, unknown> | null | undefined;
  if (
    digest === null ||
    typeof digest !== 'object' ||
    typeof digest.sha256 !== 'string' ||
    !SHA256.test(digest.sha256) ||
    typeof digest.bytes !== 'number' ||
    !Number.isSafeInteger(digest.bytes) ||
    digest.bytes < 0
  ) {
    throw new TfjsBlocksError(
      LOAD,
      argument,
      '{sha256: <64 hex digits>, bytes: <integer>}',
      describeValue(x),
    );
  }
  return { sha256: digest.sha256, bytes: digest.bytes };
}

/**
 * Validates a parsed `checkpoint.json` of step `step`: format, version, its
 * own checksum (version 2), step, metadata, skeletons and file digests. Every
 * field is read as an own property.
 */
function checkSavedJson(parsed: unknown, step: number, argument: string): SavedCheckpoint {
  const fn = LOAD;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TfjsBlocksError(fn, argument, 'a JSON object', describeValue(parsed));
  }
  const saved = parsed as Record<string, unknown>;
  const field = (key: string): unknown => (Object.hasOwn(saved, key) ? saved[key] : undefined);
  if (field('format') !== FORMAT) {
    throw new TfjsBlocksError(
      fn,
      `${argument}.format`,
      `"${FORMAT}"`,
      describeValue(field('format')),
    );
  }
  const version = field('version');
  if (version !== VERSION && version !== LEGACY_VERSION) {
    throw new TfjsBlocksError(
      fn,
      `${argument}.version`,
      `${LEGACY_VERSION} or ${VERSION} (a newer tfjs-blocks may have written it)`,
      describeValue(version),
    );
  }
  if (version === VERSION) {
    // The JSON's own checksum first: a flipped bit anywhere in it (rng,
    // metadata, a skeleton number) is reported as corruption of this file.
    const { sha256: seal, ...content } = saved;
    if (typeof seal !== 'string' || sha256(JSON.stringify(content, null, 1)) !== seal) {
      throw new TfjsBlocksError(
        fn,
        argument,
        'a file whose SHA-256 matches the one it records',
        typeof seal === 'string' ? 'a mismatch (the file is corrupt)' : 'no checksum',
      );
    }
  }
  const savedStep = field('step');
  if (typeof savedStep !== 'number' || !Number.isSafeInteger(savedStep) || savedStep < 0) {
    throw new TfjsBlocksError(
      fn,
      `${argument}.step`,
      'a non-negative integer',
      describeValue(savedStep),
    );
  }
  if (savedStep !== step) {
    throw new TfjsBlocksError(
      fn,
      `${argument}.step`,
      `${step}, the step its directory names`,
      String(savedStep),
    );
  }
  const metadata = field('metadata');
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new TfjsBlocksError(fn, `${argument}.metadata`, 'a JSON object', describeValue(metadata));
  }
  if (!Object.hasOwn(saved, 'params')) {
    throw new TfjsBlocksError(fn, `${argument}.params`, 'the params skeleton', 'none');
  }
  if (!Object.hasOwn(saved, 'optimizer')) {
    throw new TfjsBlocksError(
      fn,
      `${argument}.optimizer`,
      'the optimizer skeleton or null',
      'none',
    );
  }
  const result: SavedCheckpoint = {
    version,
    rng: field('rng'),
    metadata: metadata as Record<string, unknown>,
    params: saved.params,
    optimizer: saved.optimizer,
  };
  if (version === VERSION) {
    const files = field('files');
    if (files === null || typeof files !== 'object' || Array.isArray(files)) {
      throw new TfjsBlocksError(fn, `${argument}.files`, 'a JSON object', describeValue(files));
    }
    const digest = (file: string) =>
      Object.hasOwn(files, file) ? (files as Record<string, unknown>)[file] : undefined;
    result.files = { params: checkDigest(digest(PARAMS_FILE), `${argument}.files.${PARAMS_FILE}`) };
    if (result.optimizer !== null) {
      result.files.optimizer = checkDigest(
        digest(OPTIMIZER_FILE),
        `${argument}.files.${OPTIMIZER_FILE}`,
      );
    }
  }
  return result;
}

/** Checks a tensor file's size and SHA-256 against `checkpoint.json`; a typed error names the file. */
async function verifyFile(
  dir: string,
  stepName: string,
  file: string,
  digest: FileDigest,
): Promise<void> {
  const argument = `${stepName}/${file}`;
  const path = join(dir, file);
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new TfjsBlocksError(LOAD, argument, 'a file', 'a directory');
    size = info.size;
  } catch (e) {
    throw fileError(e, LOAD, argument);
  }
  if (size !== digest.bytes) {
    throw new TfjsBlocksError(
      LOAD,
      argument,
      `${digest.bytes} bytes, as ${JSON_FILE} records`,
      `${size} bytes (the file is truncated or overwritten)`,
    );
  }
  let actual: string;
  try {
    actual = await hashFile(path);
  } catch (e) {
    throw fileError(e, LOAD, argument);
  }
  if (actual !== digest.sha256) {
    throw new TfjsBlocksError(
      LOAD,
      argument,
      `SHA-256 ${digest.sha256.slice(0, 16)}…, as ${JSON_FILE} records`,
      `${actual.slice(0, 16)}… (the file is corrupt)`,
    );
  }
}

/** Reads a tensor file; a missing or malformed file is a typed error naming it. */
async function readTensorFile(path: string, argument: string): Promise<TensorMap> {
  try {
    return (await readSafetensorsFile(path)).tensors;
  } catch (e) {
    if (e instanceof TfjsBlocksError) {
      throw new TfjsBlocksError(LOAD, argument, 'a valid safetensors file', e.message);
    }
    throw fileError(e, LOAD, argument);
  }
}

/**
 * The skeleton with each `{"$tensor": name}` replaced by the file's tensor of
 * that name (own keys only: `constructor` or `__proto__` never resolve to
 * inherited members). Each tensor must be referenced exactly once, so every
 * tensor read is either returned or reported.
 */
function placeTensors(
  skeleton: unknown,
  tensors: TensorMap,
  file: string,
  argument: string,
): unknown {
  const used = new Set<string>();
  const where = (at: string) => (at ? `${argument}.${at}` : argument);
  const value = joinTensors(skeleton, {
    tensorAt(ref, at) {
      const t = Object.hasOwn(tensors, ref) ? tensors[ref] : undefined;
      if (!(t instanceof Tensor)) {
        throw new TfjsBlocksError(
          LOAD,
          where(at),
          `a reference to a tensor in ${file}`,
          `"${truncateForMessage(ref, 60)}", which names none`,
        );
      }
      if (used.has(ref)) {
        throw new TfjsBlocksError(
          LOAD,
          where(at),
          'a tensor referenced once',
          'a second reference',
        );
      }
      used.add(ref);
      return t;
    },
    rejectMarker(at) {
      throw new TfjsBlocksError(
        LOAD,
        where(at),
        '{"$tensor": "<name>"}',
        'a malformed tensor marker',
      );
    },
  });
  const extra = Object.keys(tensors).filter((k) => !used.has(k));
  if (extra.length > 0) {
    throw new TfjsBlocksError(
      LOAD,
      file,
      `only the tensors ${JSON_FILE} names`,
      `${extra.length} more, e.g. "${truncateForMessage(extra[0]!, 60)}"`,
    );
  }
  return value;
}
