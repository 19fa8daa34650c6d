import { randomBytes } from 'node:crypto';
import {
  copyFile,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
} from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { io } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, describeValue, optionKeys, parseJson } from '../internal/checks';
import { hasName } from '../internal/records';
import { syncDirectory, writeAll } from './atomic-files';

/**
 * The topology file's name inside a model directory, as tfjs-node's
 * `file://` handler names it.
 *
 * @example
 * ```ts
 * import { join } from 'node:path';
 * import { MODEL_JSON_FILE } from 'tfjs-blocks/node';
 *
 * const modelJson = JSON.parse(await readFile(join(dir, MODEL_JSON_FILE), 'utf8'));
 * ```
 */
export const MODEL_JSON_FILE = 'model.json';
/**
 * The weights file's name inside a model directory, as tfjs-node's
 * `file://` handler names it.
 *
 * @example
 * ```ts
 * import { join } from 'node:path';
 * import { WEIGHTS_FILE } from 'tfjs-blocks/node';
 *
 * const bytes = (await stat(join(dir, WEIGHTS_FILE))).size;
 * ```
 */
export const WEIGHTS_FILE = 'weights.bin';
// The previous save's weights, hard-linked aside while a save is in flight
// so that the live model.json never points at a half-replaced weights.bin.
const PREVIOUS_WEIGHTS_FILE = 'weights.previous.bin';
// Temp names carry the pid and a random suffix so two processes never collide
// on a temp file, and cleanup can recognise them without guessing.
const TEMP_FILE = /^(model\.json|weights\.bin|weights\.previous\.bin)\.tmp-\d+-[0-9a-f]{8}$/;
// Bounded writes keep memory flat and let a kill land between chunks.

/**
 * Options of {@link nodeFileSystem}.
 *
 * @example
 * ```ts
 * // Checkpoints on a slow network disk: atomic, but not fsynced.
 * await model.save(nodeFileSystem('/mnt/nfs/run-7', { durable: false }));
 * ```
 */
export interface NodeFileSystemOptions {
  /**
   * Whether `save` fsyncs each file and the directory, so a finished save
   * survives a power loss or an OS crash, not only a killed process. Turning
   * it off keeps saves atomic against a killed process and makes them faster
   * on slow disks. Default `true`.
   */
  durable?: boolean;
}

const NODE_FILE_SYSTEM_OPTIONS = optionKeys<NodeFileSystemOptions>({ durable: true });

/** The steps of a save, in order; tests stop a save after each of them. */
export type SaveStep =
  | 'previous-weights-linked'
  | 'model-json-repointed'
  | 'weights-committed'
  | 'model-json-committed';

let saveStepHook: ((step: SaveStep) => void | Promise<void>) | undefined;

/**
 * Runs `hook` after each step of every save until it is called again with
 * `undefined`. A hook that throws aborts the save there, as a crash would.
 *
 * @internal For crash-consistency tests only; not exported from the package.
 */
export function setSaveStepHookForTesting(
  hook: ((step: SaveStep) => void | Promise<void>) | undefined,
): void {
  saveStepHook = hook;
}

/**
 * A tfjs IO handler that saves a model to a directory and loads it back,
 * with the plain `fs` module: no tfjs-node needed.
 *
 * The directory holds `model.json` (topology, weights manifest, format,
 * training config, user metadata) and `weights.bin` (every weight, in
 * manifest order): the layout tfjs-node's `file://` handler writes, so either
 * handler reads the other's saves. `load` also reads any directory whose
 * `model.json` lists its own weight files, such as tfjs-converter's sharded
 * `group1-shard1of2.bin` output.
 *
 * `save` is atomic: each file is written under a temp name, fsynced and
 * renamed into place, weights before `model.json`, and the previous weights
 * are hard-linked aside until the new `model.json` lands. A process killed at
 * any point leaves either the previous save or the new one, complete and
 * loadable; temp files it leaves are ignored by `load` and removed by the
 * next successful `save`. One writer per directory at a time.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-layers';
 * import { NodeFileSystem } from 'tfjs-blocks/node';
 *
 * const handler = new NodeFileSystem('/tmp/my-model');
 * await model.save(handler);
 * const restored = await tf.loadLayersModel(handler);
 * ```
 */
export class NodeFileSystem implements io.IOHandler {
  /** The absolute path of the model directory (or of a `model.json` file, for loading). */
  readonly path: string;
  private readonly durable: boolean;

  /**
   * Makes a handler for one model directory; nothing touches the disk until
   * `save` or `load`.
   *
   * @param path - the model directory. `save` creates it (and its parents)
   *   when missing. `load` also accepts the path of a `model.json` file.
   * @param options - see {@link NodeFileSystemOptions}.
   */
  constructor(path: string, options: NodeFileSystemOptions = {}) {
    if (typeof path !== 'string' || path.length === 0) {
      throw new TfjsBlocksError(
        'nodeFileSystem',
        'path',
        'a non-empty string',
        describeValue(path),
      );
    }
    checkOptionKeys('nodeFileSystem', options, NODE_FILE_SYSTEM_OPTIONS);
    if (options.durable !== undefined && typeof options.durable !== 'boolean') {
      throw new TfjsBlocksError(
        'nodeFileSystem',
        'options.durable',
        'a boolean',
        describeValue(options.durable),
      );
    }
    this.path = resolve(path);
    this.durable = options.durable ?? true;
  }

  /**
   * Writes `model.json` and `weights.bin` into the directory, atomically.
   *
   * @param artifacts - what `model.save` hands to its IO handler.
   * @returns the sizes tfjs reports for a save.
   */
  async save(artifacts: io.ModelArtifacts): Promise<io.SaveResult> {
    if (artifacts.modelTopology instanceof ArrayBuffer) {
      throw new TfjsBlocksError(
        'NodeFileSystem.save',
        'modelArtifacts.modelTopology',
        'a JSON topology (as tfjs-layers models produce)',
        'a binary (GraphDef) topology',
      );
    }
    const dir = this.path;
    await this.makeDirectory(dir);

    // An unreadable model.json is no save to protect: it is simply replaced.
    const live = await readModelJson(join(dir, MODEL_JSON_FILE)).catch((e) => {
      if (e instanceof TfjsBlocksError) return undefined;
      throw e;
    });
    if (live !== undefined && referencesOnly(live, WEIGHTS_FILE)) {
      await this.setPreviousWeightsAside(dir, live);
    }

    const info = io.getModelArtifactsInfoForJSON(artifacts);
    await this.writeAtomically(dir, WEIGHTS_FILE, weightChunks(artifacts.weightData));
    await step('weights-committed');
    const json = JSON.stringify(modelJsonFor(artifacts));
    await this.writeAtomically(dir, MODEL_JSON_FILE, [Buffer.from(json, 'utf8')]);
    await step('model-json-committed');

    await removeLeftovers(dir);
    return { modelArtifactsInfo: info };
  }

  /**
   * Reads `model.json` and the weight files its manifest lists.
   *
   * @returns the artifacts `tf.loadLayersModel` builds a model from.
   * @throws TfjsBlocksError when the directory or `model.json` is missing or
   *   unreadable, or a weight file is missing or not the size its specs need.
   */
  async load(): Promise<io.ModelArtifacts> {
    const fn = 'NodeFileSystem.load';
    const info = await stat(this.path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') {
        throw new TfjsBlocksError(fn, 'path', 'an existing model directory', missing(this.path));
      }
      throw e;
    });
    const jsonPath = info.isDirectory() ? join(this.path, MODEL_JSON_FILE) : this.path;
    const modelJson = await readModelJson(jsonPath, fn);
    if (modelJson === undefined) {
      throw new TfjsBlocksError(
        fn,
        'path',
        `a directory containing ${MODEL_JSON_FILE}`,
        `a directory without one: '${this.path}'`,
      );
    }
    const dir = dirname(jsonPath);
    return io.getModelArtifactsForJSON(modelJson, (manifest) => readWeights(dir, manifest));
  }

  private async makeDirectory(dir: string): Promise<void> {
    const info = await stat(dir).catch(() => undefined);
    if (info !== undefined && !info.isDirectory()) {
      throw new TfjsBlocksError(
        'NodeFileSystem.save',
        'path',
        'a directory or a path that does not exist yet',
        `a file: '${dir}'`,
      );
    }
    const firstCreated = await mkdir(dir, { recursive: true });
    if (firstCreated === undefined || !this.durable) return;
    // A new directory exists durably only once its entry in the parent does.
    for (let d = dir; d !== dirname(firstCreated); d = dirname(d)) {
      await syncDirectory(dirname(d));
    }
  }

  /**
   * Hard-links `weights.bin` to `weights.previous.bin` and repoints the live
   * `model.json` at it, so replacing `weights.bin` next cannot pair the old
   * topology with the new weights, even for a moment.
   */
  private async setPreviousWeightsAside(dir: string, live: io.ModelJSON): Promise<void> {
    const current = join(dir, WEIGHTS_FILE);
    const previous = join(dir, PREVIOUS_WEIGHTS_FILE);
    await rm(previous, { force: true });
    try {
      await link(current, previous);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // The live save is already broken: there is nothing to keep.
      if (code === 'ENOENT') return;
      // Filesystems without hard links (FAT, some network mounts) get a copy.
      await copyFile(current, previous);
      if (this.durable) await syncFile(previous);
    }
    if (this.durable) await syncDirectory(dir);
    await step('previous-weights-linked');
    const repointed: io.ModelJSON = {
      ...live,
      weightsManifest: live.weightsManifest.map((group) => ({
        ...group,
        paths: group.paths.map((p) => (p === WEIGHTS_FILE ? PREVIOUS_WEIGHTS_FILE : p)),
      })),
    };
    const json = Buffer.from(JSON.stringify(repointed), 'utf8');
    await this.writeAtomically(dir, MODEL_JSON_FILE, [json]);
    await step('model-json-repointed');
  }

  /** Temp file, fsync, rename over `name`, fsync the directory. */
  private async writeAtomically(dir: string, name: string, chunks: Uint8Array[]): Promise<void> {
    const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const temp = join(dir, `${name}.tmp-${suffix}`);
    try {
      const handle = await open(temp, 'wx');
      try {
        for (const chunk of chunks) await writeAll(handle, chunk);
        if (this.durable) await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, join(dir, name));
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
    if (this.durable) await syncDirectory(dir);
  }
}

/**
 * Makes a {@link NodeFileSystem} IO handler for `path`: pass it to
 * `model.save` and `tf.loadLayersModel` in place of a URL.
 *
 * @param path - the model directory (created on save when missing); for
 *   loading, the path of a `model.json` file works too.
 * @param options - see {@link NodeFileSystemOptions}; `durable` defaults to `true`.
 * @returns the handler.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-layers';
 * import '@tensorflow/tfjs-backend-cpu';
 * import { nodeFileSystem } from 'tfjs-blocks/node';
 *
 * const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
 * await model.save(nodeFileSystem('./checkpoints/latest'));
 * const restored = await tf.loadLayersModel(nodeFileSystem('./checkpoints/latest'));
 * ```
 */
export function nodeFileSystem(path: string, options?: NodeFileSystemOptions): NodeFileSystem {
  return new NodeFileSystem(path, options);
}

async function step(name: SaveStep): Promise<void> {
  if (saveStepHook !== undefined) await saveStepHook(name);
}

function missing(path: string): string {
  return `'${path}', which does not exist`;
}

/** Reads and parses a model.json; `undefined` when there is none. */
async function readModelJson(
  path: string,
  fn = 'NodeFileSystem.save',
): Promise<io.ModelJSON | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const parsed = parseJson(fn, MODEL_JSON_FILE, text, path);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TfjsBlocksError(
      fn,
      MODEL_JSON_FILE,
      'a JSON object',
      `${describeValue(parsed)} in '${path}'`,
    );
  }
  const manifest = (parsed as { weightsManifest?: unknown }).weightsManifest;
  const groupsOk =
    Array.isArray(manifest) &&
    manifest.every(
      (g) =>
        typeof g === 'object' &&
        g !== null &&
        Array.isArray(g.paths) &&
        g.paths.every((p: unknown) => typeof p === 'string') &&
        Array.isArray(g.weights),
    );
  if (manifest !== undefined && !groupsOk) {
    throw new TfjsBlocksError(
      fn,
      `${MODEL_JSON_FILE} weightsManifest`,
      'an array of {paths: string[], weights: specs[]} groups',
      `something else in '${path}'`,
    );
  }
  if (manifest !== undefined) {
    (manifest as io.WeightsManifestConfig).forEach((group, g) => {
      group.weights.forEach((spec, i) => {
        checkWeightSpec(fn, `${MODEL_JSON_FILE} weightsManifest[${g}].weights[${i}]`, spec, path);
      });
    });
  }
  return parsed as io.ModelJSON;
}

/** dtypes a weight spec (or its quantization) may name, by bytes per value. */
const BYTES_PER_VALUE: Readonly<Record<string, number>> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/**
 * Throws unless `spec` is a weight spec whose size can be computed: a name,
 * a shape of non-negative integers, a known dtype (own keys only: a dtype
 * `constructor` is no dtype), and a known quantization dtype if quantized.
 */
function checkWeightSpec(fn: string, argument: string, spec: unknown, path: string): void {
  const where = ` in '${path}'`;
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new TfjsBlocksError(
      fn,
      argument,
      'a weight spec {name, shape, dtype}',
      `${describeValue(spec)}${where}`,
    );
  }
  const { name, shape, dtype, quantization } = spec as Record<string, unknown>;
  if (typeof name !== 'string') {
    throw new TfjsBlocksError(fn, `${argument}.name`, 'a string', `${describeValue(name)}${where}`);
  }
  if (
    !Array.isArray(shape) ||
    !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)
  ) {
    const got =
      Array.isArray(shape) && shape.length <= 8 ? `[${shape.join(', ')}]` : describeValue(shape);
    throw new TfjsBlocksError(
      fn,
      `${argument}.shape`,
      'an array of non-negative integers',
      `${got}${where}`,
    );
  }
  const dtypes = [...Object.keys(BYTES_PER_VALUE), 'string'];
  if (typeof dtype !== 'string' || !(hasName(BYTES_PER_VALUE, dtype) || dtype === 'string')) {
    throw new TfjsBlocksError(
      fn,
      `${argument}.dtype`,
      `one of ${dtypes.join(', ')}`,
      `${describeValue(dtype)}${where}`,
    );
  }
  if (quantization === undefined) return;
  const qDtype = (quantization as { dtype?: unknown } | null)?.dtype;
  if (typeof qDtype !== 'string' || !['uint8', 'uint16', 'float16'].includes(qDtype)) {
    throw new TfjsBlocksError(
      fn,
      `${argument}.quantization.dtype`,
      'one of uint8, uint16, float16',
      `${describeValue(qDtype)}${where}`,
    );
  }
}

/** Whether the model's weights all live in `file`, and only there. */
function referencesOnly(modelJson: io.ModelJSON, file: string): boolean {
  const paths = (modelJson.weightsManifest ?? []).flatMap((g) => g.paths);
  return paths.length > 0 && paths.every((p) => p === file);
}

function weightChunks(data: io.WeightData | undefined): Uint8Array[] {
  const buffers = data === undefined ? [] : Array.isArray(data) ? data : [data];
  return buffers.map((b) => new Uint8Array(b));
}

/** Lays out model.json the way tfjs-node's `file://` handler does. */
function modelJsonFor(artifacts: io.ModelArtifacts): io.ModelJSON {
  const modelJson: io.ModelJSON = {
    modelTopology: artifacts.modelTopology as io.ModelJSON['modelTopology'],
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
  };
  if (artifacts.trainingConfig != null) modelJson.trainingConfig = artifacts.trainingConfig;
  if (artifacts.signature != null) modelJson.signature = artifacts.signature;
  if (artifacts.userDefinedMetadata != null) {
    modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
  }
  if (artifacts.modelInitializer != null) modelJson.modelInitializer = artifacts.modelInitializer;
  if (artifacts.initializerSignature != null) {
    modelJson.initializerSignature = artifacts.initializerSignature;
  }
  return modelJson;
}

/** Bytes a group's specs occupy, or `undefined` when a string tensor makes it data-dependent. */
function expectedBytes(specs: io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const spec of specs) {
    const dtype = spec.quantization?.dtype ?? spec.dtype;
    if (dtype === 'string') return undefined;
    const size = spec.shape.reduce((a, b) => a * b, 1);
    total += size * BYTES_PER_VALUE[dtype]!;
  }
  return total;
}

async function readWeights(
  dir: string,
  manifest: io.WeightsManifestConfig,
): Promise<[io.WeightsManifestEntry[], io.WeightData]> {
  const fn = 'NodeFileSystem.load';
  const specs: io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  // Symlinks are followed: the check that a file stays inside is made on real paths.
  const realDir = await realpath(dir);
  for (const [g, group] of manifest.entries()) {
    let groupBytes = 0;
    for (const [i, file] of group.paths.entries()) {
      const argument = `weightsManifest[${g}].paths[${i}]`;
      const inside = 'a path inside the model directory';
      if (file.length === 0) {
        throw new TfjsBlocksError(fn, argument, 'a file name', "'' (the directory itself)");
      }
      const path = resolve(dir, file);
      if (!isInside(dir, path)) throw new TfjsBlocksError(fn, argument, inside, `'${file}'`);
      const real = await realpath(path).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') {
          throw new TfjsBlocksError(
            fn,
            argument,
            'a weights file next to model.json',
            missing(path),
          );
        }
        throw e;
      });
      if (!isInside(realDir, real)) {
        throw new TfjsBlocksError(fn, argument, inside, `'${file}', a link to '${real}'`);
      }
      if (!(await stat(real)).isFile()) {
        throw new TfjsBlocksError(fn, argument, 'a weights file', `'${file}', not a file`);
      }
      const bytes = await readFile(real);
      groupBytes += bytes.byteLength;
      buffers.push(toArrayBuffer(bytes));
    }
    const expected = expectedBytes(group.weights);
    if (expected !== undefined && expected !== groupBytes) {
      throw new TfjsBlocksError(
        fn,
        `weightsManifest[${g}]`,
        `${expected} bytes of weights for its ${group.weights.length} tensors`,
        `${groupBytes} bytes in ${group.paths.map((p) => `'${join(dir, p)}'`).join(', ')}`,
      );
    }
    specs.push(...group.weights);
  }
  return [specs, buffers.length === 1 ? buffers[0]! : buffers];
}

/**
 * Whether `path` lies strictly below `dir` (both absolute). A name such as
 * `..weights.bin` is inside; only a `..` path segment leaves.
 */
function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) {
    return bytes.buffer as ArrayBuffer;
  }
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes temp files of killed saves and the previous weights, once a save has landed. */
async function removeLeftovers(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name === PREVIOUS_WEIGHTS_FILE || TEMP_FILE.test(name)) {
      await rm(join(dir, name), { force: true });
    }
  }
}
