/**
 * A folder of files written atomically, for the writers of whole folders
 * (`savePretrained`, `saveAdapter`): every file is written under a temp
 * folder beside the target (each fsynced), then the folder is renamed into
 * place; a folder of the same kind already there is moved aside and
 * removed. A crash mid-write leaves at most a `<dir>.tmp-<pid>-<hex>`
 * folder, never a half-written one.
 */
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { dispose, type Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { planWrite } from '../interop/safetensors-format';
import { syncDirectory, tempPathFor, writeAll, writeFileAtomically } from './atomic-files';
import { fileError } from './file-errors';

/** One file of a folder: text, or tensors written as one safetensors file (made when written, then freed). */
export type FolderFile =
  | { name: string; text: string }
  | { name: string; tensors: () => Record<string, Tensor> };

/** Which existing folder may be replaced: one holding `marker` (e.g. `config.json`). */
export type ReplaceableFolder = {
  /** The file that marks a folder of this kind. */
  marker: string;
  /** The folder of this kind, for the error (`'a model folder'`). */
  what: string;
};

/** Whether `root` exists; a folder that exists must be empty or hold `kind.marker`. */
async function checkTarget(fn: string, root: string, kind: ReplaceableFolder): Promise<boolean> {
  let entries: string[];
  try {
    const info = await stat(root);
    if (!info.isDirectory()) throw new TfjsBlocksError(fn, 'dir', 'a folder', `a file at ${root}`);
    entries = await readdir(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e instanceof TfjsBlocksError ? e : fileError(e, fn, 'dir');
  }
  if (entries.length > 0 && !entries.includes(kind.marker)) {
    throw new TfjsBlocksError(
      fn,
      'dir',
      `a new or empty folder, or ${kind.what} to replace (one with a${/^[aeiou]/.test(kind.marker) ? 'n' : ''} ${kind.marker})`,
      `${root}, which holds other files`,
    );
  }
  return entries.length > 0;
}

/**
 * Writes `files` into the folder `root` (an absolute path) atomically and
 * returns `root`. Tensor files are made one at a time, written from their
 * own storage and freed, so one file's tensors are in memory at a time.
 */
export async function writeFolderAtomically(
  fn: string,
  root: string,
  files: readonly FolderFile[],
  kind: ReplaceableFolder,
): Promise<string> {
  const replace = await checkTarget(fn, root, kind);
  try {
    await mkdir(dirname(root), { recursive: true });
  } catch (e) {
    throw fileError(e, fn, 'dir');
  }
  const temp = tempPathFor(root);
  await mkdir(temp);
  try {
    for (const file of files) {
      const path = join(temp, file.name);
      if ('text' in file) {
        await writeFileAtomically(path, (h) => writeAll(h, new TextEncoder().encode(file.text)));
        continue;
      }
      const tensors = file.tensors();
      try {
        const { header, parts } = planWrite(tensors, { format: 'pt' }, fn);
        await writeFileAtomically(path, async (handle) => {
          await writeAll(handle, header);
          for (const { bytes } of parts) await writeAll(handle, bytes);
        });
      } finally {
        dispose(Object.values(tensors));
      }
    }
    await syncDirectory(temp);
    if (replace) {
      // rename() cannot replace a non-empty folder: move the old one aside first.
      const aside = tempPathFor(root);
      await rename(root, aside);
      await rename(temp, root);
      await rm(aside, { recursive: true, force: true });
    } else {
      await rename(temp, root);
    }
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e instanceof TfjsBlocksError ? e : fileError(e, fn, 'dir');
  }
  await syncDirectory(dirname(root));
  return root;
}
