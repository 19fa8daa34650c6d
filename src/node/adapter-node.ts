/**
 * PEFT adapter folders on Node's file system: `saveAdapter(dir, model,
 * adapter)` writes `adapter_config.json` and `adapter_model.safetensors`
 * atomically (read back with `loadAdapter(folderSource(dir), model)`).
 */
import { resolve } from 'node:path';
import { TfjsBlocksError } from '../errors';
import { ADAPTER_CONFIG_FILE } from '../fine-tuning/adapter-config';
import type { LoraAdapter } from '../fine-tuning/lora';
import type { LoraBase } from '../fine-tuning/lora-modules';
import { type AdapterFilesOptions, planAdapter } from '../fine-tuning/peft-adapter';
import { ADAPTER_WEIGHTS_FILE } from '../fine-tuning/peft-tensors';
import { describeValue } from '../internal/checks';
import { writeFolderAtomically } from './folder-write';

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
  return writeFolderAtomically(
    fn,
    root,
    [
      { name: ADAPTER_CONFIG_FILE, text: plan.configJson },
      { name: ADAPTER_WEIGHTS_FILE, tensors: () => plan.tensors() },
    ],
    { marker: ADAPTER_CONFIG_FILE, what: 'an adapter folder' },
  );
}
