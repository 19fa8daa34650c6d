// tfjs-backend-cpu greets every Node process on its first tensor with "Hi,
// looks like you are running TensorFlow.js in Node.js…" (a `console.warn`
// through tfjs-core's log.warn, silent only under its IS_TEST or PROD flags,
// which also change other behaviour). The tests drop exactly that message;
// users of the library still see it.

/** The start of tfjs-backend-cpu's Node.js banner. */
export const TFJS_NODE_BANNER = 'Hi, looks like you are running TensorFlow.js in Node.js';

const isBanner = (chunk: unknown) => String(chunk).includes(TFJS_NODE_BANNER);

const patched = new WeakSet<object>();

/**
 * Drops the banner from `console.warn` (Vitest's console in a test worker)
 * and from `process.stderr` (plain Node, and the output of worker threads,
 * which reaches the parent's stderr). Patching twice is a no-op.
 */
export function dropTfjsNodeBanner(
  out: Console = console,
  err: { write: NodeJS.WriteStream['write'] } = process.stderr,
): void {
  if (!patched.has(out)) {
    patched.add(out);
    const warn = out.warn;
    out.warn = (...args: unknown[]) => {
      if (!args.some(isBanner)) warn.apply(out, args);
    };
  }
  if (!patched.has(err)) {
    patched.add(err);
    const write = err.write as (...args: unknown[]) => boolean;
    err.write = ((chunk: unknown, ...rest: unknown[]) =>
      isBanner(chunk) || write.call(err, chunk, ...rest)) as NodeJS.WriteStream['write'];
  }
}
