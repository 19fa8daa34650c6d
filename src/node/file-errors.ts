import { TfjsBlocksError } from '../errors';

/** The `code` of a Node file-system error (`ENOENT`, `EISDIR`, …), if it has one. */
export function errorCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * A missing file or a directory where a file belongs, as a typed error from
 * `fn` naming `argument`; any other error unchanged. Callers rethrow what it
 * returns, so a user sees `TfjsBlocksError` instead of Node's raw `ENOENT`.
 */
export function fileError(e: unknown, fn: string, argument: string): unknown {
  const code = errorCode(e);
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new TfjsBlocksError(fn, argument, 'an existing file', 'missing');
  }
  if (code === 'EISDIR') return new TfjsBlocksError(fn, argument, 'a file', 'a directory');
  return e;
}
