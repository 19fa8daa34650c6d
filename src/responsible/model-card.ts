import {
  countParameters,
  type FlopCounts,
  modelCost,
  type ParameterCounts,
} from '../efficiency/cost';
import type { LedgerFigures, RunLedger } from '../efficiency/run-ledger';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkNumber,
  checkOptionKeys,
  describeValue,
  optionKeys,
} from '../internal/checks';
import { siPrefix } from '../internal/si-prefix';
import { DECODER_LM_CONFIG_KEYS, type DecoderLmConfig } from '../models/decoder-lm';

/** One evaluation figure of a {@link modelCard}: a value and, when measured, its confidence interval. */
export interface ModelCardMetric {
  /** The metric's name, e.g. `'accuracy'` or `'demographic_parity_difference'`. */
  name: string;
  /** Its value (finite). */
  value: number;
  /** A confidence interval `[lo, hi]`, `lo <= hi` (e.g. a bootstrap percentile interval, which need not contain `value`). */
  interval?: readonly [number, number];
  /** The interval's level in (0, 1). Default `0.95` when `interval` is given. */
  level?: number;
  /** What it was measured on (a split or dataset name). */
  dataset?: string;
  /** Bootstrap resamples behind the interval (integer >= 1), as the fairness metrics' `confidenceInterval` reports it. */
  nBoot?: number;
  /** The bootstrap standard error (>= 0). */
  standardError?: number;
  /** Resamples left out of the interval (a ratio of 0/0), integer >= 0. */
  undefinedResamples?: number;
}

/** One group's row of the fairness table of a {@link modelCard}. */
export interface ModelCardGroup {
  /** The group's label. */
  group: string | number | boolean;
  /** Samples in the group (integer >= 0). */
  count: number;
  /** Further per-group figures, e.g. `{ selectionRate: 0.31, truePositiveRate: 0.8 }` (finite numbers). */
  rates?: Readonly<Record<string, number>>;
}

/** The fairness section of a {@link modelCard}. */
export interface ModelCardFairness {
  /** What the groups are, e.g. `'sender domain (derived from the From: header)'`. */
  sensitiveFeature: string;
  /** The group metrics, with their intervals when measured. */
  metrics: readonly ModelCardMetric[];
  /** Per-group counts and rates. Default: none. */
  groups?: readonly ModelCardGroup[];
  /** How the data were gathered, what mitigation was applied, … (Markdown). Default: none. */
  notes?: string;
}

/** A compression step (quantization, pruning, …) applied to the model and what it cost. */
export interface ModelCardCompression {
  /** What was done, e.g. `'int8 weight quantization'` or `'50% magnitude pruning'`. */
  method: string;
  /** The quality metric compared, e.g. `'held-out perplexity'`. */
  metric?: string;
  /** The metric before compression (finite). */
  before?: number;
  /** The metric after compression (finite). */
  after?: number;
  /** Free text (Markdown), e.g. the measured size or speed. Default: none. */
  notes?: string;
}

/** What a training run cost, as a run ledger records it, for the card's environmental section. */
export interface ModelCardRun {
  /** Wall-clock seconds (>= 0). */
  wallSeconds: number;
  /** Tokens processed (integer >= 0). */
  tokens: number;
  /** FLOPs spent (>= 0). */
  flops?: number;
  /** Energy in joules (>= 0). */
  energyJoules?: number;
  /** Whether the energy was measured (e.g. RAPL counters), estimated from a power profile, or a mix of both. Required with `energyJoules`. */
  energySource?: 'measured' | 'estimated' | 'mixed';
  /** Grams of CO₂-equivalent (>= 0). */
  co2Grams?: number;
  /** Grid carbon intensity used, gCO₂/kWh (>= 0). */
  gridGramsPerKwh?: number;
  /** The hardware, e.g. `'2-core AMD EPYC, wasm backend'`. */
  hardware?: string;
  /** `'pre-training'` or `'fine-tuning'` (Hugging Face's `co2_eq_emissions.training_type`). */
  trainingType?: 'pre-training' | 'fine-tuning';
}

/** The differential-privacy guarantee of a model trained with DP-SGD (e.g. `fineTune`'s `privacy` report). */
export interface ModelCardPrivacy {
  /** ε (finite, >= 0). */
  epsilon: number;
  /** δ in [0, 1). */
  delta: number;
  /** The noise multiplier σ. */
  noiseMultiplier?: number;
  /** The sampling rate q. */
  samplingRate?: number;
}

/** What {@link modelCard} reads; every section but the title is optional and left out when not given. */
export interface ModelCardOptions {
  /** The model's name: the card's title. */
  name: string;
  /** A one-paragraph summary (Markdown). Default: none. */
  summary?: string;
  /** A decoder-only model's config: the architecture, parameter count and FLOPs (by `modelCost`). Default: none. */
  config?: DecoderLmConfig;
  /** Context for the FLOPs per token (integer >= 1). Default: `config.maxLength`. */
  context?: number;
  /** The params, counted with `countParameters` (a card of a model without `config` still gets its size). Default: none. */
  params?: unknown;
  /** An SPDX-like license id for the front matter, e.g. `'apache-2.0'`. Default: none. */
  license?: string;
  /** Extra tags; `'tfjs-blocks'` is always added. Default: none. */
  tags?: readonly string[];
  /** Languages (ISO 639-1), e.g. `['en']`. Default: none. */
  language?: readonly string[];
  /** The model it was fine-tuned from (a Hub id). Default: none. */
  baseModel?: string;
  /** Datasets (Hub ids or names) for the front matter. Default: none. */
  datasets?: readonly string[];
  /** The training data, described by the user (Markdown). Default: none. */
  trainingData?: string;
  /** How it was trained: optimizer, steps, batch, … (Markdown). Default: none. */
  trainingProcedure?: string;
  /** Intended (direct) use (Markdown). Default: none. */
  intendedUse?: string;
  /** Out-of-scope use (Markdown). Default: none. */
  outOfScopeUse?: string;
  /** Bias, risks and limitations (Markdown). Default: none. */
  limitations?: string;
  /** Evaluation results. Default: none. */
  evaluation?: readonly ModelCardMetric[];
  /** Fairness metrics with their intervals. Default: none. */
  fairness?: ModelCardFairness;
  /** The DP guarantee, when trained with DP-SGD. Default: none (no privacy section). */
  privacy?: ModelCardPrivacy;
  /** What training cost, as figures. Default: none. Give this or `ledger`, not both. */
  run?: ModelCardRun;
  /**
   * A run ledger (`createRunLedger`): its training spans' totals (all spans
   * when it has no training span) become `run`, with their measured/estimated
   * label, the power profile's device and the grid intensity. Default: none.
   */
  ledger?: RunLedger;
  /** Quantization, pruning and their measured quality cost. Default: none. */
  compression?: readonly ModelCardCompression[];
}

/** The facts of a {@link modelCard}, as JSON-ready data. */
export interface ModelCardData {
  /** The options as checked (copied, `tags` with `'tfjs-blocks'` first). */
  card: Omit<ModelCardOptions, 'params' | 'tags' | 'ledger'> & {
    /** The card's tags, `'tfjs-blocks'` first. */
    tags: string[];
  };
  /** Parameters: `modelCost`'s parts when a config was given, `countParameters`'s total from `params`. */
  parameters?: Partial<ParameterCounts> & {
    /** All parameters. */
    total: number;
  };
  /** FLOPs per token at `context` (from `modelCost`), when a config was given. */
  flopsPerToken?: FlopCounts & {
    /** The context length the FLOPs are counted at. */
    context: number;
  };
}

/** What {@link modelCard} returns. */
export interface ModelCard {
  /** A Hugging Face `README.md`: YAML front matter, then the model-card sections. */
  markdown: string;
  /** The same facts as data (`JSON.stringify` it for a `model_card.json`). */
  json: ModelCardData;
}

const MODEL_CARD_OPTION_KEYS = optionKeys<ModelCardOptions>({
  name: true,
  summary: true,
  config: true,
  context: true,
  params: true,
  license: true,
  tags: true,
  language: true,
  baseModel: true,
  datasets: true,
  trainingData: true,
  trainingProcedure: true,
  intendedUse: true,
  outOfScopeUse: true,
  limitations: true,
  evaluation: true,
  fairness: true,
  privacy: true,
  run: true,
  ledger: true,
  compression: true,
});
const METRIC_KEYS = optionKeys<ModelCardMetric>({
  name: true,
  value: true,
  interval: true,
  level: true,
  dataset: true,
  nBoot: true,
  standardError: true,
  undefinedResamples: true,
});
const GROUP_KEYS = optionKeys<ModelCardGroup>({ group: true, count: true, rates: true });
const FAIRNESS_KEYS = optionKeys<ModelCardFairness>({
  sensitiveFeature: true,
  metrics: true,
  groups: true,
  notes: true,
});
const COMPRESSION_KEYS = optionKeys<ModelCardCompression>({
  method: true,
  metric: true,
  before: true,
  after: true,
  notes: true,
});
const RUN_KEYS = optionKeys<ModelCardRun>({
  wallSeconds: true,
  tokens: true,
  flops: true,
  energyJoules: true,
  energySource: true,
  co2Grams: true,
  gridGramsPerKwh: true,
  hardware: true,
  trainingType: true,
});
const PRIVACY_KEYS = optionKeys<ModelCardPrivacy>({
  epsilon: true,
  delta: true,
  noiseMultiplier: true,
  samplingRate: true,
});

const FN = 'modelCard';

function checkText(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new TfjsBlocksError(FN, name, 'a non-empty string', describeValue(value));
  }
  return value;
}

function optionalText(name: string, value: unknown): string | undefined {
  return value === undefined ? undefined : checkText(name, value);
}

function checkList<T>(name: string, value: unknown, item: (name: string, v: unknown) => T): T[] {
  if (!Array.isArray(value)) throw new TfjsBlocksError(FN, name, 'an array', describeValue(value));
  return value.map((v, i) => item(`${name}[${i}]`, v));
}

function optionalNumber(name: string, value: unknown, range: Parameters<typeof checkNumber>[3]) {
  return value === undefined ? undefined : checkNumber(FN, name, value, range);
}

/** Drops the keys whose value is `undefined`, so the JSON and the checks agree on what was given. */
function defined<T extends object>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as T;
}

function checkMetric(name: string, m: unknown): ModelCardMetric {
  checkOptionKeys(FN, m, METRIC_KEYS, name);
  if (m === undefined) throw new TfjsBlocksError(FN, name, 'a metric object', 'undefined');
  const metric = m as ModelCardMetric;
  const value = checkNumber(FN, `${name}.value`, metric.value);
  let interval: readonly [number, number] | undefined;
  if (metric.interval !== undefined) {
    const iv: unknown = metric.interval;
    if (!Array.isArray(iv) || iv.length !== 2) {
      throw new TfjsBlocksError(FN, `${name}.interval`, 'a pair [lo, hi]', describeValue(iv));
    }
    // A percentile bootstrap interval need not contain the point estimate; it must be ordered.
    const lo = checkNumber(FN, `${name}.interval[0]`, iv[0]);
    const hi = checkNumber(FN, `${name}.interval[1]`, iv[1], { min: lo });
    interval = [lo, hi];
  }
  if (metric.level !== undefined && interval === undefined) {
    throw new TfjsBlocksError(FN, `${name}.level`, 'only with an interval', String(metric.level));
  }
  return defined({
    name: checkText(`${name}.name`, metric.name),
    value,
    interval,
    level:
      interval === undefined
        ? undefined
        : checkNumber(FN, `${name}.level`, metric.level ?? 0.95, {
            min: 0,
            minExclusive: true,
            max: 1,
          }),
    dataset: optionalText(`${name}.dataset`, metric.dataset),
    nBoot:
      metric.nBoot === undefined ? undefined : checkInteger(FN, `${name}.nBoot`, metric.nBoot, 1),
    standardError: optionalNumber(`${name}.standardError`, metric.standardError, { min: 0 }),
    undefinedResamples:
      metric.undefinedResamples === undefined
        ? undefined
        : checkInteger(FN, `${name}.undefinedResamples`, metric.undefinedResamples, 0),
  });
}

function checkGroup(name: string, g: unknown): ModelCardGroup {
  checkOptionKeys(FN, g, GROUP_KEYS, name);
  if (g === undefined) throw new TfjsBlocksError(FN, name, 'a group object', 'undefined');
  const group = g as ModelCardGroup;
  const label = group.group;
  if (
    !(typeof label === 'string' || typeof label === 'boolean') &&
    !(typeof label === 'number' && Number.isFinite(label))
  ) {
    throw new TfjsBlocksError(
      FN,
      `${name}.group`,
      'a string, finite number or boolean',
      describeValue(label),
    );
  }
  let rates: Record<string, number> | undefined;
  if (group.rates !== undefined) {
    const r: unknown = group.rates;
    if (r === null || typeof r !== 'object' || Array.isArray(r)) {
      throw new TfjsBlocksError(FN, `${name}.rates`, 'a record of numbers', describeValue(r));
    }
    rates = {};
    for (const [key, v] of Object.entries(r)) {
      rates[key] = checkNumber(FN, `${name}.rates.${key}`, v);
    }
  }
  return defined({ group: label, count: checkInteger(FN, `${name}.count`, group.count, 0), rates });
}

function checkFairness(f: unknown): ModelCardFairness {
  checkOptionKeys(FN, f, FAIRNESS_KEYS, 'options.fairness');
  const fairness = f as ModelCardFairness;
  const metrics = checkList('options.fairness.metrics', fairness.metrics, checkMetric);
  const groups =
    fairness.groups === undefined
      ? undefined
      : checkList('options.fairness.groups', fairness.groups, checkGroup);
  // Every group row shows the same columns, so a missing rate is an error, not a blank cell.
  if (groups !== undefined && groups.length > 0) {
    const columns = Object.keys(groups[0]!.rates ?? {}).join(',');
    groups.forEach((g, i) => {
      const here = Object.keys(g.rates ?? {}).join(',');
      if (here !== columns) {
        throw new TfjsBlocksError(
          FN,
          `options.fairness.groups[${i}].rates`,
          `the same rates as groups[0] (${columns || 'none'})`,
          here || 'none',
        );
      }
    });
  }
  return defined({
    sensitiveFeature: checkText('options.fairness.sensitiveFeature', fairness.sensitiveFeature),
    metrics,
    groups,
    notes: optionalText('options.fairness.notes', fairness.notes),
  });
}

function checkCompression(name: string, c: unknown): ModelCardCompression {
  checkOptionKeys(FN, c, COMPRESSION_KEYS, name);
  if (c === undefined) throw new TfjsBlocksError(FN, name, 'a compression object', 'undefined');
  const step = c as ModelCardCompression;
  const before = optionalNumber(`${name}.before`, step.before, {});
  const after = optionalNumber(`${name}.after`, step.after, {});
  if ((before === undefined) !== (after === undefined)) {
    const missing = before === undefined ? 'before' : 'after';
    throw new TfjsBlocksError(
      FN,
      `${name}.${missing}`,
      'both before and after, or neither',
      'only one',
    );
  }
  if (before !== undefined && step.metric === undefined) {
    throw new TfjsBlocksError(
      FN,
      `${name}.metric`,
      'the metric that before/after measure',
      'undefined',
    );
  }
  return defined({
    method: checkText(`${name}.method`, step.method),
    metric: optionalText(`${name}.metric`, step.metric),
    before,
    after,
    notes: optionalText(`${name}.notes`, step.notes),
  });
}

function checkRun(r: unknown): ModelCardRun {
  checkOptionKeys(FN, r, RUN_KEYS, 'options.run');
  const run = r as ModelCardRun;
  const nonNegative = { min: 0 };
  const energyJoules = optionalNumber('options.run.energyJoules', run.energyJoules, nonNegative);
  const source = run.energySource;
  if (
    source !== undefined &&
    source !== 'measured' &&
    source !== 'estimated' &&
    source !== 'mixed'
  ) {
    throw new TfjsBlocksError(
      FN,
      'options.run.energySource',
      "'measured', 'estimated' or 'mixed'",
      describeValue(source),
    );
  }
  if (energyJoules !== undefined && source === undefined) {
    throw new TfjsBlocksError(
      FN,
      'options.run.energySource',
      "'measured', 'estimated' or 'mixed' (with energyJoules)",
      'undefined',
    );
  }
  const type = run.trainingType;
  if (type !== undefined && type !== 'pre-training' && type !== 'fine-tuning') {
    throw new TfjsBlocksError(
      FN,
      'options.run.trainingType',
      "'pre-training' or 'fine-tuning'",
      describeValue(type),
    );
  }
  return defined({
    wallSeconds: checkNumber(FN, 'options.run.wallSeconds', run.wallSeconds, nonNegative),
    tokens: checkInteger(FN, 'options.run.tokens', run.tokens, 0),
    flops: optionalNumber('options.run.flops', run.flops, nonNegative),
    energyJoules,
    energySource: source,
    co2Grams: optionalNumber('options.run.co2Grams', run.co2Grams, nonNegative),
    gridGramsPerKwh: optionalNumber(
      'options.run.gridGramsPerKwh',
      run.gridGramsPerKwh,
      nonNegative,
    ),
    hardware: optionalText('options.run.hardware', run.hardware),
    trainingType: type,
  });
}

/** `options.run` checked, or the ledger's totals as a run (checked the same way). */
function runOf(options: ModelCardOptions): ModelCardRun | undefined {
  const { ledger } = options;
  if (ledger === undefined) return options.run === undefined ? undefined : checkRun(options.run);
  if (options.run !== undefined) {
    throw new TfjsBlocksError(FN, 'options.run', 'options.run or options.ledger, not both', 'both');
  }
  if (ledger === null || typeof ledger !== 'object' || typeof ledger.report !== 'function') {
    throw new TfjsBlocksError(
      FN,
      'options.ledger',
      'a run ledger (createRunLedger)',
      describeValue(ledger),
    );
  }
  const report = ledger.report();
  const figures: LedgerFigures = report.training.spans > 0 ? report.training : report;
  const energy = figures.energyJoules;
  return checkRun({
    wallSeconds: figures.seconds.value,
    tokens: figures.tokens.value,
    flops: figures.flops.value,
    energyJoules: energy.value,
    energySource: energy.label,
    co2Grams: figures.co2Grams.value,
    gridGramsPerKwh: report.gridIntensity,
    hardware:
      energy.label === 'measured'
        ? `energy measured by ${report.energySource}`
        : `${report.power.device}, ${report.power.watts} W power profile`,
  });
}

function checkPrivacy(p: unknown): ModelCardPrivacy {
  checkOptionKeys(FN, p, PRIVACY_KEYS, 'options.privacy');
  const privacy = p as ModelCardPrivacy;
  return defined({
    epsilon: checkNumber(FN, 'options.privacy.epsilon', privacy.epsilon, { min: 0 }),
    delta: checkNumber(FN, 'options.privacy.delta', privacy.delta, { min: 0, max: 1 }),
    noiseMultiplier: optionalNumber('options.privacy.noiseMultiplier', privacy.noiseMultiplier, {
      min: 0,
    }),
    samplingRate: optionalNumber('options.privacy.samplingRate', privacy.samplingRate, {
      min: 0,
      max: 1,
      maxInclusive: true,
    }),
  });
}

/** Checks every option before anything is computed: a bad card throws, it never prints NaN. */
function checkCard(options: ModelCardOptions): ModelCardData['card'] {
  if (options === undefined)
    throw new TfjsBlocksError(FN, 'options', 'an options object', 'undefined');
  checkOptionKeys(FN, options, MODEL_CARD_OPTION_KEYS);
  const textList = (name: string, v: unknown) =>
    v === undefined ? undefined : checkList(name, v, checkText);
  const tags = textList('options.tags', options.tags) ?? [];
  if (options.config !== undefined)
    checkOptionKeys(FN, options.config, DECODER_LM_CONFIG_KEYS, 'options.config');
  const context =
    options.context === undefined
      ? undefined
      : checkInteger(FN, 'options.context', options.context, 1);
  if (context !== undefined && options.config === undefined) {
    throw new TfjsBlocksError(FN, 'options.context', 'only with options.config', String(context));
  }
  return defined({
    name: checkText('options.name', options.name),
    summary: optionalText('options.summary', options.summary),
    config: options.config,
    context,
    license: optionalText('options.license', options.license),
    tags: ['tfjs-blocks', ...tags.filter((t) => t !== 'tfjs-blocks')],
    language: textList('options.language', options.language),
    baseModel: optionalText('options.baseModel', options.baseModel),
    datasets: textList('options.datasets', options.datasets),
    trainingData: optionalText('options.trainingData', options.trainingData),
    trainingProcedure: optionalText('options.trainingProcedure', options.trainingProcedure),
    intendedUse: optionalText('options.intendedUse', options.intendedUse),
    outOfScopeUse: optionalText('options.outOfScopeUse', options.outOfScopeUse),
    limitations: optionalText('options.limitations', options.limitations),
    evaluation:
      options.evaluation === undefined
        ? undefined
        : checkList('options.evaluation', options.evaluation, checkMetric),
    fairness: options.fairness === undefined ? undefined : checkFairness(options.fairness),
    privacy: options.privacy === undefined ? undefined : checkPrivacy(options.privacy),
    run: runOf(options),
    compression:
      options.compression === undefined
        ? undefined
        : checkList('options.compression', options.compression, checkCompression),
  });
}

// ---------------------------------------------------------------------------
// Formatting: every number goes through `formatNumber`, which only sees finite
// values (the checks above reject the rest), so no card prints NaN.

/** An integer with thousands separators; otherwise 4 significant digits, exponent form when very large or small. */
function formatNumber(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return x.toLocaleString('en-US');
  const abs = Math.abs(x);
  if (abs !== 0 && (abs >= 1e15 || abs < 1e-3)) return x.toExponential(3).replace('e+', 'e');
  return String(Number(x.toPrecision(4)));
}

/** A count with an SI prefix, `1.23 G` (4 significant digits). */
function si(x: number, unit: string): string {
  const { scaled, prefix } = siPrefix(x);
  if (prefix === '') return `${formatNumber(x)} ${unit}`;
  return `${formatNumber(Number(scaled.toPrecision(4)))} ${prefix}${unit}`;
}

function formatMetric(m: ModelCardMetric): string {
  const value = formatNumber(m.value);
  if (m.interval === undefined) return value;
  const level = Math.round((m.level ?? 0.95) * 1000) / 10;
  const boot = m.nBoot === undefined ? '' : `, ${formatNumber(m.nBoot)} bootstrap resamples`;
  return `${value} (${level}% CI ${formatNumber(m.interval[0])} – ${formatNumber(m.interval[1])}${boot})`;
}

/** A Markdown table cell: pipes escaped, line breaks folded. */
function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A YAML scalar: JSON's double-quoted strings are valid YAML. */
const yamlString = (s: string) => JSON.stringify(s);

function frontMatter(card: ModelCardData['card']): string {
  const lines = ['---'];
  const list = (key: string, values: readonly string[] | undefined) => {
    if (values === undefined || values.length === 0) return;
    lines.push(`${key}:`, ...values.map((v) => `- ${yamlString(v)}`));
  };
  if (card.license !== undefined) lines.push(`license: ${yamlString(card.license)}`);
  lines.push(`library_name: ${yamlString('tfjs-blocks')}`);
  list('language', card.language);
  list('tags', card.tags);
  list('datasets', card.datasets);
  if (card.baseModel !== undefined) lines.push(`base_model: ${yamlString(card.baseModel)}`);
  const metricNames = [
    ...(card.evaluation ?? []).map((m) => m.name),
    ...(card.fairness?.metrics ?? []).map((m) => m.name),
  ];
  list('metrics', [...new Set(metricNames)]);
  const run = card.run;
  if (run?.co2Grams !== undefined) {
    lines.push('co2_eq_emissions:', `  emissions: ${Number(run.co2Grams.toPrecision(4))}`);
    lines.push(
      `  source: ${yamlString(`tfjs-blocks run ledger (energy ${run.energySource ?? 'not recorded'})`)}`,
    );
    if (run.trainingType !== undefined)
      lines.push(`  training_type: ${yamlString(run.trainingType)}`);
    if (run.hardware !== undefined) lines.push(`  hardware_used: ${yamlString(run.hardware)}`);
  }
  lines.push('---');
  return lines.join('\n');
}

function architecture(config: DecoderLmConfig): string[] {
  const b = config.block;
  const rows: [string, string][] = [
    ['layers', formatNumber(config.numLayers)],
    ['dModel', formatNumber(b.dModel)],
    ['heads (key/value)', `${b.numHeads} (${b.numKvHeads ?? b.numHeads})`],
    ['feed-forward', `${b.feedForward.kind}, hidden ${formatNumber(b.feedForward.hidden)}`],
    ['norm', `${b.norm.kind}, ${b.normPosition ?? 'pre'}`],
    ['positions', config.positions],
    ['vocabulary', formatNumber(config.vocabSize)],
    ['max length', formatNumber(config.maxLength)],
    ['tied embeddings', config.tieEmbeddings ? 'yes' : 'no'],
  ];
  return [table(['field', 'value'], rows)];
}

function section(out: string[], title: string, body: string | undefined): void {
  if (body !== undefined) out.push(title, '', body, '');
}

/** `+0.08 (+1.9%)`: the change, and relative to `before` when that is not 0. */
function signedChange(before: number, after: number): string {
  const sign = (x: number) => (x >= 0 ? '+' : '');
  const change = after - before;
  const relative =
    before === 0
      ? ''
      : ` (${sign(change)}${formatNumber(Number(((100 * change) / Math.abs(before)).toPrecision(3)))}%)`;
  return `${sign(change)}${formatNumber(Number(change.toPrecision(4)))}${relative}`;
}

const ENERGY_LABELS = {
  measured: 'measured',
  estimated: 'estimated from a power profile',
  mixed: 'partly measured, partly estimated from a power profile',
} as const;

function render(data: ModelCardData): string {
  const c = data.card;
  const out: string[] = [frontMatter(c), '', `# Model Card for ${c.name}`, ''];
  if (c.summary !== undefined) out.push(c.summary, '');

  out.push('## Model Details', '', '### Model Description', '');
  const details: string[] = [
    '- **Library:** [tfjs-blocks](https://github.com/tfjs-blocks/tfjs-blocks)',
  ];
  if (c.config !== undefined)
    details.push('- **Model type:** decoder-only Transformer (`decoderLm`)');
  if (c.license !== undefined) details.push(`- **License:** ${c.license}`);
  if (c.language !== undefined) details.push(`- **Language(s):** ${c.language.join(', ')}`);
  if (c.baseModel !== undefined) details.push(`- **Finetuned from model:** ${c.baseModel}`);
  if (data.parameters !== undefined) {
    details.push(`- **Parameters:** ${formatNumber(data.parameters.total)}`);
  }
  out.push(details.join('\n'), '');

  const hasUses = c.intendedUse !== undefined || c.outOfScopeUse !== undefined;
  if (hasUses) {
    out.push('## Uses', '');
    section(out, '### Direct Use', c.intendedUse);
    section(out, '### Out-of-Scope Use', c.outOfScopeUse);
  }
  section(out, '## Bias, Risks, and Limitations', c.limitations);

  const hasTraining =
    c.trainingData !== undefined || c.trainingProcedure !== undefined || c.privacy !== undefined;
  if (hasTraining) {
    out.push('## Training Details', '');
    section(out, '### Training Data', c.trainingData);
    section(out, '### Training Procedure', c.trainingProcedure);
    if (c.privacy !== undefined) {
      const p = c.privacy;
      const lines = [
        `Trained with differentially private SGD: (ε, δ) = (${formatNumber(p.epsilon)}, ${formatNumber(p.delta)}), RDP accountant (improved conversion).`,
      ];
      if (p.noiseMultiplier !== undefined)
        lines.push(`- noise multiplier σ: ${formatNumber(p.noiseMultiplier)}`);
      if (p.samplingRate !== undefined)
        lines.push(`- sampling rate q: ${formatNumber(p.samplingRate)}`);
      section(out, '#### Privacy', lines.join('\n'));
    }
  }

  const hasEvaluation = c.evaluation !== undefined || c.fairness !== undefined;
  if (hasEvaluation) {
    out.push('## Evaluation', '');
    if (c.evaluation !== undefined && c.evaluation.length > 0) {
      out.push('### Results', '');
      out.push(
        table(
          ['metric', 'value', 'dataset'],
          c.evaluation.map((m) => [m.name, formatMetric(m), m.dataset ?? '']),
        ),
        '',
      );
    }
    const f = c.fairness;
    if (f !== undefined) {
      out.push('### Fairness', '', `Sensitive feature: ${f.sensitiveFeature}.`, '');
      if (f.metrics.length > 0) {
        out.push(
          table(
            ['metric', 'value', 'dataset'],
            f.metrics.map((m) => [m.name, formatMetric(m), m.dataset ?? '']),
          ),
          '',
        );
      }
      if (f.groups !== undefined && f.groups.length > 0) {
        const columns = Object.keys(f.groups[0]!.rates ?? {});
        out.push(
          table(
            ['group', 'count', ...columns],
            f.groups.map((g) => [
              String(g.group),
              formatNumber(g.count),
              ...columns.map((k) => formatNumber(g.rates![k]!)),
            ]),
          ),
          '',
        );
      }
      if (f.notes !== undefined) out.push(f.notes, '');
    }
  }

  if (c.compression !== undefined && c.compression.length > 0) {
    out.push('## Compression', '');
    out.push(
      table(
        ['method', 'metric', 'before', 'after', 'change', 'notes'],
        c.compression.map((s) => [
          s.method,
          s.metric ?? '',
          s.before === undefined ? '' : formatNumber(s.before),
          s.after === undefined ? '' : formatNumber(s.after),
          s.before === undefined || s.after === undefined ? '' : signedChange(s.before, s.after),
          s.notes ?? '',
        ]),
      ),
      '',
    );
  }

  const r = c.run;
  if (r !== undefined) {
    const hours = r.wallSeconds >= 360 ? `${formatNumber(r.wallSeconds / 3600)} hours (` : '';
    const lines = [
      `- **Wall time:** ${hours}${formatNumber(r.wallSeconds)} s${hours === '' ? '' : ')'}`,
      `- **Tokens:** ${formatNumber(r.tokens)}`,
    ];
    if (r.flops !== undefined) lines.push(`- **Compute:** ${si(r.flops, 'FLOP')}`);
    if (r.energyJoules !== undefined) {
      lines.push(
        `- **Energy:** ${formatNumber(r.energyJoules / 3.6e6)} kWh (${ENERGY_LABELS[r.energySource!]})`,
      );
    }
    if (r.co2Grams !== undefined) {
      const grid =
        r.gridGramsPerKwh === undefined ? '' : ` at ${formatNumber(r.gridGramsPerKwh)} gCO₂/kWh`;
      lines.push(`- **Carbon emitted:** ${formatNumber(r.co2Grams)} g CO₂eq${grid}`);
    }
    if (r.hardware !== undefined) lines.push(`- **Hardware Type:** ${r.hardware}`);
    section(out, '## Environmental Impact', lines.join('\n'));
  }

  if (c.config !== undefined || data.parameters !== undefined) {
    out.push('## Technical Specifications', '');
    if (c.config !== undefined) {
      out.push('### Model Architecture and Objective', '', ...architecture(c.config), '');
    }
    const sizes: string[] = [];
    const p = data.parameters;
    if (p !== undefined) {
      const parts = (
        ['embedding', 'positions', 'attention', 'feedForward', 'norms', 'head'] as const
      )
        .filter((k) => p[k] !== undefined)
        .map((k) => `${k} ${formatNumber(p[k]!)}`);
      sizes.push(
        `- **Parameters:** ${formatNumber(p.total)}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`,
      );
    }
    const f = data.flopsPerToken;
    if (f !== undefined) {
      sizes.push(
        `- **FLOPs per token** (context ${formatNumber(f.context)}): forward ${si(f.forward, 'FLOP')}, training ${si(f.training, 'FLOP')}`,
      );
    }
    out.push('### Compute', '', sizes.join('\n'), '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/**
 * A model card: what the library knows about a model — architecture,
 * parameter count and FLOPs (`modelCost`, `countParameters`), the training
 * data (described by the user), what training cost (a run ledger's totals),
 * the DP guarantee, fairness metrics with their intervals, compression and its
 * measured quality cost, intended use and limitations — as Markdown in
 * Hugging Face's `README.md` model-card layout (YAML front matter with
 * `license`, `library_name`, `tags`, `datasets`, `metrics`,
 * `co2_eq_emissions`; the sections of `huggingface_hub`'s template) and as
 * JSON. A section appears only when its data were given. Every number is
 * checked finite before anything is written, so a card never prints NaN.
 * Save `markdown` as `README.md` beside the files `savePretrained` writes so
 * it travels with the model folder. See Mitchell et al., "Model Cards for
 * Model Reporting", https://arxiv.org/abs/1810.03993.
 *
 * Options (all but `name` optional; each section is left out when absent):
 * `summary`, `config` (a `DecoderLmConfig`), `context` (FLOPs context, default
 * `config.maxLength`), `params` (counted), `license`, `tags`, `language`,
 * `baseModel`, `datasets`, `trainingData`, `trainingProcedure`, `intendedUse`,
 * `outOfScopeUse`, `limitations`, `evaluation`, `fairness`, `privacy` (e.g.
 * `fineTune`'s privacy report), `run` (a run ledger's totals), `compression`.
 *
 * @example
 * ```ts
 * const config = gpt2Config({ vocabSize: 256, maxLength: 64, dModel: 32, numLayers: 2, numHeads: 4 });
 * const { markdown, json } = modelCard({
 *   name: 'tiny-char-gpt',
 *   config,
 *   license: 'apache-2.0',
 *   trainingData: 'Shakespeare, 40k characters.',
 *   evaluation: [{ name: 'perplexity', value: 4.1, interval: [3.9, 4.4] }],
 *   privacy: { epsilon: 3, delta: 1e-5 },
 * });
 * json.parameters?.total; // modelCost(config).parameters.total
 * markdown.startsWith('---\n'); // true
 * ```
 */
export function modelCard(options: ModelCardOptions): ModelCard {
  const card = checkCard(options);
  const json: ModelCardData = { card };
  if (card.config !== undefined) {
    const context = card.context ?? card.config.maxLength;
    const cost = modelCost(card.config, { context });
    json.parameters = { ...cost.parameters };
    json.flopsPerToken = { ...cost.flopsPerToken, context };
  }
  if (options.params !== undefined) {
    const total = countParameters(options.params);
    if (json.parameters !== undefined && json.parameters.total !== total) {
      throw new TfjsBlocksError(
        FN,
        'options.params',
        `params of options.config (${formatNumber(json.parameters.total)} parameters)`,
        `${formatNumber(total)} parameters`,
      );
    }
    json.parameters ??= { total };
  }
  return { markdown: render(json), json };
}
