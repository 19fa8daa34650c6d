/**
 * safetensors files on Node: a reader that reads each tensor's bytes
 * straight into the array its tensor keeps (the file is never held in memory
 * twice), and a writer that replaces the file atomically.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { dispose, type Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { describeValue } from '../internal/checks';
import { emptyRecord } from '../internal/records';
import {
  readLimit,
  type SafetensorsContents,
  type SafetensorsReadOptions,
} from '../interop/safetensors';
import {
  decodeTensor,
  parseHeader,
  planWrite,
  readHeaderLength,
} from '../interop/safetensors-format';
import { writeAll, writeFileAtomically } from './atomic-files';
import { fileError } from './file-errors';

async function readExactly(
  handle: FileHandle,
  into: Uint8Array,
  position: number,
  fn: string,
): Promise<void> {
  for (let at = 0; at < into.byteLength; ) {
    const { bytesRead } = await handle.read(into, at, into.byteLength - at, position + at);
    if (bytesRead === 0) {
      throw new TfjsBlocksError(
        fn,
        'file',
        `${into.byteLength} bytes at ${position}`,
        `end of file after ${at}`,
      );
    }
    at += bytesRead;
  }
}

/**
 * Reads a safetensors file into tfjs tensors, with the dtypes and checks of
 * `parseSafetensors`. Peak memory is the tensors plus one tensor's bytes:
 * the header is read first, then each tensor's bytes are read directly into
 * the typed array that becomes its storage (F16/BF16/I8/U8/I64 need one
 * conversion of that tensor alone).
 *
 * @param path - the file.
 * @param options - `maxTensors` (default 100,000), as `parseSafetensors`'s.
 * @returns new tensors (the caller disposes them, in a record with no
 *   prototype, so any tensor name is safe) and the metadata.
 * @throws TfjsBlocksError on a truncated or malformed file, or one with more than `maxTensors` tensors.
 *
 * @example
 * ```ts
 * import { readSafetensorsFile } from 'tfjs-blocks/node';
 *
 * const { tensors, metadata } = await readSafetensorsFile('model.safetensors');
 * ```
 */
export async function readSafetensorsFile(
  path: string,
  options?: SafetensorsReadOptions,
): Promise<SafetensorsContents> {
  const fn = 'readSafetensorsFile';
  if (typeof path !== 'string' || path.length === 0) {
    throw new TfjsBlocksError(fn, 'path', 'a non-empty string', describeValue(path));
  }
  const maxTensors = readLimit(fn, options);
  const handle = await open(resolve(path), 'r').catch((e: unknown) => {
    throw fileError(e, fn, 'path');
  });
  const tensors = emptyRecord<Tensor>();
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw new TfjsBlocksError(fn, 'path', 'a file', 'a directory');
    const fileBytes = info.size;
    const prefix = new Uint8Array(8);
    if (fileBytes >= 8) await readExactly(handle, prefix, 0, fn);
    const n = readHeaderLength(prefix, fileBytes, fn);
    const json = new Uint8Array(n);
    await readExactly(handle, json, 8, fn);
    const start = 8 + n;
    const { entries, metadata } = parseHeader(json, fileBytes - start, fn, maxTensors);
    for (const entry of entries) {
      // A fresh ArrayBuffer is 8-byte aligned, so decodeTensor views it without a copy.
      const bytes = new Uint8Array(entry.end - entry.begin);
      await readExactly(handle, bytes, start + entry.begin, fn);
      tensors[entry.name] = decodeTensor(entry, bytes, fn);
    }
    return { tensors, metadata };
  } catch (e) {
    dispose(Object.values(tensors));
    throw e;
  } finally {
    await handle.close();
  }
}

/**
 * Writes tensors to a safetensors file (float32 as F32, int32 as I32, bool
 * as BOOL), atomically: the file is written under a temp name in the same
 * directory, fsynced, renamed over `path`, and the directory fsynced, so a
 * crash leaves the previous file or the new one. Writes each tensor's data
 * from its own storage, without assembling the file in memory. Does not
 * dispose the tensors.
 *
 * @param path - the file; its directory must exist.
 * @param tensors - the tensors by name.
 * @param metadata - strings stored under `__metadata__` (e.g. `{format: 'pt'}`).
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import { writeSafetensorsFile } from 'tfjs-blocks/node';
 *
 * await writeSafetensorsFile('weights.safetensors', { 'fc.weight': tf.ones([2, 3]) }, { format: 'pt' });
 * ```
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const fn = 'writeSafetensorsFile';
  if (typeof path !== 'string' || path.length === 0) {
    throw new TfjsBlocksError(fn, 'path', 'a non-empty string', describeValue(path));
  }
  const { header, parts } = planWrite(tensors, metadata, fn);
  await writeFileAtomically(resolve(path), async (handle) => {
    await writeAll(handle, header);
    for (const { bytes } of parts) await writeAll(handle, bytes);
  });
}
