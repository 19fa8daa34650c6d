/**
 * Crash-safe file primitives for the Node writers: write under a temp name
 * in the same directory, fsync, rename over the target, fsync the directory.
 * A process killed at any point leaves the old file or the new one, never a
 * torn one; rename is only atomic within one file system, hence the same
 * directory.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Bounded writes keep each syscall short, so a kill lands between chunks. */
const WRITE_CHUNK_BYTES = 4 << 20;

/**
 * A temp name beside `path` (`<name>.tmp-<pid>-<random>`): unique per
 * process and call, and recognisable by cleanup.
 *
 * @example
 * ```ts
 * const temp = tempPathFor('/ckpt/latest'); // '/ckpt/latest.tmp-4242-9f0c1a2b'
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export function tempPathFor(path: string): string {
  return join(
    dirname(path),
    `${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

/**
 * Writes all of `data` to `handle`, in bounded chunks.
 *
 * @example
 * ```ts
 * await writeAll(handle, header);
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.byteLength; ) {
    const end = Math.min(at + WRITE_CHUNK_BYTES, data.byteLength);
    const { bytesWritten } = await handle.write(data, at, end - at);
    at += bytesWritten;
  }
}

/**
 * Fsyncs a directory so a rename inside it survives a power loss. Some file
 * systems (and Windows) refuse; there the rename is as durable as it gets.
 *
 * @example
 * ```ts
 * await rename(temp, path);
 * await syncDirectory(dirname(path));
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(dir, 'r');
  } catch (e) {
    if (process.platform === 'win32') return;
    throw e;
  }
  try {
    await handle.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EPERM' && code !== 'EISDIR') throw e;
  } finally {
    await handle.close();
  }
}

/**
 * Writes `path` atomically: `fill` writes the content to a temp file beside
 * it, which is then fsynced, renamed over `path`, and the directory fsynced.
 * On failure the temp file is removed and `path` is untouched.
 *
 * @example
 * ```ts
 * await writeFileAtomically('/ckpt/latest', (handle) => writeAll(handle, bytes));
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export async function writeFileAtomically(
  path: string,
  fill: (handle: FileHandle) => Promise<void>,
): Promise<void> {
  const temp = tempPathFor(path);
  const handle = await open(temp, 'wx');
  try {
    try {
      await fill(handle);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  await syncDirectory(dirname(path));
}
