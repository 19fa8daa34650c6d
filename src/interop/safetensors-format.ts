/**
 * The safetensors layout shared by the in-memory and the file readers and
 * writers: the header's validation, the dtype table, and the conversion of
 * one tensor's bytes to and from a tfjs tensor.
 *
 * A file is an 8-byte little-endian u64 `N`, `N` bytes of UTF-8 JSON
 * (`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`,
 * offsets relative to the byte buffer), then the byte buffer, which the
 * tensors must cover exactly, without holes or overlaps.
 * Spec: https://github.com/huggingface/safetensors#format
 */
import { type DataType, type Tensor, tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkTensor, describeValue, truncateForMessage } from '../internal/checks';
import { emptyRecord, hasName } from '../internal/records';
import { bfloat16ToFloat32, float16ToFloat32 } from './half-precision';

/**
 * The safetensors dtypes tfjs-blocks reads. F16 and BF16 are widened to
 * float32; I8, U8 and I64 are read as int32 (I64 only when every value fits).
 *
 * @example
 * ```ts
 * import type { SafetensorsDtype } from 'tfjs-blocks';
 *
 * const dtype: SafetensorsDtype = 'BF16';
 * ```
 */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I8' | 'I32' | 'BOOL' | 'U8' | 'I64';

/**
 * One tensor's entry in a validated header.
 *
 * @example
 * ```ts
 * const entry: SafetensorsEntry = { name: 'w', dtype: 'F32', shape: [2], begin: 0, end: 8 };
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export interface SafetensorsEntry {
  /** The tensor's name, e.g. `model.layers.0.mlp.up_proj.weight`. */
  name: string;
  /** Its dtype in the file. */
  dtype: SafetensorsDtype;
  /** Its shape (`[]` for a scalar). */
  shape: number[];
  /** Its first byte, relative to the start of the byte buffer. */
  begin: number;
  /** One past its last byte, relative to the start of the byte buffer. */
  end: number;
}

/** Bytes per element of each readable dtype. */
const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I8: 1,
  I32: 4,
  BOOL: 1,
  U8: 1,
  I64: 8,
};
/** Dtypes the format defines that tfjs has no faithful type for. */
const UNSUPPORTED_DTYPES = new Set([
  'F64',
  'I16',
  'U16',
  'U32',
  'U64',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
  'F6_E2M3',
  'F6_E3M2',
  'F4',
  'C64',
]);
const WRITE_DTYPES: Partial<Record<DataType, SafetensorsDtype>> = {
  float32: 'F32',
  int32: 'I32',
  bool: 'BOOL',
};
/**
 * The largest header accepted: the safetensors crate refuses larger ones, and
 * so do we, before allocating one.
 *
 * @example
 * ```ts
 * if (headerLength > MAX_HEADER_BYTES) throw new Error('not a safetensors file');
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export const MAX_HEADER_BYTES = 100_000_000;
/**
 * The most tensors a reader accepts from one file unless told otherwise
 * (`options.maxTensors`). Each tensor costs a tfjs tensor and its
 * bookkeeping (about 1.4 KB even when empty), so a hostile header of a
 * million empty tensors would cost gigabytes before any check on the data.
 * Real checkpoints stay far below: Hugging Face shards hold a few hundred to
 * ~10,000 tensors each, and even DeepSeek-V3 (671B parameters, 256 experts in
 * 58 layers) merged into a single file would hold about 91,000.
 *
 * @example
 * ```ts
 * parseHeader(json, bufferBytes, 'parseSafetensors', DEFAULT_MAX_TENSORS);
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export const DEFAULT_MAX_TENSORS = 100_000;
const METADATA_KEY = '__metadata__';
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Reads the header length `N` from a file's first 8 bytes and checks that
 * the header fits in a file of `fileBytes` bytes.
 *
 * @example
 * ```ts
 * const n = readHeaderLength(bytes.subarray(0, 8), bytes.byteLength, 'parseSafetensors');
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export function readHeaderLength(prefix: Uint8Array, fileBytes: number, fn: string): number {
  if (fileBytes < 8 || prefix.byteLength < 8) {
    throw new TfjsBlocksError(
      fn,
      'buffer',
      'at least 8 bytes (the header length)',
      `${fileBytes} bytes`,
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER_BYTES, fileBytes - 8))) {
    throw new TfjsBlocksError(
      fn,
      'header length',
      `at most ${Math.min(MAX_HEADER_BYTES, fileBytes - 8)} bytes (the file holds ${fileBytes})`,
      `${n} bytes (truncated or not a safetensors file)`,
    );
  }
  return Number(n);
}

/**
 * A header value for a message: JSON when it is a string (cut short) or a
 * short list of numbers, else described. A header may hold megabytes: it is
 * never stringified whole.
 */
function quoteJson(x: unknown): string {
  if (typeof x === 'string') return JSON.stringify(truncateForMessage(x));
  if (
    Array.isArray(x) &&
    x.length <= 16 &&
    x.every((v) => typeof v === 'number' || typeof v === 'boolean' || v === null)
  ) {
    return JSON.stringify(x);
  }
  return describeValue(x);
}

function isNonNegativeInteger(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Parses and validates the JSON header: every entry's dtype, shape and
 * offsets, that each entry's byte length matches its shape and dtype, and
 * that the entries cover the `bufferBytes`-byte buffer exactly, and that
 * there are at most `maxTensors` of them (checked before any entry is).
 * `bufferBytes` is `undefined` when the file's size is not known yet (a
 * stream read header first): the buffer is then taken to end where the last
 * tensor ends, and the caller checks the bytes that arrive against that.
 * Tensor names may be any string (`__proto__` included): the metadata
 * record has no prototype. A name given twice in one object (a tensor, a
 * tensor's field, a metadata key) is an error naming it: `JSON.parse` alone
 * would keep the last silently.
 *
 * @returns the entries, sorted by offset, and the string metadata.
 *
 * @example
 * ```ts
 * const { entries, metadata } = parseHeader(jsonBytes, fileBytes - 8 - n, 'parseSafetensors', 100_000);
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export function parseHeader(
  json: Uint8Array,
  bufferBytes: number | undefined,
  fn: string,
  maxTensors: number,
): { entries: SafetensorsEntry[]; metadata: Record<string, string> } {
  let header: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
    header = JSON.parse(text);
  } catch (e) {
    throw new TfjsBlocksError(
      fn,
      'header',
      'UTF-8 JSON',
      `unparseable bytes (${(e as Error).message})`,
    );
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new TfjsBlocksError(fn, 'header', 'a JSON object', quoteJson(header));
  }
  // JSON.parse makes every name an own key, `__proto__` included.
  const names = Object.keys(header);
  const count = names.length - (hasName(header, METADATA_KEY) ? 1 : 0);
  if (count > maxTensors) {
    throw new TfjsBlocksError(
      fn,
      'header',
      `at most ${maxTensors} tensors (options.maxTensors)`,
      `${count} tensors`,
    );
  }
  // JSON.parse keeps the last of two equal keys: a tensor named twice would
  // silently be one of them.
  const duplicate = duplicateKey(text);
  if (duplicate !== undefined) {
    const [outer, ...rest] = duplicate;
    const argument =
      rest.length === 0
        ? outer === METADATA_KEY
          ? METADATA_KEY
          : `tensor "${outer}"`
        : outer === METADATA_KEY
          ? `${METADATA_KEY}.${rest.join('.')}`
          : `tensor "${outer}".${rest.join('.')}`;
    throw new TfjsBlocksError(fn, argument, 'a name given once in the header', 'given twice');
  }
  const metadata = emptyRecord<string>();
  const entries: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) {
        throw new TfjsBlocksError(fn, METADATA_KEY, 'an object of strings', quoteJson(info));
      }
      for (const [key, value] of Object.entries(info)) {
        if (typeof value !== 'string') {
          throw new TfjsBlocksError(fn, `${METADATA_KEY}.${key}`, 'a string', quoteJson(value));
        }
        metadata[key] = value;
      }
      continue;
    }
    entries.push(parseEntry(name, info, bufferBytes, fn));
  }
  // The byte buffer must be covered exactly: no holes, no overlaps.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const entry of entries) {
    if (entry.begin !== covered) {
      throw new TfjsBlocksError(
        fn,
        `tensor "${entry.name}".data_offsets`,
        `to start at byte ${covered}, right after the previous tensor (no overlaps or holes)`,
        `[${entry.begin}, ${entry.end}]`,
      );
    }
    covered = entry.end;
  }
  if (bufferBytes !== undefined && covered !== bufferBytes) {
    throw new TfjsBlocksError(
      fn,
      'data_offsets',
      `to cover the ${bufferBytes}-byte buffer`,
      `tensors ending at byte ${covered}`,
    );
  }
  return { entries, metadata };
}

/**
 * The path of keys (outermost first) to the first key that an object of the
 * JSON `text` holds twice, or `undefined` when every object's keys are
 * distinct. `text` is JSON that `JSON.parse` accepted: one pass over it,
 * tracking strings, objects and arrays.
 */
function duplicateKey(text: string): string[] | undefined {
  // One frame per open object (its keys so far) or array (`keys: undefined`).
  const frames: { keys: Set<string> | undefined; expectKey: boolean; key: string }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      const frame = frames[frames.length - 1];
      if (frame?.keys !== undefined && frame.expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (frame.keys.has(key)) return [...frames.slice(0, -1).map((f) => f.key), key];
        frame.keys.add(key);
        frame.key = key;
        frame.expectKey = false;
      }
    } else if (c === '{') {
      frames.push({ keys: new Set(), expectKey: true, key: '' });
    } else if (c === '[') {
      frames.push({ keys: undefined, expectKey: false, key: '' });
    } else if (c === '}' || c === ']') {
      frames.pop();
    } else if (c === ',') {
      const frame = frames[frames.length - 1];
      if (frame?.keys !== undefined) frame.expectKey = true;
    }
  }
  return undefined;
}

function parseEntry(
  name: string,
  info: unknown,
  bufferBytes: number | undefined,
  fn: string,
): SafetensorsEntry {
  const arg = `tensor "${name}"`;
  if (info === null || typeof info !== 'object' || Array.isArray(info)) {
    throw new TfjsBlocksError(fn, arg, '{dtype, shape, data_offsets}', quoteJson(info));
  }
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  // Own keys only: `constructor` or `toString` is no dtype.
  if (typeof dtype !== 'string' || !hasName(DTYPE_BYTES, dtype)) {
    const why = UNSUPPORTED_DTYPES.has(dtype as string) ? ' (no tfjs dtype holds it)' : '';
    throw new TfjsBlocksError(
      fn,
      `${arg}.dtype`,
      `one of ${Object.keys(DTYPE_BYTES).join(', ')}`,
      `${quoteJson(dtype)}${why}`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw new TfjsBlocksError(
      fn,
      `${arg}.shape`,
      'an array of non-negative integers',
      quoteJson(shape),
    );
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every(isNonNegativeInteger) ||
    (offsets[0] as number) > (offsets[1] as number)
  ) {
    throw new TfjsBlocksError(
      fn,
      `${arg}.data_offsets`,
      '[begin, end] with 0 <= begin <= end',
      quoteJson(offsets),
    );
  }
  const [begin, end] = offsets as [number, number];
  if (bufferBytes !== undefined && end > bufferBytes) {
    throw new TfjsBlocksError(
      fn,
      `${arg}.data_offsets`,
      `within the ${bufferBytes}-byte buffer`,
      `[${begin}, ${end}] (truncated file?)`,
    );
  }
  const bytes =
    shape.reduce((a: number, b: number) => a * b, 1) * DTYPE_BYTES[dtype as SafetensorsDtype];
  if (bytes !== end - begin) {
    throw new TfjsBlocksError(
      fn,
      `${arg}.data_offsets`,
      `${bytes} bytes (shape [${shape.join(', ')}] of ${dtype})`,
      `${end - begin} bytes`,
    );
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

/** Swaps each `size`-byte group in place: the file is little-endian, a few hosts are not. */
function toHostOrder(bytes: Uint8Array, size: number): void {
  if (HOST_LITTLE_ENDIAN || size === 1) return;
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

/**
 * An entry's bytes in host order at an 8-byte-aligned offset (`owned`),
 * ready for a typed-array view of `count` elements: `bytes` itself when
 * aligned (reordered in place), else a copy.
 */
function hostOrderBytes(
  entry: SafetensorsEntry,
  bytes: Uint8Array,
): { owned: Uint8Array; count: number } {
  const size = DTYPE_BYTES[entry.dtype];
  // Typed-array views need an aligned offset; a copy is the exception, not the rule.
  const owned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  toHostOrder(owned, size);
  return { owned, count: owned.byteLength / size };
}

/**
 * The values of a float entry (F32, F16 or BF16; the halves widened
 * exactly), without making a tensor: what {@link decodeTensor} would store.
 * F32 bytes become the array's storage: pass bytes the caller will not
 * reuse, starting at an 8-byte-aligned offset.
 *
 * @example
 * ```ts
 * const values = decodeFloats(entry, bytes); // Float32Array of entry.shape's size
 * ```
 *
 * @internal For `loadPretrained({ quantize })`, which quantizes a matrix
 * straight from its bytes.
 */
export function decodeFloats(entry: SafetensorsEntry, bytes: Uint8Array): Float32Array {
  const { owned, count } = hostOrderBytes(entry, bytes);
  const { buffer, byteOffset } = owned;
  switch (entry.dtype) {
    case 'F32':
      return new Float32Array(buffer, byteOffset, count);
    case 'F16':
      return float16ToFloat32(new Uint16Array(buffer, byteOffset, count));
    case 'BF16':
      return bfloat16ToFloat32(new Uint16Array(buffer, byteOffset, count));
    default:
      throw new Error(`decodeFloats: ${entry.dtype} is not a float dtype`);
  }
}

/**
 * Makes the tensor of one entry from its bytes. `bytes` becomes the tensor's
 * storage where the dtype allows (F32, I32, BOOL): pass bytes the caller
 * will not reuse, starting at an 8-byte-aligned offset.
 *
 * @example
 * ```ts
 * const t = decodeTensor(entry, bytes.slice(start + entry.begin, start + entry.end), 'parseSafetensors');
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export function decodeTensor(entry: SafetensorsEntry, bytes: Uint8Array, fn: string): Tensor {
  if (entry.dtype === 'F32' || entry.dtype === 'F16' || entry.dtype === 'BF16') {
    return tensor(decodeFloats(entry, bytes), entry.shape, 'float32');
  }
  const { owned, count } = hostOrderBytes(entry, bytes);
  const { buffer, byteOffset } = owned;
  switch (entry.dtype) {
    case 'I32':
      return tensor(new Int32Array(buffer, byteOffset, count), entry.shape, 'int32');
    case 'I8':
      return tensor(
        Int32Array.from(new Int8Array(buffer, byteOffset, count)),
        entry.shape,
        'int32',
      );
    case 'U8':
      return tensor(Int32Array.from(owned), entry.shape, 'int32');
    case 'BOOL':
      // Any non-zero byte is true, as in numpy; tfjs expects exactly 0 or 1.
      for (let i = 0; i < owned.length; i++) owned[i] = owned[i] ? 1 : 0;
      return tensor(owned, entry.shape, 'bool');
    case 'I64': {
      const wide = new BigInt64Array(buffer, byteOffset, count);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = wide[i]!;
        if (v < -2147483648n || v > 2147483647n) {
          throw new TfjsBlocksError(
            fn,
            `tensor "${entry.name}"`,
            'I64 values within the int32 range (tfjs has no int64)',
            `${v} at index ${i}`,
          );
        }
        out[i] = Number(v);
      }
      return tensor(out, entry.shape, 'int32');
    }
  }
}

/**
 * What a writer needs for one tensor: its header entry and its bytes.
 *
 * @example
 * ```ts
 * const { header, parts } = planWrite(tensors, metadata, 'serializeSafetensors');
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export interface PlannedTensor {
  /** The tensor's entry, offsets included. */
  entry: SafetensorsEntry;
  /** Its little-endian bytes (a view of the tensor's data on little-endian hosts). */
  bytes: Uint8Array;
}

/**
 * Lays out a file: validates the tensors and the metadata, reads each
 * tensor's data (synchronously) and builds the 8-byte length plus the JSON
 * header, padded with spaces so the byte buffer starts 8-byte aligned.
 *
 * @example
 * ```ts
 * const { header, parts } = planWrite({ w }, { format: 'pt' }, 'serializeSafetensors');
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export function planWrite(
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> | undefined,
  fn: string,
): { header: Uint8Array; parts: PlannedTensor[]; totalBytes: number } {
  // No prototype: a tensor named `__proto__` is written as an entry like any other.
  const json = emptyRecord<unknown>();
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
      throw new TfjsBlocksError(fn, 'metadata', 'an object of strings', describeValue(metadata));
    }
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new TfjsBlocksError(fn, `metadata.${key}`, 'a string', quoteJson(value));
      }
    }
    json[METADATA_KEY] = metadata;
  }
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors)) {
    throw new TfjsBlocksError(fn, 'tensors', 'a record of tensors', describeValue(tensors));
  }
  const parts: PlannedTensor[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === METADATA_KEY) {
      throw new TfjsBlocksError(fn, 'tensors', `no tensor named "${METADATA_KEY}"`, 'one');
    }
    checkTensor(fn, `tensors["${name}"]`, t);
    const dtype = WRITE_DTYPES[t.dtype];
    if (dtype === undefined) {
      throw new TfjsBlocksError(fn, `tensors["${name}"].dtype`, 'float32, int32 or bool', t.dtype);
    }
    const bytes = tensorBytes(t, dtype);
    const entry = {
      name,
      dtype,
      shape: [...t.shape],
      begin: offset,
      end: offset + bytes.byteLength,
    };
    json[name] = { dtype, shape: entry.shape, data_offsets: [entry.begin, entry.end] };
    parts.push({ entry, bytes });
    offset = entry.end;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.byteLength / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(text, 8);
  return { header, parts, totalBytes: header.byteLength + offset };
}

function tensorBytes(t: Tensor, dtype: SafetensorsDtype): Uint8Array {
  const data = t.dataSync() as ArrayLike<number>;
  // The tensor's own storage is written as is where its type already matches (no copy).
  let source: Uint8Array | Float32Array | Int32Array;
  if (dtype === 'BOOL') source = data instanceof Uint8Array ? data : Uint8Array.from(data);
  else if (dtype === 'F32') source = data instanceof Float32Array ? data : Float32Array.from(data);
  else source = data instanceof Int32Array ? data : Int32Array.from(data);
  const bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (HOST_LITTLE_ENDIAN || dtype === 'BOOL') return bytes;
  const swapped = bytes.slice();
  toHostOrder(swapped, 4);
  return swapped;
}
