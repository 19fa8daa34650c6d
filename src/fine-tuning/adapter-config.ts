/**
 * PEFT's `adapter_config.json` (a `peft.LoraConfig` saved by
 * `PeftModel.save_pretrained`) read into what we implement, and written back
 * in the form `PeftModel.from_pretrained` reads. Every field PEFT 0.21 writes
 * is either mapped, accepted because it does not change the adapter's maths
 * (`inference_mode`, `revision`, `peft_version`, …), or, with a value other
 * than its default, a `TfjsBlocksError` naming the field: never a silently
 * different adapter.
 */
import { TfjsBlocksError } from '../errors';
import { describeValue } from '../internal/checks';
import { ownEntry } from '../internal/records';
import { type ConfigJsonReader, configJsonReader } from '../pretrained/config-json';

/** The name of the file. */
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';

/** What an `adapter_config.json` says that we implement. Not public. */
export type AdapterConfigFields = {
  /** `r`. */
  r: number;
  /** `lora_alpha`. */
  alpha: number;
  /** `target_modules`: a string is a full-match regex, a list matches name suffixes. */
  targetModules: string | string[];
  /** `lora_dropout`. */
  dropout: number;
  /** `use_rslora`: scale `alpha / √r` instead of `alpha / r`. */
  useRsLora: boolean;
  /** `modules_to_save` (absent when `null` or empty). */
  modulesToSave?: string[];
  /** `init_lora_weights`: `true` (B zero, A Kaiming-uniform), `false`, or `'gaussian'`. */
  initLoraWeights: boolean | 'gaussian';
  /** `task_type` (`CAUSAL_LM`, `SEQ_CLS`, …), absent when `null`. */
  taskType?: string;
  /** `base_model_name_or_path`, absent when `null`. */
  baseModelNameOrPath?: string;
};

/**
 * Fields that do not change the adapter's maths: read (their type is not
 * checked beyond JSON) and not mapped.
 */
const IGNORED = new Set([
  'auto_mapping',
  'inference_mode',
  'revision',
  'peft_version',
  'megatron_core',
  // Only read when use_qalora is true (rejected below).
  'qalora_group_size',
  // Where PEFT offloads at run time, not what it computes.
  'runtime_config',
  // Only used with layers_to_transform (rejected below when set).
  'layers_pattern',
  // The fan_in_fan_out of a Conv1D is forced by PEFT; the saved A/B layout is the same either way.
  'fan_in_fan_out',
]);

/** Fields we read and map (see {@link readAdapterConfig}). */
const MAPPED = new Set([
  'peft_type',
  'task_type',
  'base_model_name_or_path',
  'r',
  'lora_alpha',
  'lora_dropout',
  'target_modules',
  'use_rslora',
  'modules_to_save',
  'init_lora_weights',
  'bias',
]);

/**
 * Fields PEFT writes whose default is all we implement, with what we
 * implement (for the message). Any other field not listed in `MAPPED` or
 * `IGNORED` (a newer PEFT's) is accepted only when it holds an "off" value:
 * `null`, `false`, `{}` or `[]`.
 */
const DEFAULT_ONLY: Readonly<Record<string, string>> = {
  use_dora: 'false (DoRA is not implemented)',
  lora_bias: 'false (LoRA biases are not implemented)',
  rank_pattern: '{} (per-module ranks are not implemented)',
  alpha_pattern: '{} (per-module alphas are not implemented)',
  layers_to_transform: 'null (every layer; picking layers by index is not implemented)',
  exclude_modules: 'null or [] (excluding modules is not implemented)',
  target_parameters: 'null or [] (LoRA on nn.Parameters is not implemented)',
  layer_replication: 'null (layer replication is not implemented)',
  trainable_token_indices: 'null (trainable tokens are not implemented)',
  alora_invocation_tokens: 'null (aLoRA is not implemented)',
  use_qalora: 'false (QA-LoRA is not implemented)',
  use_bdlora: 'null or false (BD-LoRA is not implemented)',
  loftq_config: '{} (LoftQ initialisation is not implemented)',
  eva_config: 'null (EVA initialisation is not implemented)',
  corda_config: 'null (CorDA initialisation is not implemented)',
  lora_ga_config: 'null (LoRA-GA initialisation is not implemented)',
  megatron_config: 'null (Megatron parallel linears are not implemented)',
  ensure_weight_tying: 'false (tied modules_to_save are not implemented)',
  arrow_config: 'null (Arrow routing is not implemented)',
  kasa_config: 'null (KaSA is not implemented)',
  monteclora_config: 'null (MonteCLoRA is not implemented)',
  velora_config: 'null (VeLoRA is not implemented)',
};

function isOff(value: unknown): boolean {
  if (value === null || value === false || value === undefined) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value as object).length === 0;
}

function readTargetModules(fn: string, read: ConfigJsonReader, json: object): string | string[] {
  const value = ownEntry(json as Record<string, unknown>, 'target_modules');
  if (typeof value === 'string' && value.length > 0) {
    if (value.toLowerCase() === 'all-linear') return value;
    try {
      new RegExp(`^(?:${value})$`, 'u');
    } catch (e) {
      throw new TfjsBlocksError(
        fn,
        `${ADAPTER_CONFIG_FILE}: target_modules`,
        'a regular expression JavaScript reads (write (?<name>…), not (?P<name>…))',
        `${describeValue(value)} (${(e as Error).message})`,
      );
    }
    return value;
  }
  if (Array.isArray(value) && value.length > 0) return read.strings('target_modules');
  return read.unsupported('target_modules', 'a non-empty string (a regex) or list of module names');
}

/**
 * Reads a parsed `adapter_config.json`. A field whose value we do not
 * implement is a `TfjsBlocksError` from `fn` whose argument is
 * `adapter_config.json: <field>`.
 */
export function readAdapterConfig(fn: string, json: unknown): AdapterConfigFields {
  const read = configJsonReader(fn, json, ADAPTER_CONFIG_FILE);
  const record = json as Record<string, unknown>;
  read.string('peft_type', ['LORA']);
  for (const field of Object.keys(record)) {
    if (MAPPED.has(field) || IGNORED.has(field)) continue;
    const value = record[field];
    if (isOff(value)) continue;
    read.unsupported(
      field,
      DEFAULT_ONLY[field] ?? 'absent, null, false, {} or [] (not implemented)',
    );
  }
  read.string('bias', ['none'], 'none');
  const init = ownEntry(record, 'init_lora_weights');
  if (init !== undefined && typeof init !== 'boolean' && init !== 'gaussian') {
    read.unsupported(
      'init_lora_weights',
      'true, false or "gaussian" (other initialisations are not implemented)',
    );
  }
  const dropout = read.number('lora_dropout', 0, true);
  if (dropout < 0 || dropout >= 1) read.unsupported('lora_dropout', 'a number in [0, 1)');
  const modulesToSave = read.has('modules_to_save')
    ? (ownEntry(record, 'modules_to_save') as unknown[]).length === 0
      ? []
      : read.strings('modules_to_save')
    : [];
  const fields: AdapterConfigFields = {
    r: read.integer('r', 8, 1),
    alpha: read.number('lora_alpha', 8),
    targetModules: readTargetModules(fn, read, record),
    dropout,
    useRsLora: read.boolean('use_rslora', false),
    initLoraWeights: (init ?? true) as boolean | 'gaussian',
  };
  if (modulesToSave.length > 0) fields.modulesToSave = modulesToSave;
  if (read.has('task_type')) fields.taskType = read.string('task_type');
  if (read.has('base_model_name_or_path')) {
    fields.baseModelNameOrPath = read.string('base_model_name_or_path');
  }
  return fields;
}

/**
 * The `adapter_config.json` object for `fields`: every field PEFT 0.21
 * writes for a plain LoRA adapter, so `PeftModel.from_pretrained` reads it
 * back to the same adapter. `fanInFanOut` is true for GPT-2's Conv1D
 * modules (PEFT warns and sets it otherwise).
 */
export function adapterConfigJson(
  fields: AdapterConfigFields,
  fanInFanOut: boolean,
): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: fields.baseModelNameOrPath ?? null,
    bias: 'none',
    exclude_modules: null,
    fan_in_fan_out: fanInFanOut,
    inference_mode: true,
    init_lora_weights: fields.initLoraWeights,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: fields.alpha,
    lora_bias: false,
    lora_dropout: fields.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: fields.modulesToSave?.length ? [...fields.modulesToSave] : null,
    peft_type: 'LORA',
    r: fields.r,
    rank_pattern: {},
    revision: null,
    target_modules:
      typeof fields.targetModules === 'string' ? fields.targetModules : [...fields.targetModules],
    target_parameters: null,
    task_type: fields.taskType ?? 'CAUSAL_LM',
    trainable_token_indices: null,
    use_dora: false,
    use_rslora: fields.useRsLora,
  };
}
