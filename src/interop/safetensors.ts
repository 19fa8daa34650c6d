/**
 * safetensors in memory: parse a file's bytes into tfjs tensors and
 * serialize tensors into a file's bytes. Environment-neutral (browsers,
 * workers, Node); `tfjs-blocks/node` adds file readers that never hold the
 * file twice.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { dispose } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkInteger, checkOptionKeys, describeValue, optionKeys } from '../internal/checks';
import { emptyRecord } from '../internal/records';
import {
  DEFAULT_MAX_TENSORS,
  decodeTensor,
  parseHeader,
  planWrite,
  readHeaderLength,
} from './safetensors-format';

/**
 * What {@link parseSafetensors} returns.
 *
 * @example
 * ```ts
 * const { tensors, metadata }: SafetensorsContents = parseSafetensors(bytes);
 * ```
 */
export interface SafetensorsContents {
  /**
   * Every tensor by name, new (the caller disposes them). A record with no
   * prototype: a tensor may be named `__proto__`, `constructor` or
   * `toString`, as Python writes them, and nothing else is inherited.
   */
  tensors: Record<string, Tensor>;
  /** The `__metadata__` strings (empty when absent; no prototype either). */
  metadata: Record<string, string>;
}

/**
 * Options of the safetensors readers ({@link parseSafetensors},
 * {@link loadSafetensorsFromResponse}, and `readSafetensorsFile` in
 * `tfjs-blocks/node`).
 *
 * @example
 * ```ts
 * const { tensors } = parseSafetensors(bytes, { maxTensors: 500_000 });
 * ```
 */
export interface SafetensorsReadOptions {
  /**
   * The most tensors a file may hold; a header with more is rejected before
   * any tensor is made (each costs about 1.4 KB of bookkeeping even when
   * empty). Default `100000`: Hugging Face shards hold up to ~10,000 tensors
   * and a whole DeepSeek-V3 in one file about 91,000.
   */
  maxTensors?: number;
}

const READ_OPTIONS = optionKeys<SafetensorsReadOptions>({ maxTensors: true });

/**
 * Checks a reader's options and returns its tensor limit.
 *
 * @internal Shared by the safetensors readers; not exported from the package.
 */
export function readLimit(fn: string, options: SafetensorsReadOptions | undefined): number {
  checkOptionKeys(fn, options, READ_OPTIONS);
  const max = options?.maxTensors;
  return max === undefined ? DEFAULT_MAX_TENSORS : checkInteger(fn, 'options.maxTensors', max, 0);
}

/**
 * Reads a safetensors file's bytes into tfjs tensors.
 *
 * dtypes: F32 and I32 as is; F16 and BF16 widened exactly to float32
 * (subnormals, ±0, ±inf, NaN kept); I8 and U8 as int32; I64 as int32 when
 * every value fits (else an error); BOOL as bool. The header is validated
 * (length, JSON, dtypes, shapes, offsets that tile the buffer exactly) before
 * any tensor is made, and errors name the tensor at fault.
 *
 * @param buffer - the whole file.
 * @param options - `maxTensors` (default 100,000), see {@link SafetensorsReadOptions}.
 * @returns new tensors (the caller disposes them) and the metadata.
 * @throws TfjsBlocksError on a truncated or malformed file, or one with more than `maxTensors` tensors.
 *
 * @example
 * ```ts
 * import { parseSafetensors } from 'tfjs-blocks';
 *
 * const { tensors, metadata } = parseSafetensors(await (await fetch(url)).arrayBuffer());
 * console.log(tensors['lm_head.weight'].shape, metadata.format);
 * ```
 */
export function parseSafetensors(
  buffer: ArrayBuffer | Uint8Array,
  options?: SafetensorsReadOptions,
): SafetensorsContents {
  return parseWith('parseSafetensors', buffer, readLimit('parseSafetensors', options));
}

function parseWith(
  fn: string,
  buffer: ArrayBuffer | Uint8Array,
  maxTensors: number,
): SafetensorsContents {
  if (!(buffer instanceof ArrayBuffer) && !(buffer instanceof Uint8Array)) {
    throw new TfjsBlocksError(
      fn,
      'buffer',
      'an ArrayBuffer or a Uint8Array',
      describeValue(buffer),
    );
  }
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  const n = readHeaderLength(bytes, bytes.byteLength, fn);
  const start = 8 + n;
  const { entries, metadata } = parseHeader(
    bytes.subarray(8, start),
    bytes.byteLength - start,
    fn,
    maxTensors,
  );
  // No prototype: a tensor named `__proto__` is stored as an entry, not as the prototype.
  const tensors = emptyRecord<Tensor>();
  try {
    for (const entry of entries) {
      // A copy per tensor: the tensor must not keep the whole file alive.
      tensors[entry.name] = decodeTensor(
        entry,
        bytes.slice(start + entry.begin, start + entry.end),
        fn,
      );
    }
  } catch (e) {
    dispose(Object.values(tensors));
    throw e;
  }
  return { tensors, metadata };
}

/**
 * Writes tensors into the bytes of a safetensors file: float32 as F32,
 * int32 as I32, bool as BOOL, in the order of `tensors`, with the header
 * padded to 8 bytes so every tensor starts aligned. Reads tensor data
 * synchronously (`dataSync`); does not dispose the tensors.
 *
 * @param tensors - the tensors by name (any name but `__metadata__`).
 * @param metadata - strings stored under `__metadata__` (e.g. `{format: 'pt'}`).
 * @returns the file's bytes.
 * @throws TfjsBlocksError for other dtypes or non-string metadata.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import { serializeSafetensors } from 'tfjs-blocks';
 *
 * const bytes = serializeSafetensors({ 'proj.weight': tf.ones([4, 2]) }, { format: 'pt' });
 * ```
 */
export function serializeSafetensors(
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const { header, parts, totalBytes } = planWrite(tensors, metadata, 'serializeSafetensors');
  const out = new Uint8Array(totalBytes);
  out.set(header, 0);
  for (const { entry, bytes } of parts) out.set(bytes, header.byteLength + entry.begin);
  return out;
}

/**
 * Reads a safetensors file from a `fetch` response (browsers, workers,
 * Node 20's `fetch`), with the same dtypes and checks as
 * {@link parseSafetensors}.
 *
 * @param response - a response whose body is the whole file.
 * @param options - `maxTensors` (default 100,000), see {@link SafetensorsReadOptions}.
 * @returns new tensors (the caller disposes them) and the metadata.
 * @throws TfjsBlocksError when the response is not OK or the file is malformed.
 *
 * @example
 * ```ts
 * import { loadSafetensorsFromResponse } from 'tfjs-blocks';
 *
 * const url = 'https://huggingface.co/gpt2/resolve/main/model.safetensors';
 * const { tensors } = await loadSafetensorsFromResponse(await fetch(url));
 * ```
 */
export async function loadSafetensorsFromResponse(
  response: Response,
  options?: SafetensorsReadOptions,
): Promise<SafetensorsContents> {
  const fn = 'loadSafetensorsFromResponse';
  const maxTensors = readLimit(fn, options);
  if (!response || typeof response.arrayBuffer !== 'function') {
    throw new TfjsBlocksError(fn, 'response', 'a fetch Response', describeValue(response));
  }
  if (!response.ok) {
    throw new TfjsBlocksError(
      fn,
      'response',
      'a successful response',
      `status ${response.status} ${response.statusText} from ${response.url || 'an unknown URL'}`,
    );
  }
  return parseWith(fn, await response.arrayBuffer(), maxTensors);
}
