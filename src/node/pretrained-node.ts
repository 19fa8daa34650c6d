/**
 * Hugging Face model folders on Node's file system: `folderSource(dir)`, the
 * source `loadPretrained` reads a local folder through (byte ranges, no whole
 * file in memory), and `savePretrained`, which writes a folder atomically.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { TfjsBlocksError } from '../errors';
import { describeValue } from '../internal/checks';
import type { PretrainedModel } from '../pretrained/load';
import {
  type PretrainedTokenizerSource,
  planPretrained,
  SAVE_DEPENDENCIES,
  type SaveDependencies,
  type SavePretrainedOptions,
} from '../pretrained/save';
import type { PretrainedFetch, PretrainedResponse } from '../pretrained/source';
import { fileError } from './file-errors';
import { writeFolderAtomically } from './folder-write';

/** Bytes read per chunk of a response body. */
const READ_CHUNK_BYTES = 1 << 20;

function checkDirectory(fn: string, dir: unknown): string {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new TfjsBlocksError(fn, 'dir', 'a non-empty path', describeValue(dir));
  }
  return resolve(dir);
}

/** A response whose body streams `length` bytes of `handle` from `start`, closing it at the end. */
function fileResponse(
  handle: FileHandle,
  start: number,
  length: number,
  size: number,
  ranged: boolean,
): PretrainedResponse {
  let at = 0;
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await handle.close();
    }
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (at >= length) {
        await close();
        controller.close();
        return;
      }
      const chunk = new Uint8Array(Math.min(READ_CHUNK_BYTES, length - at));
      const { bytesRead } = await handle.read(chunk, 0, chunk.byteLength, start + at);
      if (bytesRead === 0) {
        // The file shrank while it was read: end the body; the reader sees it short.
        await close();
        controller.close();
        return;
      }
      at += bytesRead;
      controller.enqueue(chunk.subarray(0, bytesRead));
    },
    cancel: close,
  });
  const headers = new Map<string, string>([['content-length', String(length)]]);
  if (ranged) headers.set('content-range', `bytes ${start}-${start + length - 1}/${size}`);
  return {
    ok: true,
    status: ranged ? 206 : 200,
    statusText: ranged ? 'Partial Content' : 'OK',
    headers: { get: (name) => headers.get(name.toLowerCase()) ?? null },
    body,
    arrayBuffer: () => new Response(body).arrayBuffer(),
  };
}

const notFound = (file: string): PretrainedResponse => ({
  ok: false,
  status: 404,
  statusText: `Not Found (${file})`,
  arrayBuffer: async () => new ArrayBuffer(0),
});

/**
 * A local model folder as a source for `loadPretrained`: files are read by
 * byte range straight from disk (the header first, then each tensor's bytes
 * into the array that becomes its storage), so a model is never held twice.
 * Only plain file names in `dir` are served (no `/`, no `..`); a missing
 * file answers 404, which `loadPretrained` treats as "absent".
 *
 * @param dir - the folder (a Hugging Face download, or one `savePretrained` wrote).
 * @returns a fetch-like function over the folder.
 *
 * @example
 * ```ts
 * import { loadPretrained } from 'tfjs-blocks';
 * import { folderSource } from 'tfjs-blocks/node';
 *
 * const { config, params, tokenizer } = await loadPretrained(folderSource('models/SmolLM2-135M'));
 * ```
 */
export function folderSource(dir: string): PretrainedFetch {
  const root = checkDirectory('folderSource', dir);
  return async (file, init) => {
    if (init?.signal?.aborted) throw init.signal.reason;
    if (typeof file !== 'string' || !/^[^/\\]+$/.test(file) || file === '.' || file === '..') {
      throw new TfjsBlocksError(
        'folderSource',
        'file',
        'a file name in the folder',
        describeValue(file),
      );
    }
    let handle: FileHandle;
    try {
      handle = await open(join(root, file), 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR') return notFound(file);
      throw fileError(e, 'folderSource', file);
    }
    try {
      const info = await handle.stat();
      if (info.isDirectory()) {
        await handle.close();
        return notFound(file);
      }
      const size = info.size;
      const match = /^bytes=(\d+)-(\d+)$/.exec(init?.headers?.Range ?? '');
      if (match && Number(match[1]) < size) {
        const start = Number(match[1]);
        const end = Math.min(Number(match[2]), size - 1);
        return fileResponse(handle, start, end - start + 1, size, true);
      }
      return fileResponse(handle, 0, size, size, false);
    } catch (e) {
      await handle.close();
      throw e;
    }
  };
}

/**
 * `savePretrained` over given dependencies.
 *
 * @internal The public `savePretrained` passes the library's registry.
 */
export async function savePretrainedWith(
  fn: string,
  dir: string,
  model: PretrainedModel,
  tokenizer: PretrainedTokenizerSource | undefined,
  options: SavePretrainedOptions | undefined,
  dependencies: SaveDependencies,
): Promise<string> {
  const root = checkDirectory(fn, dir);
  // Every check runs before the disk is touched.
  const files = planPretrained(fn, model, tokenizer, options, dependencies);
  return writeFolderAtomically(fn, root, files, {
    marker: 'config.json',
    what: 'a model folder',
  });
}

/**
 * Writes a Hugging Face model folder that `transformers` opens
 * (`AutoModelForCausalLM.from_pretrained(dir)` gives the same logits,
 * `AutoTokenizer.from_pretrained(dir)` the same ids) and `loadPretrained`
 * reads back: the files of `pretrainedFiles` — `config.json`,
 * `generation_config.json` (when `model.generationConfig` is set), the
 * weights (one `model.safetensors`, or HF-named shards and
 * `model.safetensors.index.json` above `maxShardSize`) and the tokenizer
 * files.
 *
 * Atomic: everything is checked first (before the disk is touched); the
 * folder is written under a temp name beside `dir` (each file fsynced),
 * then renamed into place; a previous model folder at `dir` is moved aside
 * and removed. A crash mid-write leaves at most a `<dir>.tmp-<pid>-<hex>`
 * folder, never a half-written `dir`. `dir` must be new, empty, or a model
 * folder (one with a `config.json`), whose files are replaced whole.
 * Memory: one shard's tensors in the checkpoint layout at a time, written
 * from their own storage. The params are not disposed.
 *
 * @param dir - the folder to write.
 * @param model - `{ kind, modelType, config, params, generationConfig? }`, as `loadPretrained` returns it.
 * @param tokenizer - a tokenizer with `files()` (a `HuggingFaceTokenizer`); default none.
 * @param options - `maxShardSize`: the most tensor bytes per weight file (default `5_000_000_000`).
 * @returns the folder's absolute path.
 *
 * @example
 * ```ts
 * import { loadPretrained } from 'tfjs-blocks';
 * import { folderSource, savePretrained } from 'tfjs-blocks/node';
 *
 * const model = await loadPretrained(folderSource('models/base'));
 * // ... fine-tune model.params ...
 * await savePretrained('models/tuned', model, model.tokenizer, { maxShardSize: 500_000_000 });
 * ```
 */
export function savePretrained(
  dir: string,
  model: PretrainedModel,
  tokenizer?: PretrainedTokenizerSource,
  options?: SavePretrainedOptions,
): Promise<string> {
  return savePretrainedWith('savePretrained', dir, model, tokenizer, options, SAVE_DEPENDENCIES);
}
