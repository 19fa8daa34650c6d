/**
 * PEFT LoRA adapters in and out (browser-safe): `loadAdapter` reads an
 * adapter folder written by `peft.PeftModel.save_pretrained`
 * (`adapter_config.json` + `adapter_model.safetensors`) onto a base model,
 * `adapterFiles` gives the two files of one of ours, which
 * `PeftModel.from_pretrained(base, dir)` loads to the same logits.
 * `tfjs-blocks/node` adds `saveAdapter(dir, …)`.
 */
import { dispose, type Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, describeValue, optionKeys } from '../internal/checks';
import { parseSafetensors, serializeSafetensors } from '../interop/safetensors';
import type { PretrainedFile } from '../pretrained/save';
import {
  fetchFile,
  fetchJson,
  type PretrainedSource,
  sourceFetch,
  throwIfAborted,
} from '../pretrained/source';
import { ADAPTER_CONFIG_FILE, adapterConfigJson, readAdapterConfig } from './adapter-config';
import type { LoraAdapter } from './lora';
import { loraScale, type ResolvedLoraConfig } from './lora-config';
import { type LoraBase, loraModuleTable, resolveLoraTargets } from './lora-modules';
import {
  ADAPTER_PICKLE_FILE,
  ADAPTER_WEIGHTS_FILE,
  adapterFromPeft,
  adapterToPeft,
  familyOf,
  targetShape,
} from './peft-tensors';

/**
 * Options of {@link loadAdapter}.
 *
 * @example
 * ```ts
 * const options: LoadAdapterOptions = { signal: AbortSignal.timeout(30_000) };
 * ```
 */
export interface LoadAdapterOptions {
  /** Aborts the load: it rejects with the signal's reason and frees what it made. Default none. */
  signal?: AbortSignal;
}

const LOAD_OPTIONS = optionKeys<LoadAdapterOptions>({ signal: true });

/**
 * Reads a PEFT LoRA adapter (`PeftModel.save_pretrained`'s folder:
 * `adapter_config.json` and `adapter_model.safetensors`) onto `model`, the
 * base it was trained on: the result is a {@link LoraAdapter} for
 * `withLora(model.params, adapter)`, `mergeLora`, further training or
 * `saveAdapter`.
 *
 * Layouts: PEFT's `base_model.model.<module>.lora_A.weight` `[r, in]` is our
 * `a` `[in, r]` (transposed), `lora_B.weight` `[out, r]` our `b` `[r, out]`;
 * a fused module (GPT-2's `c_attn`) has one `lora_B` split into the q/k/v
 * parts; `modules_to_save` tensors (`base_model.model.lm_head.weight`) go
 * through the base family's tensor rules. The targets are found as PEFT
 * finds them: `target_modules` matched on the base's Hugging Face module names.
 *
 * Errors (`TfjsBlocksError`): a field of `adapter_config.json` we do not
 * implement (DoRA, rank patterns, other inits, …) naming the field; only
 * `adapter_model.bin` present (pickle; convert it to safetensors); a key
 * naming a module the base does not have or the config does not target; a
 * factor whose shape differs from the base's linear (an adapter for another
 * base); a missing factor. Nothing is left allocated when it throws.
 *
 * @param source - the adapter folder: a base URL (`https://huggingface.co/<repo>/resolve/main`),
 *   a fetch-like function, or `folderSource(dir)` from `tfjs-blocks/node`.
 * @param model - the base: a `PretrainedModel` (`loadPretrained`'s result), or a params record
 *   (then PEFT's module names are our dotted param paths).
 * @param options - `signal` (see {@link LoadAdapterOptions}).
 * @returns a new adapter; its tensors are the caller's (dispose them with `tf.dispose(loraTensors(adapter))`).
 * @example
 * ```ts
 * import { loadAdapter, loadPretrained, withLora, decoderLm } from 'tfjs-blocks';
 *
 * const base = await loadPretrained('https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main');
 * const adapter = await loadAdapter('https://example.com/my-adapter', base);
 * if (base.kind === 'decoder-lm') {
 *   const logits = decoderLm(base.config, withLora(base.params, adapter), tf.tensor2d([[1, 2, 3]], [1, 3], 'int32'));
 * }
 * ```
 */
export async function loadAdapter(
  source: PretrainedSource,
  model: LoraBase,
  options?: LoadAdapterOptions,
): Promise<LoraAdapter> {
  const fn = 'loadAdapter';
  checkOptionKeys(fn, options, LOAD_OPTIONS);
  const signal = options?.signal;
  const fetcher = sourceFetch(fn, source);
  const table = loraModuleTable(fn, model);
  const fields = readAdapterConfig(
    fn,
    await fetchJson(fn, fetcher, ADAPTER_CONFIG_FILE, { optional: false, ...withSignal(signal) }),
  );
  const config: ResolvedLoraConfig = {
    r: fields.r,
    alpha: fields.alpha,
    dropout: fields.dropout,
    targetModules: fields.targetModules,
    useRsLora: fields.useRsLora,
    modulesToSave: fields.modulesToSave ?? [],
  };
  const match = resolveTargetsOfFile(fn, table, config);
  const response = await fetchFile(fn, fetcher, ADAPTER_WEIGHTS_FILE, {
    optional: true,
    ...withSignal(signal),
  });
  if (response === undefined) {
    const pickle = await fetchFile(fn, fetcher, ADAPTER_PICKLE_FILE, {
      optional: true,
      ...withSignal(signal),
    });
    throw new TfjsBlocksError(
      fn,
      ADAPTER_WEIGHTS_FILE,
      pickle === undefined
        ? 'present in the folder'
        : 'present: adapter_model.bin is a pickle, which is not read (save with safe_serialization=True, or convert it: safetensors.torch.save_file(torch.load("adapter_model.bin"), "adapter_model.safetensors"))',
      pickle === undefined ? 'HTTP status 404 (not found)' : 'only adapter_model.bin',
    );
  }
  const bytes = await response.arrayBuffer();
  throwIfAborted(signal);
  let tensors: Record<string, Tensor>;
  try {
    ({ tensors } = parseSafetensors(bytes));
  } catch (e) {
    if (e instanceof TfjsBlocksError) {
      throw new TfjsBlocksError(fn, ADAPTER_WEIGHTS_FILE, e.expected, e.actual);
    }
    throw e;
  }
  try {
    return adapterFromPeft(fn, ADAPTER_WEIGHTS_FILE, model, table, match, config, tensors);
  } finally {
    dispose(Object.values(tensors));
  }
}

/** The targets of the file's config, errors naming the file's fields. */
function resolveTargetsOfFile(
  fn: string,
  table: ReturnType<typeof loraModuleTable>,
  config: ResolvedLoraConfig,
): ReturnType<typeof resolveLoraTargets> {
  try {
    return resolveLoraTargets(fn, table, config, 'config');
  } catch (e) {
    if (!(e instanceof TfjsBlocksError)) throw e;
    const field = {
      'config.targetModules': 'target_modules',
      'config.modulesToSave': 'modules_to_save',
    }[e.argument];
    if (field === undefined) throw e;
    throw new TfjsBlocksError(fn, `${ADAPTER_CONFIG_FILE}: ${field}`, e.expected, e.actual);
  }
}

function withSignal(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal === undefined ? {} : { signal };
}

/**
 * Options of {@link adapterFiles} and `saveAdapter`.
 *
 * @example
 * ```ts
 * const options: AdapterFilesOptions = { baseModelNameOrPath: 'HuggingFaceTB/SmolLM2-135M' };
 * ```
 */
export interface AdapterFilesOptions {
  /**
   * `base_model_name_or_path` in `adapter_config.json`: the Hub id or path
   * of the base, which `AutoPeftModelForCausalLM.from_pretrained(dir)` loads.
   * Default `null` (load the base yourself, then `PeftModel.from_pretrained(base, dir)`).
   */
  baseModelNameOrPath?: string;
  /** `task_type`. Default `'CAUSAL_LM'` for a decoder, `'SEQ_CLS'` for an encoder classifier. */
  taskType?: string;
}

const FILES_OPTIONS = optionKeys<AdapterFilesOptions>({
  baseModelNameOrPath: true,
  taskType: true,
});

/**
 * The adapter as PEFT tensors and `adapter_config.json`, checked against
 * the base. @internal Shared by `adapterFiles` and the Node `saveAdapter`.
 */
export function planAdapter(
  fn: string,
  model: LoraBase,
  adapter: LoraAdapter,
  options: AdapterFilesOptions | undefined,
): { configJson: string; tensors: () => Record<string, Tensor> } {
  checkOptionKeys(fn, options, FILES_OPTIONS);
  for (const key of ['baseModelNameOrPath', 'taskType'] as const) {
    const value = options?.[key];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
      throw new TfjsBlocksError(fn, `options.${key}`, 'a non-empty string', describeValue(value));
    }
  }
  const table = loraModuleTable(fn, model);
  const config = checkAdapterAgainst(fn, table, adapter);
  const family = familyOf(model);
  const fields = {
    ...config,
    initLoraWeights: true as const,
    taskType:
      options?.taskType ??
      ((model as { kind?: unknown }).kind === 'encoder-classifier' ? 'SEQ_CLS' : 'CAUSAL_LM'),
    ...(options?.baseModelNameOrPath === undefined
      ? {}
      : { baseModelNameOrPath: options.baseModelNameOrPath }),
  };
  const json = adapterConfigJson(fields, family?.modelTypes.includes('gpt2') ?? false);
  return {
    configJson: `${JSON.stringify(json, null, 2)}\n`,
    tensors: () => adapterToPeft(fn, model, table, adapter),
  };
}

/**
 * Throws unless `adapter` is one PEFT can store for the base of `table`:
 * its config's targets, found on the base as PEFT finds them, are exactly
 * its modules, each factor fits its linear, every module has the config's
 * rank and scale, and its saved modules are the config's.
 */
function checkAdapterAgainst(
  fn: string,
  table: ReturnType<typeof loraModuleTable>,
  adapter: LoraAdapter,
): ResolvedLoraConfig {
  if (
    adapter === null ||
    typeof adapter !== 'object' ||
    adapter.config === null ||
    typeof adapter.config !== 'object' ||
    adapter.modules === null ||
    typeof adapter.modules !== 'object' ||
    adapter.modulesToSave === null ||
    typeof adapter.modulesToSave !== 'object'
  ) {
    throw new TfjsBlocksError(
      fn,
      'adapter',
      'a LoraAdapter ({ config, modules, modulesToSave }, from initLora or loadAdapter)',
      describeValue(adapter),
    );
  }
  const config = adapter.config;
  const match = resolveLoraTargets(fn, table, config, 'adapter.config');
  const names = Object.keys(adapter.modules);
  const extra = names.filter((n) => !match.targets.includes(n));
  const missing = match.targets.filter((n) => !names.includes(n));
  if (extra.length > 0 || missing.length > 0) {
    throw new TfjsBlocksError(
      fn,
      'adapter.modules',
      `the modules adapter.config.targetModules selects on the base (PEFT finds its targets from the config)`,
      extra.length > 0
        ? `'${extra[0]}', which the config does not select`
        : `no '${missing[0]}', which the config selects`,
    );
  }
  const scale = loraScale(config);
  for (const name of names) {
    const m = adapter.modules[name]!;
    const at = `adapter.modules["${name}"]`;
    const expectedPaths = table.modules.get(name)!.linears;
    const { inFeatures, outFeatures } = targetShape(table, name);
    const fits =
      Array.isArray(m.paths) &&
      Array.isArray(m.b) &&
      m.paths.join() === expectedPaths.join() &&
      m.b.length === outFeatures.length &&
      isLive(m.a) &&
      m.a.shape.join() === `${inFeatures},${config.r}` &&
      m.b.every((b, i) => isLive(b) && b.shape.join() === `${config.r},${outFeatures[i]}`);
    if (!fits) {
      throw new TfjsBlocksError(
        fn,
        at,
        `a [${inFeatures}, ${config.r}] and ${outFeatures.map((o) => `b [${config.r}, ${o}]`).join(', ')} for ${expectedPaths.join(', ')} (r = adapter.config.r)`,
        `a ${describeShape(m?.a)}, b ${Array.isArray(m?.b) ? m.b.map(describeShape).join(', ') : describeValue(m?.b)}`,
      );
    }
    if (Math.abs(m.scale - scale) > 1e-6 * Math.abs(scale)) {
      throw new TfjsBlocksError(
        fn,
        `${at}.scale`,
        `${scale} (what adapter.config's alpha, r and useRsLora give: PEFT stores no scale)`,
        describeValue(m.scale),
      );
    }
  }
  const saved = Object.keys(adapter.modulesToSave);
  if (saved.join() !== match.modulesToSave.join()) {
    throw new TfjsBlocksError(
      fn,
      'adapter.modulesToSave',
      `the modules adapter.config.modulesToSave selects (${match.modulesToSave.join(', ') || 'none'})`,
      saved.join(', ') || 'none',
    );
  }
  for (const name of saved) {
    for (const [path, t] of Object.entries(adapter.modulesToSave[name]!)) {
      if (!isLive(t)) {
        throw new TfjsBlocksError(
          fn,
          `adapter.modulesToSave["${name}"]["${path}"]`,
          'a live tensor',
          describeValue(t),
        );
      }
    }
  }
  return config;
}

function isLive(t: unknown): t is Tensor {
  return (
    t !== null &&
    typeof t === 'object' &&
    'shape' in t &&
    'dataId' in t &&
    !(t as Tensor).isDisposed
  );
}

function describeShape(t: unknown): string {
  return isLive(t) ? `[${t.shape.join(', ')}]` : describeValue(t);
}

/**
 * The two files of a PEFT LoRA adapter folder for `adapter` (browser and
 * Node): `adapter_config.json` (`peft_type: "LORA"`, `r`, `lora_alpha`,
 * `target_modules`, `use_rslora`, `modules_to_save`, `fan_in_fan_out`
 * true for GPT-2's Conv1D, every other field at PEFT's default) and
 * `adapter_model.safetensors` (PEFT's keys and layouts: see
 * {@link loadAdapter}). `PeftModel.from_pretrained(base, dir)` loads them to
 * the same logits as `withLora(model.params, adapter)`; `loadAdapter` reads
 * them back. In Node, `saveAdapter` writes them to a folder.
 *
 * Everything is checked first: the adapter's modules must be exactly what
 * its `config.targetModules` selects on `model` (PEFT rebuilds the targets
 * from the config), each factor must fit its linear with rank `config.r`,
 * each module's `scale` must be what `config` gives. The adapter is not disposed.
 *
 * @param model - the base the adapter is for (a `PretrainedModel`, or a params record).
 * @param adapter - from `initLora` or `loadAdapter` (trained or not).
 * @param options - `baseModelNameOrPath`, `taskType` (see {@link AdapterFilesOptions}).
 * @returns `[{ name: 'adapter_config.json', bytes }, { name: 'adapter_model.safetensors', bytes }]`.
 * @example
 * ```ts
 * import { adapterFiles, gpt2Config, initDecoderLm, initLora } from 'tfjs-blocks';
 *
 * const config = gpt2Config({ vocabSize: 100, maxLength: 32, dModel: 32, numLayers: 2, numHeads: 4 });
 * const model = { kind: 'decoder-lm' as const, modelType: 'gpt2', config, params: initDecoderLm(config, 0) };
 * const adapter = initLora(model, { r: 4, alpha: 8, targetModules: ['c_attn'] }, 0);
 * const files = adapterFiles(model, adapter); // adapter_config.json, adapter_model.safetensors
 * ```
 */
export function adapterFiles(
  model: LoraBase,
  adapter: LoraAdapter,
  options?: AdapterFilesOptions,
): PretrainedFile[] {
  const fn = 'adapterFiles';
  const plan = planAdapter(fn, model, adapter, options);
  const tensors = plan.tensors();
  try {
    return [
      { name: ADAPTER_CONFIG_FILE, bytes: new TextEncoder().encode(plan.configJson) },
      { name: ADAPTER_WEIGHTS_FILE, bytes: serializeSafetensors(tensors, { format: 'pt' }) },
    ];
  } finally {
    dispose(Object.values(tensors));
  }
}
