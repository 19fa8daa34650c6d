/**
 * `LoraConfig`: our camelCase mirror of PEFT's `LoraConfig`, its checks and
 * the scale it gives. Fields of PEFT we do not implement (DoRA, other init
 * schemes, rank patterns, …) have no place here; the PEFT reader refuses
 * them with a typed error.
 */
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkNumber,
  checkOptionKeys,
  describeValue,
  optionKeys,
} from '../internal/checks';

/**
 * Which linears get a LoRA update and how it is scaled: PEFT's `LoraConfig`
 * (`r`, `lora_alpha`, `lora_dropout`, `target_modules`, `use_rslora`,
 * `modules_to_save`), with PEFT's defaults and matching rules.
 *
 * @example
 * ```ts
 * const config: LoraConfig = { r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'] };
 * ```
 */
export interface LoraConfig {
  /** Rank of the update (`r`). Default 8, as PEFT. */
  r?: number;
  /** `lora_alpha`: the update is scaled by `alpha / r` (`alpha / √r` with `useRsLora`). Default 8. */
  alpha?: number;
  /**
   * `lora_dropout`: dropout on the input of `a` while training (only when
   * `withLora` is given a `dropoutSeed`; inference never drops). In `[0, 1)`, default 0.
   */
  dropout?: number;
  /**
   * PEFT's `target_modules`. A string is a regular expression that must
   * match a whole module name (`re.fullmatch`), or `'all-linear'` (every
   * linear but the output layer: `lm_head`/`lmHead`, `classifier`/`score`/`head`).
   * A list matches a module whose name equals an entry or ends with `.` +
   * the entry (`['q_proj', 'v_proj']`). Module names are the Hugging Face
   * ones for a `PretrainedModel` (`model.layers.0.self_attn.q_proj`) and our
   * dotted param paths for a plain params record (`blocks.0.attention.query`):
   * see `loraModuleNames`.
   */
  targetModules: string | readonly string[];
  /** rsLoRA: scale by `alpha / √r` instead of `alpha / r`. Default false. */
  useRsLora?: boolean;
  /**
   * PEFT's `modules_to_save`: modules trained in full and stored whole in the
   * adapter (a classification head, say). A module whose name ends with an
   * entry (plain suffix, as PEFT) is saved; it is never also a LoRA target.
   * Default none.
   */
  modulesToSave?: readonly string[];
}

/** A {@link LoraConfig} with its defaults filled in: what an adapter carries. */
export type ResolvedLoraConfig = {
  /** The rank of the update. */
  r: number;
  /** The scale's numerator (`lora_alpha`). */
  alpha: number;
  /** The dropout rate on the input of `a` in training. */
  dropout: number;
  /** The target pattern (a full-match regex) or list of name suffixes. */
  targetModules: string | string[];
  /** Whether the scale is `alpha / √r` (rsLoRA) instead of `alpha / r`. */
  useRsLora: boolean;
  /** The modules trained in full and saved with the adapter (empty: none). */
  modulesToSave: string[];
};

export const LORA_CONFIG_KEYS = optionKeys<LoraConfig>({
  r: true,
  alpha: true,
  dropout: true,
  targetModules: true,
  useRsLora: true,
  modulesToSave: true,
});

/** `names` checked to be an array of non-empty strings. */
function checkNames(fn: string, name: string, names: unknown): string[] {
  if (!Array.isArray(names)) {
    throw new TfjsBlocksError(fn, name, 'an array of module names', describeValue(names));
  }
  return names.map((n, i) => {
    if (typeof n !== 'string' || n.length === 0) {
      throw new TfjsBlocksError(fn, `${name}[${i}]`, 'a non-empty string', describeValue(n));
    }
    return n;
  });
}

/** A JavaScript `RegExp` for PEFT's `re.fullmatch(pattern, name)`, or a typed error. */
export function fullMatchRegExp(fn: string, name: string, pattern: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`, 'u');
  } catch (e) {
    throw new TfjsBlocksError(
      fn,
      name,
      'a valid regular expression (JavaScript syntax: write (?<name>…), not (?P<name>…))',
      `${describeValue(pattern)} (${(e as Error).message})`,
    );
  }
}

/**
 * Throws unless `config` is a valid {@link LoraConfig}; returns it with
 * the defaults filled in. `name` is how errors name it (`config`).
 */
export function checkLoraConfig(fn: string, config: unknown, name = 'config'): ResolvedLoraConfig {
  if (config === undefined || config === null) {
    throw new TfjsBlocksError(fn, name, 'a LoraConfig', describeValue(config));
  }
  checkOptionKeys(fn, config, LORA_CONFIG_KEYS, name);
  const c = config as LoraConfig;
  const r = checkInteger(fn, `${name}.r`, c.r ?? 8, 1);
  const alpha = checkNumber(fn, `${name}.alpha`, c.alpha ?? 8, { min: 0, minExclusive: true });
  const dropout = checkNumber(fn, `${name}.dropout`, c.dropout ?? 0, { min: 0, max: 1 });
  if (c.useRsLora !== undefined && typeof c.useRsLora !== 'boolean') {
    throw new TfjsBlocksError(fn, `${name}.useRsLora`, 'a boolean', describeValue(c.useRsLora));
  }
  let targetModules: string | string[];
  if (typeof c.targetModules === 'string') {
    if (c.targetModules.length === 0) {
      throw new TfjsBlocksError(
        fn,
        `${name}.targetModules`,
        'a regular expression, "all-linear" or a list of module names',
        "''",
      );
    }
    if (c.targetModules.toLowerCase() !== 'all-linear') {
      fullMatchRegExp(fn, `${name}.targetModules`, c.targetModules);
    }
    targetModules = c.targetModules;
  } else if (Array.isArray(c.targetModules)) {
    targetModules = checkNames(fn, `${name}.targetModules`, c.targetModules);
    if (targetModules.length === 0) {
      throw new TfjsBlocksError(fn, `${name}.targetModules`, 'at least one module name', '[]');
    }
  } else {
    throw new TfjsBlocksError(
      fn,
      `${name}.targetModules`,
      'a regular expression, "all-linear" or a list of module names',
      describeValue(c.targetModules),
    );
  }
  const modulesToSave =
    c.modulesToSave === undefined ? [] : checkNames(fn, `${name}.modulesToSave`, c.modulesToSave);
  return { r, alpha, dropout, targetModules, useRsLora: c.useRsLora ?? false, modulesToSave };
}

/** The LoRA scale of a config: `alpha / r`, or `alpha / √r` with rsLoRA (PEFT's `scaling`). */
export function loraScale(config: ResolvedLoraConfig): number {
  return config.useRsLora ? config.alpha / Math.sqrt(config.r) : config.alpha / config.r;
}
