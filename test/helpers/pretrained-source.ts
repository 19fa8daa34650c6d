import type { PretrainedFetch } from '../../src/pretrained/source';

/** How the in-memory folder answers: as a server that honours Range, or one that ignores it. */
export type MemorySourceOptions = {
  /** Answer ranged requests with 206 (default true). */
  ranges?: boolean;
  /** Send a Content-Length header (default true). */
  contentLength?: boolean;
  /** Cut this file's body to this many bytes (a truncated download), keeping the true Content-Length. */
  truncate?: Record<string, number>;
  /** Answer these files with this status. */
  status?: Record<string, number>;
  /** Body chunk size (default 7, to cross every boundary). */
  chunk?: number;
};

/** Every request made, for tests of what was read. */
export type MemorySource = PretrainedFetch & { requests: { file: string; range?: string }[] };

/** A model folder in memory, served as a fetch-like function with streamed bodies. */
export function memorySource(
  files: Record<string, Uint8Array | string | object>,
  options: MemorySourceOptions = {},
): MemorySource {
  const { ranges = true, contentLength = true, truncate = {}, status = {}, chunk = 7 } = options;
  const requests: { file: string; range?: string }[] = [];
  const source = (async (file, init) => {
    const range = init?.headers?.Range;
    requests.push(range === undefined ? { file } : { file, range });
    if (status[file] !== undefined) return new Response('error', { status: status[file] });
    const content = files[file];
    if (content === undefined) return new Response('not found', { status: 404 });
    let bytes =
      content instanceof Uint8Array
        ? content
        : new TextEncoder().encode(typeof content === 'string' ? content : JSON.stringify(content));
    const size = bytes.byteLength;
    const headers = new Headers();
    let code = 200;
    const match = range === undefined ? null : /^bytes=(\d+)-(\d+)$/.exec(range);
    if (ranges && match) {
      const end = Math.min(Number(match[2]), size - 1);
      bytes = bytes.subarray(Number(match[1]), end + 1);
      headers.set('Content-Range', `bytes ${match[1]}-${end}/${size}`);
      code = 206;
    }
    if (contentLength) headers.set('Content-Length', String(bytes.byteLength));
    if (truncate[file] !== undefined) bytes = bytes.subarray(0, truncate[file]);
    const body = bytes;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < body.byteLength; at += chunk) {
          controller.enqueue(body.slice(at, at + chunk));
        }
        controller.close();
      },
    });
    return new Response(stream, { status: code, headers });
  }) as PretrainedFetch as MemorySource;
  source.requests = requests;
  return source;
}
