/**
 * PEFT adapter folders on Node's file system: `saveAdapter(dir, model,
 * adapter)` writes `adapter_config.json` and `adapter_model.safetensors`
 * atomically (read back with `loadAdapter(folderSource(dir), model)`).
 */
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { dispose } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { ADAPTER_CONFIG_FILE } from '../fine-tuning/adapter-config';
import type { LoraAdapter } from '../fine-tuning/lora';
import type { LoraBase } from '../fine-tuning/lora-modules';
import { type AdapterFilesOptions, planAdapter } from '../fine-tuning/peft-adapter';
import { ADAPTER_WEIGHTS_FILE } from '../fine-tuning/peft-tensors';
import { describeValue } from '../internal/checks';
import { planWrite } from '../interop/safetensors-format';
import { syncDirectory, tempPathFor, writeAll, writeFileAtomically } from './atomic-files';
import { fileError } from './file-errors';

/** Whether `root` exists; a folder that exists must be empty or an adapter folder. */
async function checkTarget(fn: string, root: string): Promise<boolean> {
  let entries: string[];
  try {
    const info = await stat(root);
    if (!info.isDirectory()) throw new TfjsBlocksError(fn, 'dir', 'a folder', `a file at ${root}`);
    entries = await readdir(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e instanceof TfjsBlocksError ? e : fileError(e, fn, 'dir');
  }
  if (entries.length > 0 && !entries.includes(ADAPTER_CONFIG_FILE)) {
    throw new TfjsBlocksError(
      fn,
      'dir',
      'a new or empty folder, or an adapter folder to replace (one with an adapter_config.json)',
      `${root}, which holds other files`,
    );
  }
  return entries.length > 0;
}

/**
 * Writes a PEFT LoRA adapter folder: the files of `adapterFiles`
 * (`adapter_config.json`, `adapter_model.safetensors` with PEFT's key
 * names and layouts), which Python's `PeftModel.from_pretrained(base, dir)`
 * loads to the same logits and `loadAdapter(folderSource(dir), model)`
 * reads back.
 *
 * Atomic, as `savePretrained`: everything is checked first (the adapter
 * against `model`), the folder is written under a temp name beside `dir`
 * (each file fsynced) and renamed into place; an earlier adapter folder at
 * `dir` is moved aside and removed. `dir` must be new, empty, or an adapter
 * folder (one with an `adapter_config.json`). The adapter is not disposed.
 *
 * @param dir - the folder to write.
 * @param model - the base the adapter is for (a `PretrainedModel`, or a params record).
 * @param adapter - from `initLora` or `loadAdapter`.
 * @param options - `baseModelNameOrPath`, `taskType` (see `AdapterFilesOptions`).
 * @returns the folder's absolute path.
 * @example
 * ```ts
 * import { initLora, loadPretrained } from 'tfjs-blocks';
 * import { folderSource, saveAdapter } from 'tfjs-blocks/node';
 *
 * const model = await loadPretrained(folderSource('models/base'));
 * const adapter = initLora(model, { r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'] }, 0);
 * // ... train the adapter ...
 * await saveAdapter('models/my-adapter', model, adapter, { baseModelNameOrPath: 'models/base' });
 * ```
 */
export async function saveAdapter(
  dir: string,
  model: LoraBase,
  adapter: LoraAdapter,
  options?: AdapterFilesOptions,
): Promise<string> {
  const fn = 'saveAdapter';
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new TfjsBlocksError(fn, 'dir', 'a non-empty path', describeValue(dir));
  }
  const root = resolve(dir);
  // Every check runs before the disk is touched.
  const plan = planAdapter(fn, model, adapter, options);
  const replace = await checkTarget(fn, root);
  try {
    await mkdir(dirname(root), { recursive: true });
  } catch (e) {
    throw fileError(e, fn, 'dir');
  }
  const temp = tempPathFor(root);
  await mkdir(temp);
  try {
    await writeFileAtomically(join(temp, ADAPTER_CONFIG_FILE), (h) =>
      writeAll(h, new TextEncoder().encode(plan.configJson)),
    );
    const tensors = plan.tensors();
    try {
      const { header, parts } = planWrite(tensors, { format: 'pt' }, fn);
      await writeFileAtomically(join(temp, ADAPTER_WEIGHTS_FILE), async (handle) => {
        await writeAll(handle, header);
        for (const { bytes } of parts) await writeAll(handle, bytes);
      });
    } finally {
      dispose(Object.values(tensors));
    }
    await syncDirectory(temp);
    if (replace) {
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
