/**
 * Module names for LoRA targets, as PEFT sees them. For a model loaded from
 * Hugging Face (a `PretrainedModel`), the names are the checkpoint's module
 * names (tensor name minus `.weight`), read from the family's
 * `TensorRule`s, so PEFT's `target_modules` lists work unchanged; a fused
 * checkpoint tensor (GPT-2's `c_attn`, Phi-3's `qkv_proj` / `gate_up_proj`)
 * is one module spanning several of our linears. For a plain params record
 * the names are our dotted param paths (`blocks.0.attention.query`).
 */
import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, describeValue, optionKeys } from '../internal/checks';
import { isQuantizedTensor } from '../nn/quantized-weights';
import { PRETRAINED_FAMILIES } from '../pretrained/families/registry';
import { getParamPath } from '../pretrained/families/rules';
import type { PretrainedModel } from '../pretrained/load';
import { isTensor, visitLeaves } from '../tree/walk';
import {
  checkLoraConfig,
  fullMatchRegExp,
  type LoraConfig,
  type ResolvedLoraConfig,
} from './lora-config';

/**
 * What LoRA can be applied to: a model with its Hugging Face identity
 * (`loadPretrained`'s result, or `{ kind, modelType, config, params }`),
 * whose module names are Hugging Face's, or any plain params record
 * (`initDecoderLm(...)`, `initEncoderClassifier(...)`, a record of
 * linears), whose module names are our dotted param paths.
 */
export type LoraBase = PretrainedModel | object;

/** One module of a model: the tensors under it, and the linears it is, if any. */
export type LoraModuleEntry = {
  /** Dotted param paths of every tensor under the module (for `modulesToSave`). */
  params: string[];
  /**
   * Dotted paths of the `LinearParams` records the module is: one for a
   * plain linear, several (in the checkpoint's order) for a fused one;
   * empty for a module that is no linear (an embedding, a norm, a container).
   */
  linears: string[];
};

/** Every module of a model by name, in PEFT's `named_modules()` order (parents first). */
export type LoraModuleTable = {
  /** The model's params record. */
  params: object;
  /** Module name → entry. */
  modules: Map<string, LoraModuleEntry>;
  /** The linears `'all-linear'` leaves out: the output layer. */
  outputLayers: Set<string>;
};

function isPretrained(base: unknown): base is PretrainedModel {
  return (
    base !== null &&
    typeof base === 'object' &&
    Object.hasOwn(base, 'modelType') &&
    Object.hasOwn(base, 'params') &&
    Object.hasOwn(base, 'config')
  );
}

/** A param of a model: a tensor, or a quantized kernel (a QLoRA-style frozen base) as one leaf. */
function isParamLeaf(node: unknown): boolean {
  return isTensor(node) || isQuantizedTensor(node);
}

/** Whether a param is a matrix: a rank-2 tensor or a quantized kernel. */
function isMatrix(node: unknown): boolean {
  return isQuantizedTensor(node) || (isTensor(node) && node.rank === 2);
}

/** Adds `name` and its parent modules (`a`, `a.b`, … ) to `table`, parents first. */
function moduleEntry(modules: Map<string, LoraModuleEntry>, name: string): LoraModuleEntry {
  const parts = name.split('.');
  let entry: LoraModuleEntry | undefined;
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join('.');
    entry = modules.get(prefix);
    if (entry === undefined) {
      entry = { params: [], linears: [] };
      modules.set(prefix, entry);
    }
  }
  return entry!;
}

/** Adds a tensor (checkpoint or param name `tensorName`) filling `paths`. */
function addTensor(
  modules: Map<string, LoraModuleEntry>,
  tensorName: string,
  paths: string[][],
  linear: boolean,
): void {
  const dot = tensorName.lastIndexOf('.');
  if (dot <= 0) return; // a tensor at the root belongs to no module
  const owner = tensorName.slice(0, dot);
  const dotted = paths.map((p) => p.join('.'));
  moduleEntry(modules, owner);
  // Every module above the tensor holds it (modules_to_save copies all of them).
  const parts = owner.split('.');
  for (let i = 1; i <= parts.length; i++) {
    modules.get(parts.slice(0, i).join('.'))!.params.push(...dotted);
  }
  if (linear) {
    modules.get(owner)!.linears.push(...paths.map((p) => p.slice(0, -1).join('.')));
  }
}

/**
 * The module table of `base` (see {@link LoraBase}), or a typed error
 * naming `argument`. Internal to the fine-tuning folder.
 */
export function loraModuleTable(fn: string, base: unknown, argument = 'model'): LoraModuleTable {
  if (base === null || typeof base !== 'object' || Array.isArray(base)) {
    throw new TfjsBlocksError(
      fn,
      argument,
      'a PretrainedModel or a params record',
      describeValue(base),
    );
  }
  const modules = new Map<string, LoraModuleEntry>();
  if (isPretrained(base)) {
    const family = PRETRAINED_FAMILIES.find((f) => f.modelTypes.includes(base.modelType));
    if (family === undefined) {
      throw new TfjsBlocksError(
        fn,
        `${argument}.modelType`,
        `one of ${PRETRAINED_FAMILIES.flatMap((f) => f.modelTypes)
          .map((t) => `'${t}'`)
          .join(', ')}`,
        describeValue(base.modelType),
      );
    }
    for (const rule of family.tensors(base.config)) {
      // Only the tensors the params hold (a family may list optional ones); a quantized kernel counts.
      const tensors = rule.paths.map((p) => getParamPath(base.params, p));
      if (!tensors.every(isParamLeaf)) continue;
      const linear =
        rule.name.endsWith('.weight') &&
        rule.paths.every((p, i) => p[p.length - 1] === 'kernel' && isMatrix(tensors[i]));
      addTensor(modules, rule.name, rule.paths, linear);
    }
    return {
      params: base.params,
      modules,
      outputLayers: new Set(['lm_head', 'classifier', 'score']),
    };
  }
  visitLeaves(
    base,
    (leaf, keys) => {
      const path = keys.map(String);
      const linear = path[path.length - 1] === 'kernel' && isMatrix(leaf);
      addTensor(modules, path.join('.'), [path], linear);
    },
    { fn, argument, isLeaf: isParamLeaf },
  );
  return { params: base, modules, outputLayers: new Set(['lmHead', 'head']) };
}

/** The module names a table's linears have, in order. */
function linearNames(table: LoraModuleTable): string[] {
  return [...table.modules].filter(([, e]) => e.linears.length > 0).map(([name]) => name);
}

/** Up to 8 names, quoted, then a count of the rest. */
export function listSome(names: readonly string[]): string {
  const shown = names.slice(0, 8).map((n) => `'${n}'`);
  return names.length > 8
    ? `${shown.join(', ')}, and ${names.length - 8} more`
    : shown.join(', ') || 'none';
}

/** What {@link matchLoraTargets} found. */
export type LoraTargetMatch = {
  /** The modules that get a LoRA update (linears only), in model order. */
  targets: string[];
  /** The modules stored whole (`modulesToSave`), outermost only. */
  modulesToSave: string[];
  /** The entries of a `targetModules` list that matched no module (PEFT accepts them when another entry matches). */
  unmatched: string[];
};

/** A `targetModules` value as messages quote it: `'regex'` or `['a', 'b']`. */
export function showTargets(targets: string | readonly string[]): string {
  const quote = (t: string) => `'${t.length > 60 ? `${t.slice(0, 57)}...` : t}'`;
  if (typeof targets === 'string') return quote(targets);
  const shown = targets.slice(0, 8).map(quote).join(', ');
  return `[${shown}${targets.length > 8 ? `, … ${targets.length - 8} more` : ''}]`;
}

/** Escapes a string for use inside a regular expression. */
function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Resolves a config's targets and saved modules on a table, following
 * PEFT: modules_to_save are matched by plain suffix and are never targets;
 * a target that is no linear is an error; no target at all is an error.
 */
export function resolveLoraTargets(
  fn: string,
  table: LoraModuleTable,
  config: ResolvedLoraConfig,
  argument = 'config',
): LoraTargetMatch {
  const { targetModules, modulesToSave } = config;
  // PEFT's guard: `re.match(rf"(^|.*\.){m}($|\..*)", key)` excludes saved modules from targets.
  const savedRes = modulesToSave.map(
    (m) => new RegExp(`^(?:^|.*\\.)${escapeRegExp(m)}(?:$|\\..*)`),
  );
  const names = [...table.modules.keys()];
  const allLinear =
    typeof targetModules === 'string' && targetModules.toLowerCase() === 'all-linear';
  const regex =
    typeof targetModules === 'string' && !allLinear
      ? fullMatchRegExp(fn, `${argument}.targetModules`, targetModules)
      : undefined;
  const list = Array.isArray(targetModules) ? targetModules : [];
  const hits = new Set<string>();
  const targets: string[] = [];
  for (const name of names) {
    if (savedRes.some((re) => re.test(name))) continue;
    const entry = table.modules.get(name)!;
    let found: boolean;
    if (allLinear) found = entry.linears.length > 0 && !table.outputLayers.has(name);
    else if (regex) found = regex.test(name);
    else {
      const matching = list.filter((t) => name === t || name.endsWith(`.${t}`));
      for (const t of matching) hits.add(t);
      found = matching.length > 0;
    }
    if (!found) continue;
    if (entry.linears.length === 0) {
      throw new TfjsBlocksError(
        fn,
        `${argument}.targetModules`,
        `patterns that match only linear modules (LoRA is implemented for linears; linears here: ${listSome(linearNames(table))})`,
        `${showTargets(targetModules)}, which matches '${name}', no linear`,
      );
    }
    targets.push(name);
  }
  if (targets.length === 0) {
    throw new TfjsBlocksError(
      fn,
      `${argument}.targetModules`,
      `a pattern that matches at least one linear module (candidates: ${listSome(linearNames(table))})`,
      `${showTargets(targetModules)}, which matches nothing`,
    );
  }
  const saved: string[] = [];
  for (const name of names) {
    if (!modulesToSave.some((m) => name.endsWith(m))) continue;
    if (saved.some((outer) => name.startsWith(`${outer}.`))) continue;
    saved.push(name);
  }
  const missing = modulesToSave.filter((m) => !saved.some((name) => name.endsWith(m)));
  if (missing.length > 0) {
    throw new TfjsBlocksError(
      fn,
      `${argument}.modulesToSave`,
      `names of modules of the model (e.g. ${listSome(names.filter((n) => !n.includes('.')))})`,
      `'${missing[0]}', which matches no module`,
    );
  }
  return { targets, modulesToSave: saved, unmatched: list.filter((t) => !hits.has(t)) };
}

/** Options of {@link loraModuleNames}. */
export interface LoraModuleNamesOptions {
  /** `'linear'` (default): the modules LoRA can target; `'all'`: every module, for `modulesToSave`. */
  kind?: 'linear' | 'all';
}

const NAMES_OPTIONS = optionKeys<LoraModuleNamesOptions>({ kind: true });

/**
 * The module names LoRA's `targetModules` and `modulesToSave` are matched
 * against, in model order: Hugging Face's for a `PretrainedModel`
 * (`model.layers.0.self_attn.q_proj`; GPT-2's `transformer.h.0.attn.c_attn`
 * is one module spanning our q/k/v linears), our dotted param paths for a
 * plain params record (`blocks.0.attention.query`). Use it to write or
 * debug a target list.
 *
 * @param model - a `PretrainedModel` or a params record.
 * @param options - `kind`: `'linear'` (default) or `'all'`.
 * @example
 * ```ts
 * const config = gpt2Config({ vocabSize: 100, maxLength: 32, dModel: 32, numLayers: 2, numHeads: 4 });
 * const names = loraModuleNames({ kind: 'decoder-lm', modelType: 'gpt2', config, params: initDecoderLm(config, 0) });
 * // ['transformer.h.0.attn.c_attn', 'transformer.h.0.attn.c_proj', 'transformer.h.0.mlp.c_fc', ...]
 * ```
 */
export function loraModuleNames(model: LoraBase, options?: LoraModuleNamesOptions): string[] {
  const fn = 'loraModuleNames';
  checkOptionKeys(fn, options, NAMES_OPTIONS);
  const kind = options?.kind ?? 'linear';
  if (kind !== 'linear' && kind !== 'all') {
    throw new TfjsBlocksError(fn, 'options.kind', "'linear' or 'all'", describeValue(kind));
  }
  const table = loraModuleTable(fn, model);
  return kind === 'all' ? [...table.modules.keys()] : linearNames(table);
}

/**
 * What a {@link LoraConfig}'s `targetModules` and `modulesToSave` select on
 * a model, by PEFT's rules, without making any tensor: the target modules,
 * the saved modules, and the list entries that matched nothing. Throws the
 * error `initLora` would (no target matched, a target that is no linear).
 *
 * @example
 * ```ts
 * const config = llamaConfig({ vocabSize: 100, maxLength: 32, dModel: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, hidden: 64 });
 * const model = { kind: 'decoder-lm' as const, modelType: 'llama', config, params: initDecoderLm(config, 0) };
 * const { targets } = matchLoraTargets(model, { targetModules: ['q_proj', 'v_proj'] });
 * // ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', ...]
 * ```
 */
export function matchLoraTargets(model: LoraBase, config: LoraConfig): LoraTargetMatch {
  const fn = 'matchLoraTargets';
  const resolved = checkLoraConfig(fn, config);
  return resolveLoraTargets(fn, loraModuleTable(fn, model), resolved);
}
