/**
 * The weights of a pretrained folder, streamed: every safetensors header is
 * read and checked against the family's tensor rules first (names, dtypes,
 * shapes, shard layout), before any tensor exists; then each file's tensors
 * are read in offset order, one at a time, converted by their rule and
 * their bytes dropped. One shard at a time, never the whole state dict and
 * the params at once.
 */
import { dispose, type Tensor, tidy } from '@tensorflow/tfjs-core';
import type { FloatMatrix } from '../efficiency/quantization';
import { TfjsBlocksError } from '../errors';
import { describeValue, formatShape } from '../internal/checks';
import { emptyRecord, ownEntry } from '../internal/records';
import {
  DEFAULT_MAX_TENSORS,
  decodeFloats,
  decodeTensor,
  parseHeader,
  readHeaderLength,
  type SafetensorsEntry,
} from '../interop/safetensors-format';
import type { QuantizedTensor } from '../nn/quantized-weights';
import type { PretrainedFamily, TensorRule } from './families/family';
import { setParamPath } from './families/rules';
import {
  BodyReader,
  fetchFile,
  fetchJson,
  headerNumber,
  type PretrainedFetch,
  rangeTotal,
  throwIfAborted,
} from './source';

/** The single-file checkpoint's name. */
export const WEIGHTS_FILE = 'model.safetensors';
/** The sharded checkpoint's index. */
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';
/** Bytes asked for first: most headers fit (GPT-2 small's is ~15 KB). */
const HEADER_PROBE_BYTES = 1 << 16;
/** Weight dtypes read (F16 and BF16 are widened to float32). */
const WEIGHT_DTYPES = new Set(['F32', 'F16', 'BF16']);

/**
 * What `onProgress` receives: bytes of weights read so far and in all,
 * and the file being read.
 *
 * @example
 * ```ts
 * const onProgress = ({ loadedBytes, totalBytes, file }: PretrainedProgress) =>
 *   console.log(`${file}: ${((100 * loadedBytes) / totalBytes).toFixed(0)}%`);
 * ```
 */
export interface PretrainedProgress {
  /** Weight-file bytes read so far (headers included). */
  loadedBytes: number;
  /** Weight-file bytes in all. */
  totalBytes: number;
  /** The file being read. */
  file: string;
}

/** `quantizeParams`' choice for one matrix, by the last key of its path: quantized, or `undefined` (kept float32). */
type ParamQuantizer = (
  leaf: Tensor | FloatMatrix,
  lastKey: string | undefined,
) => QuantizedTensor | undefined;

/** One weight file, its header read and checked. */
type PlannedFile = {
  file: string;
  /** 8 + the header's length: where the byte buffer starts. */
  dataStart: number;
  /** The whole file's size (8 + header + buffer). */
  totalBytes: number;
  /** In offset order; `rule` undefined for a known buffer (skipped). */
  entries: { entry: SafetensorsEntry; rule: TensorRule | undefined }[];
};

/** Rethrows a header error with the file's name in front of its argument. */
function inFile<T>(fn: string, file: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof TfjsBlocksError)) throw e;
    throw new TfjsBlocksError(fn, `${file}: ${e.argument}`, e.expected, e.actual);
  }
}

/** Reads and parses one file's header (a ranged request where the source allows). */
async function readFileHeader(
  fn: string,
  fetcher: PretrainedFetch,
  file: string,
  signal: AbortSignal | undefined,
  missing: string,
): Promise<{ dataStart: number; entries: SafetensorsEntry[]; totalBytes: number }> {
  let range = `bytes=0-${HEADER_PROBE_BYTES - 1}`;
  for (;;) {
    const response = (await fetchFile(fn, fetcher, file, { signal, range, missing }))!;
    const reader = new BodyReader(response, signal);
    try {
      const size =
        response.status === 206 ? rangeTotal(response) : headerNumber(response, 'Content-Length');
      const prefix = new Uint8Array(8);
      const got = await reader.read(prefix);
      // Size unknown (no Content-Length): any header length is taken, and the
      // bytes that arrive are checked against it.
      const known = size ?? (got < 8 ? got : Number.MAX_SAFE_INTEGER);
      const n = inFile(fn, file, () => readHeaderLength(prefix, known, fn));
      const json = new Uint8Array(n);
      if ((await reader.read(json)) < n) {
        if (response.status === 206 && !range.endsWith(`-${7 + n}`)) {
          range = `bytes=0-${7 + n}`;
          continue;
        }
        throw new TfjsBlocksError(
          fn,
          file,
          `a ${n}-byte header after its 8-byte length`,
          `${reader.position - 8} bytes (truncated download)`,
        );
      }
      const buffer = size === undefined ? undefined : size - 8 - n;
      const { entries } = inFile(fn, file, () =>
        parseHeader(json, buffer, fn, DEFAULT_MAX_TENSORS),
      );
      const end = entries.length === 0 ? 0 : entries[entries.length - 1]!.end;
      return { dataStart: 8 + n, entries, totalBytes: 8 + n + end };
    } finally {
      await reader.cancel();
    }
  }
}

/** The rules by checkpoint name. */
function rulesByName(rules: TensorRule[]): Record<string, TensorRule> {
  const byName = emptyRecord<TensorRule>();
  for (const rule of rules) byName[rule.name] = rule;
  return byName;
}

/** Checks one header's entries against the rules; `expected` names the tensors it must hold. */
function planFile<C>(
  fn: string,
  family: PretrainedFamily<C>,
  config: C,
  file: string,
  header: { dataStart: number; entries: SafetensorsEntry[]; totalBytes: number },
  byName: Record<string, TensorRule>,
  expected: Set<string>,
): PlannedFile {
  const entries: PlannedFile['entries'] = [];
  const seen = new Set<string>();
  for (const entry of header.entries) {
    const where = `${file}: tensor "${entry.name}"`;
    const rule = ownEntry(byName, entry.name);
    if (rule === undefined || !expected.has(entry.name)) {
      if (family.isBuffer(entry.name, config)) {
        entries.push({ entry, rule: undefined });
        continue;
      }
      throw new TfjsBlocksError(
        fn,
        where,
        rule === undefined
          ? `a tensor of ${family.architecture} (no rule maps it: an extra or unknown tensor)`
          : `listed for this file in ${WEIGHTS_INDEX_FILE}`,
        rule === undefined ? 'an unknown tensor' : 'a tensor the index places in another file',
      );
    }
    if (!WEIGHT_DTYPES.has(entry.dtype)) {
      throw new TfjsBlocksError(fn, `${where}.dtype`, 'F32, F16 or BF16', entry.dtype);
    }
    if (
      entry.shape.length !== rule.shape.length ||
      entry.shape.some((d, i) => d !== rule.shape[i])
    ) {
      throw new TfjsBlocksError(
        fn,
        `${where}.shape`,
        `${formatShape(rule.shape)} (from config.json)`,
        formatShape(entry.shape),
      );
    }
    seen.add(entry.name);
    entries.push({ entry, rule });
  }
  for (const name of expected) {
    if (!seen.has(name)) {
      throw new TfjsBlocksError(fn, `${file}: tensor "${name}"`, 'present', 'nothing (missing)');
    }
  }
  return { file, dataStart: header.dataStart, totalBytes: header.totalBytes, entries };
}

/** A shard's name from the index: a plain file name in the folder. */
function checkShardName(fn: string, name: string, value: unknown): string {
  if (
    typeof value !== 'string' ||
    !/^[^/\\]+\.safetensors$/.test(value) ||
    value === '.' ||
    value === '..'
  ) {
    throw new TfjsBlocksError(
      fn,
      `${WEIGHTS_INDEX_FILE}: weight_map["${name}"]`,
      'a .safetensors file name in the same folder',
      describeValue(value),
    );
  }
  return value;
}

/**
 * Reads every header of the checkpoint (one file, or the index and every
 * shard) and checks it against the rules, allocating no tensor.
 */
async function planWeights<C>(
  fn: string,
  fetcher: PretrainedFetch,
  family: PretrainedFamily<C>,
  config: C,
  rules: TensorRule[],
  signal: AbortSignal | undefined,
): Promise<PlannedFile[]> {
  const byName = rulesByName(rules);
  const index = await fetchJson(fn, fetcher, WEIGHTS_INDEX_FILE, { optional: true, signal });
  if (index === undefined) {
    const header = await readFileHeader(
      fn,
      fetcher,
      WEIGHTS_FILE,
      signal,
      `present (${WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE} with its shards)`,
    );
    const all = new Set(rules.map((r) => r.name));
    return [planFile(fn, family, config, WEIGHTS_FILE, header, byName, all)];
  }
  const weightMap =
    index !== null && typeof index === 'object' && !Array.isArray(index)
      ? ownEntry(index as Record<string, unknown>, 'weight_map')
      : undefined;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new TfjsBlocksError(
      fn,
      `${WEIGHTS_INDEX_FILE}: weight_map`,
      'an object mapping tensor names to shard files',
      describeValue(weightMap),
    );
  }
  // Shard file -> the tensors the index places there, in the index's order.
  const shards = new Map<string, Set<string>>();
  for (const [name, value] of Object.entries(weightMap)) {
    const shard = checkShardName(fn, name, value);
    if (ownEntry(byName, name) === undefined && !family.isBuffer(name, config)) {
      throw new TfjsBlocksError(
        fn,
        `${WEIGHTS_INDEX_FILE}: weight_map["${name}"]`,
        `a tensor of ${family.architecture} (no rule maps it: an extra or unknown tensor)`,
        'an unknown tensor',
      );
    }
    if (!shards.has(shard)) shards.set(shard, new Set());
    if (ownEntry(byName, name) !== undefined) shards.get(shard)!.add(name);
  }
  for (const rule of rules) {
    if (!hasMapped(weightMap as Record<string, unknown>, rule.name)) {
      throw new TfjsBlocksError(
        fn,
        `${WEIGHTS_INDEX_FILE}: weight_map["${rule.name}"]`,
        'the shard holding this tensor',
        'nothing (missing)',
      );
    }
  }
  const planned: PlannedFile[] = [];
  for (const [shard, names] of [...shards].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const header = await readFileHeader(
      fn,
      fetcher,
      shard,
      signal,
      `present (a shard named in ${WEIGHTS_INDEX_FILE})`,
    );
    planned.push(planFile(fn, family, config, shard, header, byName, names));
  }
  return planned;
}

function hasMapped(weightMap: Record<string, unknown>, name: string): boolean {
  return ownEntry(weightMap, name) !== undefined;
}

/** Streams one planned file's tensors into `params`; `made` collects every tensor made. */
async function readFileTensors(
  fn: string,
  fetcher: PretrainedFetch,
  plan: PlannedFile,
  params: Record<string, unknown>,
  made: Tensor[],
  progress: (bytes: number, file: string) => void,
  signal: AbortSignal | undefined,
  quantize: ParamQuantizer | undefined,
): Promise<void> {
  const response = (await fetchFile(fn, fetcher, plan.file, { signal }))!;
  const reader = new BodyReader(response, signal);
  try {
    const length = headerNumber(response, 'Content-Length');
    if (response.status === 200 && length !== undefined && length < plan.totalBytes) {
      throw new TfjsBlocksError(
        fn,
        plan.file,
        `${plan.totalBytes} bytes (as its header promises)`,
        `Content-Length ${length} (truncated download)`,
      );
    }
    const truncated = (what: string) =>
      new TfjsBlocksError(
        fn,
        what,
        `${plan.totalBytes} bytes (as its header promises)`,
        `the download ended after ${reader.position} bytes (truncated download)`,
      );
    if ((await reader.read(plan.dataStart)) < plan.dataStart) throw truncated(plan.file);
    progress(plan.dataStart, plan.file);
    for (const { entry, rule } of plan.entries) {
      const where = `${plan.file}: tensor "${entry.name}"`;
      const size = entry.end - entry.begin;
      if (rule === undefined) {
        if ((await reader.read(size)) < size) throw truncated(where);
        progress(size, plan.file);
        continue;
      }
      // A fresh ArrayBuffer is aligned: decodeTensor keeps it as the tensor's storage.
      const bytes = new Uint8Array(size);
      if ((await reader.read(bytes)) < size) throw truncated(where);
      const kept = rule.unchanged === true && rule.paths.length === 1;
      // A matrix kept as stored is quantized from its bytes: its floats never become a tensor.
      const direct =
        kept && quantize !== undefined
          ? quantize(
              { shape: entry.shape, dtype: 'float32', values: () => decodeFloats(entry, bytes) },
              rule.paths[0]!.at(-1),
            )
          : undefined;
      if (direct !== undefined) {
        setParamPath(params, rule.paths[0]!, direct);
        progress(size, plan.file);
        continue;
      }
      // The decoded tensor is ours: a rule that would copy it unchanged keeps it instead.
      const outputs = inFile(fn, plan.file, () =>
        kept
          ? [decodeTensor(entry, bytes, fn)]
          : tidy(() => rule.load(decodeTensor(entry, bytes, fn))),
      );
      made.push(...outputs);
      if (outputs.length !== rule.paths.length) {
        throw new TfjsBlocksError(
          fn,
          where,
          `${rule.paths.length} tensors from its rule`,
          `${outputs.length}`,
        );
      }
      for (const [i, path] of rule.paths.entries()) {
        const output = outputs[i]!;
        const q = quantize?.(output, path.at(-1));
        // Its floats are freed before the next tensor is read.
        if (q !== undefined) output.dispose();
        setParamPath(params, path, q ?? output);
      }
      progress(size, plan.file);
    }
  } finally {
    await reader.cancel();
  }
}

/**
 * Streams a folder's weights into our params through the family's rules.
 * Every header is read and checked first; on any failure (a bad file, a
 * truncated download, an abort) every tensor made so far is disposed.
 *
 * @internal Used by `loadPretrained`; not exported from the package.
 */
export async function loadWeights<C, P>(
  fn: string,
  fetcher: PretrainedFetch,
  family: PretrainedFamily<C>,
  config: C,
  options: {
    signal?: AbortSignal;
    onProgress?: (progress: PretrainedProgress) => void;
    /** Quantizes each matrix as it is read (`undefined`: keep it float32). */
    quantize?: ParamQuantizer;
  },
): Promise<P> {
  const { signal, onProgress, quantize } = options;
  const rules = family.tensors(config);
  const plans = await planWeights(fn, fetcher, family, config, rules, signal);
  const totalBytes = plans.reduce((sum, p) => sum + p.totalBytes, 0);
  let loadedBytes = 0;
  const progress = (bytes: number, file: string) => {
    loadedBytes += bytes;
    onProgress?.({ loadedBytes, totalBytes, file });
  };
  const params: Record<string, unknown> = {};
  const made: Tensor[] = [];
  try {
    for (const plan of plans) {
      await readFileTensors(fn, fetcher, plan, params, made, progress, signal, quantize);
      throwIfAborted(signal);
    }
  } catch (e) {
    dispose(made);
    throw e;
  }
  return params as P;
}
