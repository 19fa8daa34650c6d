/**
 * Where a pretrained folder's files come from: a base URL or a fetch-like
 * function, and the byte-exact reading of one file's response body.
 * Browser-safe; `tfjs-blocks/node` adds `folderSource(dir)` over `node:fs`.
 */
import { TfjsBlocksError } from '../errors';
import { describeValue, parseJson } from '../internal/checks';

/**
 * What {@link PretrainedFetch} resolves to: the part of a `fetch` `Response`
 * the loader uses (a real `Response` is one).
 *
 * @example
 * ```ts
 * const response: PretrainedResponse = new Response('{}', { status: 200 });
 * ```
 */
export interface PretrainedResponse {
  /** Whether the status is 2xx. */
  readonly ok: boolean;
  /** The HTTP status: 404 means the file is absent. */
  readonly status: number;
  /** The status text, for messages. */
  readonly statusText?: string;
  /** `Content-Length` and `Content-Range` are read when present. */
  readonly headers?: {
    /** The header's value, or `null` when the response has none. */
    get(name: string): string | null;
  };
  /** The body as a stream; when absent, `arrayBuffer()` is read instead. */
  readonly body?: ReadableStream<Uint8Array> | null;
  /** The whole body. */
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * A fetch-like function over one model folder: `file` is a name in the
 * folder (`config.json`, `model-00001-of-00002.safetensors`). `init.headers`
 * may hold a `Range` (`bytes=0-65535`) that the source may honour (status
 * 206) or ignore (status 200, whole file); `init.signal` aborts the request.
 * A missing file answers status 404.
 *
 * @example
 * ```ts
 * const source: PretrainedFetch = (file, init) =>
 *   fetch(`https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main/${file}`, init);
 * ```
 */
export type PretrainedFetch = (
  file: string,
  init?: { headers?: Record<string, string>; signal?: AbortSignal },
) => Promise<PretrainedResponse>;

/**
 * A model folder: a base URL (`https://…/resolve/main/`, a trailing `/` is
 * added when missing) fetched with the global `fetch`, or a
 * {@link PretrainedFetch}. In Node, `folderSource(dir)` from
 * `tfjs-blocks/node` reads a local folder.
 *
 * @example
 * ```ts
 * const source: PretrainedSource = 'https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main';
 * ```
 */
export type PretrainedSource = string | PretrainedFetch;

/** The source as a fetch-like function. */
export function sourceFetch(fn: string, source: unknown): PretrainedFetch {
  if (typeof source === 'function') return source as PretrainedFetch;
  if (typeof source !== 'string' || source.length === 0) {
    throw new TfjsBlocksError(
      fn,
      'source',
      'a base URL or a fetch-like function (folderSource(dir) in tfjs-blocks/node)',
      describeValue(source),
    );
  }
  const base = source.endsWith('/') ? source : `${source}/`;
  return (file, init) => {
    if (typeof fetch !== 'function') {
      throw new TfjsBlocksError(fn, 'source', 'a fetch-like function (no global fetch here)', base);
    }
    return fetch(`${base}${file}`, init);
  };
}

/** Throws the signal's reason when it is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

/**
 * Fetches `file`: its response, `undefined` when it is absent (404) and
 * `optional`, else a `TfjsBlocksError` naming the file and the status.
 */
export async function fetchFile(
  fn: string,
  fetcher: PretrainedFetch,
  file: string,
  options: { optional?: boolean; missing?: string; signal?: AbortSignal; range?: string },
): Promise<PretrainedResponse | undefined> {
  throwIfAborted(options.signal);
  const init: { headers?: Record<string, string>; signal?: AbortSignal } = {};
  if (options.range !== undefined) init.headers = { Range: options.range };
  if (options.signal !== undefined) init.signal = options.signal;
  const response = await fetcher(file, init);
  throwIfAborted(options.signal);
  if (response === null || typeof response !== 'object' || typeof response.status !== 'number') {
    throw new TfjsBlocksError(fn, file, 'a fetch Response', describeValue(response));
  }
  if (response.status === 404 && options.optional) return undefined;
  if (!response.ok) {
    const status = `HTTP status ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
    throw new TfjsBlocksError(
      fn,
      file,
      response.status === 404
        ? (options.missing ?? 'present in the folder')
        : 'a successful response',
      response.status === 404 ? `${status} (not found)` : status,
    );
  }
  return response;
}

/**
 * The JSON of `file`, `undefined` when optional and absent; malformed JSON is
 * a `TfjsBlocksError` naming the file.
 */
export async function fetchJson(
  fn: string,
  fetcher: PretrainedFetch,
  file: string,
  options: { optional?: boolean; signal?: AbortSignal },
): Promise<unknown> {
  const text = await fetchText(fn, fetcher, file, options);
  return text === undefined ? undefined : parseJson(fn, file, text);
}

/** The UTF-8 text of `file`, `undefined` when optional and absent. */
export async function fetchText(
  fn: string,
  fetcher: PretrainedFetch,
  file: string,
  options: { optional?: boolean; signal?: AbortSignal },
): Promise<string | undefined> {
  const response = await fetchFile(fn, fetcher, file, options);
  if (response === undefined) return undefined;
  const bytes = await response.arrayBuffer();
  throwIfAborted(options.signal);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new TfjsBlocksError(
      fn,
      file,
      'UTF-8 text',
      `${bytes.byteLength} bytes that are not UTF-8`,
    );
  }
}

/** A whole number from a response header, or `undefined`. */
export function headerNumber(response: PretrainedResponse, name: string): number | undefined {
  const value = response.headers?.get(name);
  if (value === null || value === undefined) return undefined;
  const n = Number(value.trim());
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** The file's whole size from a 206 response's `Content-Range: bytes a-b/size`. */
export function rangeTotal(response: PretrainedResponse): number | undefined {
  const match = /\/(\d+)\s*$/.exec(response.headers?.get('Content-Range') ?? '');
  return match ? Number(match[1]) : undefined;
}

/**
 * Reads a response body in exact byte counts, chunk by chunk, so each
 * tensor's bytes go straight into the array that becomes its storage and
 * are dropped after: the file is never held whole.
 */
export class BodyReader {
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  private whole: Promise<ArrayBuffer> | undefined;
  private chunk: Uint8Array = new Uint8Array(0);
  private ended = false;
  /** Bytes handed out so far. */
  position = 0;

  constructor(
    response: PretrainedResponse,
    private readonly signal?: AbortSignal,
  ) {
    if (response.body) this.reader = response.body.getReader();
    else this.whole = response.arrayBuffer();
  }

  private async nextChunk(): Promise<boolean> {
    throwIfAborted(this.signal);
    if (this.whole !== undefined) {
      this.chunk = new Uint8Array(await this.whole);
      this.whole = undefined;
      this.ended = true;
      return this.chunk.byteLength > 0;
    }
    if (this.ended || this.reader === undefined) return false;
    const { done, value } = await this.reader.read();
    throwIfAborted(this.signal);
    if (done) {
      this.ended = true;
      return false;
    }
    this.chunk = value;
    return true;
  }

  /**
   * Fills `target` (or skips `target` bytes when it is a number) and returns
   * how many bytes came: fewer only at the end of the body.
   */
  async read(target: Uint8Array | number): Promise<number> {
    const want = typeof target === 'number' ? target : target.byteLength;
    let got = 0;
    while (got < want) {
      if (this.chunk.byteLength === 0 && !(await this.nextChunk())) break;
      const take = Math.min(want - got, this.chunk.byteLength);
      if (typeof target !== 'number') target.set(this.chunk.subarray(0, take), got);
      this.chunk = this.chunk.subarray(take);
      got += take;
    }
    this.position += got;
    return got;
  }

  /** Whether the body holds more bytes. */
  async hasMore(): Promise<boolean> {
    return this.chunk.byteLength > 0 || (await this.nextChunk());
  }

  /** Stops the download (the rest of the body is not read). */
  async cancel(): Promise<void> {
    this.chunk = new Uint8Array(0);
    this.whole = undefined;
    if (this.reader !== undefined && !this.ended) {
      this.ended = true;
      await this.reader.cancel().catch(() => undefined);
    }
  }
}
