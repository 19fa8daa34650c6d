/**
 * Crash-safe file primitives for the Node writers: write under a temp name
 * in the same directory, fsync, rename over the target, fsync the directory.
 * A process killed at any point leaves the old file or the new one, never a
 * torn one; rename is only atomic within one file system, hence the same
 * directory.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { TfjsBlocksError } from '../errors';

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

/** The names {@link tempPathFor} makes: `<name>.tmp-<pid>-<8 hex>`. */
const TEMP_NAME = /\.tmp-(\d+)-[0-9a-f]{8}$/;

/**
 * The pid of the process that made the temp name `name` (see
 * {@link tempPathFor}), or `undefined` when `name` is not a temp name.
 *
 * @example
 * ```ts
 * tempOwner('step-3.tmp-4242-9f0c1a2b'); // 4242
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export function tempOwner(name: string): number | undefined {
  const match = TEMP_NAME.exec(name);
  return match ? Number(match[1]) : undefined;
}

/**
 * Whether process `pid` runs on this host. Only a definite "no such
 * process" (ESRCH) counts as gone: a process of another user (EPERM) is alive.
 *
 * @example
 * ```ts
 * if (!processIsAlive(owner)) await rm(leftover, { recursive: true, force: true });
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export function processIsAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes the directory tree at `path` without ever leaving a partial tree
 * under its name: it is renamed to a temp name first (one atomic step), then
 * deleted. A kill during the delete leaves a temp entry, which readers ignore
 * and clean-up removes, never a half-deleted `path`. Missing `path` is fine.
 *
 * @example
 * ```ts
 * await removeTree('/ckpt/step-100');
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export async function removeTree(path: string): Promise<void> {
  const aside = await moveAside(path);
  if (aside !== undefined) await rm(aside, { recursive: true, force: true });
}

/**
 * Renames `path` to a fresh temp name beside it (one atomic step) and
 * returns that name; `undefined` when `path` does not exist.
 */
async function moveAside(path: string): Promise<string | undefined> {
  const aside = tempPathFor(path);
  try {
    await rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return aside;
}

/** Who holds a directory lock; what the lock file holds, as JSON. */
export interface LockOwner {
  pid: number;
  host: string;
  /** When the lock was taken (ISO 8601). */
  started: string;
  /** Random per lock: release and takeover check it so they never remove another owner's lock. */
  token: string;
}

/** The name of the lock file {@link lockDirectory} creates in the directory. */
export const LOCK_FILE = 'lock';

/** How often, and how long apart, an unreadable lock file is re-read (its owner may be writing it). */
const LOCK_READ_TRIES = 10;
const LOCK_READ_WAIT_MS = 50;

function isLockOwner(x: unknown): x is LockOwner {
  if (x === null || typeof x !== 'object') return false;
  const o = x as Record<string, unknown>;
  return (
    Number.isSafeInteger(o.pid) &&
    typeof o.host === 'string' &&
    typeof o.started === 'string' &&
    typeof o.token === 'string'
  );
}

/** The lock file's owner; `'gone'` when there is no lock file, `'unreadable'` when it never parses. */
async function readLockOwner(path: string): Promise<LockOwner | 'gone' | 'unreadable'> {
  for (let attempt = 0; ; attempt++) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
      if ((e as NodeJS.ErrnoException).code === 'EISDIR') return 'unreadable';
      throw e;
    }
    try {
      const owner: unknown = JSON.parse(text);
      if (isLockOwner(owner)) return owner;
    } catch {
      // Torn or empty: its owner may be between open and write; read again.
    }
    if (attempt + 1 >= LOCK_READ_TRIES) return 'unreadable';
    await new Promise((wait) => setTimeout(wait, LOCK_READ_WAIT_MS));
  }
}

/** Creates the lock file holding `owner`; false when one exists already. */
async function createLockFile(path: string, owner: LockOwner): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await writeAll(handle, new TextEncoder().encode(`${JSON.stringify(owner)}\n`));
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/**
 * Removes the stale lock of `stale` (a dead owner). The lock is renamed aside
 * first and checked: if another writer replaced it in the meantime, it is put
 * back, so a live owner's lock is never removed.
 */
async function takeOverStaleLock(path: string, stale: LockOwner): Promise<void> {
  const aside = await moveAside(path);
  if (aside === undefined) return;
  const moved = await readLockOwner(aside);
  if (moved !== 'gone' && (moved === 'unreadable' || moved.token !== stale.token)) {
    await createLockFile(path, moved === 'unreadable' ? stale : moved);
  }
  await rm(aside, { force: true });
}

/**
 * Takes the writer lock of `dir`: a file `dir/lock` holding `{pid, host,
 * started, token}`, created atomically (`open` with `wx`). A lock whose owner
 * is gone (same host, pid no longer running) is stale and taken over. A live
 * owner, one on another host, or an unreadable lock file gives a
 * `TfjsBlocksError` from `fn` (argument `directory`) naming the directory
 * and the owner. Resolves to the release function, which removes the lock
 * only while it is still this lock.
 *
 * @example
 * ```ts
 * const release = await lockDirectory('/ckpt', 'saveCheckpoint');
 * try {
 *   // write
 * } finally {
 *   await release();
 * }
 * ```
 *
 * @internal Shared by the interop modules; not exported from the package.
 */
export async function lockDirectory(dir: string, fn: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
  const expected = 'a directory no other live process is writing to';
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createLockFile(path, me)) {
      return async () => {
        const owner = await readLockOwner(path);
        if (owner !== 'gone' && owner !== 'unreadable' && owner.token === me.token) {
          await rm(path, { force: true });
        }
      };
    }
    const owner = await readLockOwner(path);
    if (owner === 'gone') continue;
    if (owner === 'unreadable') {
      throw new TfjsBlocksError(
        fn,
        'directory',
        expected,
        `${dir}, whose lock file ${path} is unreadable (delete it if no save is running)`,
      );
    }
    if (owner.host === me.host && !processIsAlive(owner.pid)) {
      await takeOverStaleLock(path, owner);
      continue;
    }
    const who = owner.pid === process.pid && owner.host === me.host ? ' (this process)' : '';
    const where = owner.host === me.host ? '' : ` (delete ${path} if that process is gone)`;
    throw new TfjsBlocksError(
      fn,
      'directory',
      expected,
      `${dir}, locked by pid ${owner.pid}${who} on host ${owner.host} since ${owner.started}${where}`,
    );
  }
  throw new TfjsBlocksError(fn, 'directory', expected, `${dir}, whose lock keeps changing hands`);
}
