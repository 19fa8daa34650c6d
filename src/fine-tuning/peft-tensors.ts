/**
 * PEFT's `adapter_model.safetensors` key names and layouts ↔ the LoRA
 * factors and saved modules of one model. Not public: `loadAdapter`,
 * `adapterFiles` and `saveAdapter` go through it.
 *
 * | PEFT key | PEFT layout | ours |
 * |---|---|---|
 * | `base_model.model.<module>.lora_A.weight` | `[r, in]` | `a` `[in, r]` (its transpose), shared by a fused module's linears |
 * | `base_model.model.<module>.lora_B.weight` | `[out, r]` | `b` `[r, out]` (its transpose); a fused module's `out` is its linears' widths side by side |
 * | `base_model.model.<module>.<tensor>` (`modules_to_save`) | the checkpoint's | the params the family's rule for `<module>.<tensor>` fills |
 */
import {
  clone,
  concat,
  split,
  type Tensor,
  type Tensor2D,
  tidy,
  transpose,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { formatShape } from '../internal/checks';
import { emptyRecord, ownEntry } from '../internal/records';
import type { TensorRule } from '../pretrained/families/family';
import { PRETRAINED_FAMILIES } from '../pretrained/families/registry';
import { getParamPath } from '../pretrained/families/rules';
import type { TensorMap } from '../tree/types';
import { isTensor } from '../tree/walk';
import type { LoraAdapter, LoraModule } from './lora';
import { loraScale, type ResolvedLoraConfig } from './lora-config';
import type { LoraModuleTable } from './lora-modules';

/** The prefix PEFT puts before every module name (`PeftModel.base_model.model`). */
export const PEFT_PREFIX = 'base_model.model.';

/** The weights file `PeftModel.save_pretrained` writes (safe serialization). */
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

/** The pickle file older PEFT and `safe_serialization=False` write. */
export const ADAPTER_PICKLE_FILE = 'adapter_model.bin';

/** A target module's shapes: what its `lora_A` / `lora_B` must be. */
export type TargetShape = {
  /** The module's input width (the first linear's `kernel.shape[0]`). */
  inFeatures: number;
  /** Each linear's output width, in the module's order (one for a plain linear). */
  outFeatures: number[];
};

/** The input and output widths of a target module, read from the params. */
export function targetShape(table: LoraModuleTable, module: string): TargetShape {
  const linears = table.modules.get(module)!.linears;
  const kernels = linears.map(
    (path) => getParamPath(table.params, [...path.split('.'), 'kernel']) as Tensor2D,
  );
  return {
    inFeatures: kernels[0]!.shape[0],
    outFeatures: kernels.map((k) => k.shape[1]),
  };
}

/** One saved-module tensor: its name after the module, and how it maps to our params. */
export type SavedTensorRule = {
  /** The full key in the adapter file (`base_model.model.lm_head.weight`). */
  key: string;
  /** The checkpoint's layout of it. */
  shape: number[];
  /** Our param paths it fills. */
  paths: string[][];
  load(t: Tensor): Tensor[];
  save(parts: Tensor[]): Tensor;
};

/**
 * The tensors a saved module (`modules_to_save`) is stored as: the family's
 * rules of the tensors under it for a Hugging Face model, our params as they
 * are for a plain params record.
 */
export function savedModuleRules(
  table: LoraModuleTable,
  base: unknown,
  module: string,
): SavedTensorRule[] {
  const family = familyOf(base);
  if (family !== undefined) {
    const { config } = base as { config: never };
    return family
      .tensors(config)
      .filter((rule) => rule.name.startsWith(`${module}.`))
      .filter((rule) => rule.paths.every((p) => isTensor(getParamPath(table.params, p))))
      .map((rule: TensorRule) => ({
        key: `${PEFT_PREFIX}${rule.name}`,
        shape: rule.shape,
        paths: rule.paths,
        load: rule.load,
        save: rule.save,
      }));
  }
  return table.modules.get(module)!.params.map((dotted) => {
    const path = dotted.split('.');
    const t = getParamPath(table.params, path) as Tensor;
    return {
      key: `${PEFT_PREFIX}${dotted}`,
      shape: [...t.shape],
      paths: [path],
      load: (x: Tensor) => [clone(x)],
      save: ([x]: Tensor[]) => clone(x!),
    };
  });
}

/** The family of a `PretrainedModel`, or `undefined` for a plain params record. */
export function familyOf(base: unknown) {
  if (base === null || typeof base !== 'object' || !Object.hasOwn(base, 'modelType')) {
    return undefined;
  }
  const modelType = (base as { modelType: unknown }).modelType;
  return PRETRAINED_FAMILIES.find((f) => f.modelTypes.includes(modelType as string));
}

/** The keys of a target module's factors. */
export function loraKeys(module: string): { a: string; b: string } {
  return {
    a: `${PEFT_PREFIX}${module}.lora_A.weight`,
    b: `${PEFT_PREFIX}${module}.lora_B.weight`,
  };
}

/** Throws unless `t` has `shape`, naming the key and what fixes it. */
export function checkKeyShape(
  fn: string,
  file: string,
  key: string,
  t: Tensor,
  shape: number[],
  what: string,
): void {
  if (t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return;
  throw new TfjsBlocksError(
    fn,
    `${file}: tensor "${key}".shape`,
    `${formatShape(shape)} (${what})`,
    formatShape(t.shape),
  );
}

/**
 * The adapter a PEFT file's tensors (`tensors`, PEFT's keys and layouts)
 * make for `base`: new tensors in our layouts, under the targets and saved
 * modules `match` found for `config` (PEFT's rules, as `initLora`). Every
 * key must be a target's `lora_A` / `lora_B` or a saved module's tensor;
 * every target needs both factors, `lora_A` `[r, in]` and `lora_B`
 * `[out, r]` with the base's widths. A key naming a module the base does
 * not have or the config does not target, a missing key or a shape that
 * differs is a `TfjsBlocksError` from `fn` naming `file` and the key. Does
 * not dispose `tensors`; frees what it made when it throws.
 */
export function adapterFromPeft(
  fn: string,
  file: string,
  base: unknown,
  table: LoraModuleTable,
  match: { targets: string[]; modulesToSave: string[] },
  config: ResolvedLoraConfig,
  tensors: Readonly<Record<string, Tensor>>,
): LoraAdapter {
  const { r } = config;
  const expected = new Set<string>();
  for (const module of match.targets) {
    const keys = loraKeys(module);
    expected.add(keys.a).add(keys.b);
  }
  const savedRules = match.modulesToSave.map(
    (module) => [module, savedModuleRules(table, base, module)] as const,
  );
  for (const [, rules] of savedRules) for (const rule of rules) expected.add(rule.key);
  for (const key of Object.keys(tensors)) {
    if (expected.has(key)) continue;
    const module = /^base_model\.model\.(.+)\.lora_[AB]\.weight$/.exec(key)?.[1];
    throw new TfjsBlocksError(
      fn,
      `${file}: tensor "${key}"`,
      module === undefined
        ? `a key of the adapter's targets or modules_to_save (${PEFT_PREFIX}<module>.lora_A.weight, .lora_B.weight, or a saved module's tensor)`
        : table.modules.get(module)?.linears.length
          ? `a factor of a module that adapter_config.json's target_modules selects ('${module}' is not one)`
          : `a factor of a linear module of the base model ('${module}' is none)`,
      module === undefined ? 'an unknown key' : 'a key naming another module',
    );
  }
  for (const key of expected) {
    if (!Object.hasOwn(tensors, key)) {
      throw new TfjsBlocksError(fn, `${file}: tensor "${key}"`, 'present', 'missing');
    }
  }
  const shapes = match.targets.map((module) => {
    const keys = loraKeys(module);
    const { inFeatures, outFeatures } = targetShape(table, module);
    const total = outFeatures.reduce((sum, o) => sum + o, 0);
    checkKeyShape(fn, file, keys.a, tensors[keys.a]!, [r, inFeatures], `[r, in] of '${module}'`);
    checkKeyShape(fn, file, keys.b, tensors[keys.b]!, [total, r], `[out, r] of '${module}'`);
    return { module, keys, outFeatures };
  });
  for (const [module, rules] of savedRules) {
    for (const rule of rules) {
      checkKeyShape(fn, file, rule.key, tensors[rule.key]!, rule.shape, `the base's '${module}'`);
    }
  }
  const scale = loraScale(config);
  return tidy(() => {
    const modules = emptyRecord<LoraModule>();
    for (const { module, keys, outFeatures } of shapes) {
      const b = transpose(tensors[keys.b]!) as Tensor2D;
      modules[module] = {
        paths: [...table.modules.get(module)!.linears],
        a: transpose(tensors[keys.a]!) as Tensor2D,
        b: outFeatures.length === 1 ? [b] : (split(b, outFeatures, 1) as Tensor2D[]),
        scale,
      };
    }
    const modulesToSave = emptyRecord<TensorMap>();
    for (const [module, rules] of savedRules) {
      const saved = emptyRecord<Tensor>();
      for (const rule of rules) {
        const parts = rule.load(tensors[rule.key]!);
        rule.paths.forEach((p, i) => {
          saved[p.join('.')] = parts[i]!;
        });
      }
      modulesToSave[module] = saved;
    }
    return { config, modules, modulesToSave };
  }) as LoraAdapter;
}

/**
 * An adapter's tensors under PEFT's keys and in its layouts (new tensors):
 * `lora_A.weight` `[r, in]`, `lora_B.weight` `[out, r]` (a fused module's
 * parts joined), and each saved module's tensors as the base's checkpoint
 * stores them. The adapter is assumed checked against `base` (`withLora`'s
 * checks); a saved tensor the base's family cannot place is a typed error.
 */
export function adapterToPeft(
  fn: string,
  base: unknown,
  table: LoraModuleTable,
  adapter: LoraAdapter,
): Record<string, Tensor> {
  const family = familyOf(base) !== undefined;
  return tidy(() => {
    const out = emptyRecord<Tensor>();
    for (const [module, m] of Object.entries(adapter.modules)) {
      const keys = loraKeys(module);
      out[keys.a] = transpose(m.a);
      out[keys.b] = transpose(m.b.length === 1 ? m.b[0]! : concat(m.b, 1));
    }
    for (const [module, saved] of Object.entries(adapter.modulesToSave)) {
      const rules = table.modules.has(module) ? savedModuleRules(table, base, module) : [];
      const covered = new Set(rules.flatMap((rule) => rule.paths.map((p) => p.join('.'))));
      for (const path of Object.keys(saved)) {
        if (!covered.has(path)) {
          throw new TfjsBlocksError(
            fn,
            `adapter.modulesToSave["${module}"]["${path}"]`,
            family
              ? "a param of the saved module that the base's checkpoint stores"
              : 'a param of the saved module',
            'another path',
          );
        }
      }
      for (const rule of rules) {
        const parts = rule.paths.map((p) => ownEntry(saved, p.join('.')));
        if (!parts.every(isTensor)) {
          throw new TfjsBlocksError(
            fn,
            `adapter.modulesToSave["${module}"]["${rule.paths[0]!.join('.')}"]`,
            `a tensor (PEFT stores ${rule.key})`,
            'missing',
          );
        }
        out[rule.key] = rule.save(parts);
      }
    }
    return out;
  });
}
