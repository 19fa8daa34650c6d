/**
 * The run ledger: what a training run or a generation actually cost — wall
 * time, tokens, FLOPs, energy and CO₂ — recorded span by span, saved with
 * checkpoints and summed across resumed runs. Browser-safe: energy is
 * measured only through an {@link EnergySource} the caller passes (Node's
 * `raplEnergySource` reads Linux RAPL counters); without one, or when it
 * cannot read, energy is estimated from a power profile and labelled so.
 */
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkNumber,
  checkOptionKeys,
  describeValue,
  optionKeys,
} from '../internal/checks';
import { siPrefix } from '../internal/si-prefix';
import type { DecoderLmConfig } from '../models/decoder-lm';
import { DEFAULT_GRID_INTENSITY, modelCost } from './cost';

/** Whether a figure was measured (clock, counters, counted tokens) or estimated (a model of the hardware). */
export type FigureLabel = 'measured' | 'estimated';

/**
 * A source of measured energy, e.g. `raplEnergySource()` of `tfjs-blocks/node`.
 *
 * @example
 * ```ts
 * let joules = 0;
 * const meter: EnergySource = { name: 'my meter', readJoules: () => (joules += 1) };
 * ```
 */
export interface EnergySource {
  /** What measures, for the report (e.g. `'rapl (1 package)'`). */
  readonly name: string;
  /**
   * Joules consumed since an arbitrary fixed origin (only differences are
   * used), or `undefined` when the counters cannot be read now: the span is
   * then estimated from the power profile.
   */
  readJoules(): number | undefined;
}

/** The device's average power draw while running, for estimated energy. */
export type PowerProfile = {
  /** Watts (> 0). */
  watts: number;
  /** What it describes, for the report. Default `'custom'`. */
  device?: string;
};

/**
 * The power profile used when none is given: 65 W, a desktop CPU package
 * under load (a laptop CPU draws 15–45 W, a data-centre GPU 300–700 W: set
 * yours).
 *
 * @example
 * ```ts
 * const ledger = createRunLedger({ flopsPerToken: 1e6, power: { ...DEFAULT_POWER_PROFILE, watts: 30 } });
 * ```
 */
export const DEFAULT_POWER_PROFILE: Readonly<Required<PowerProfile>> = Object.freeze({
  watts: 65,
  device: 'default (65 W desktop CPU package)',
});

/** What a span ran: training steps (forward and backward) or inference (forward only). */
export type SpanKind = 'training' | 'inference';

/** Options of {@link createRunLedger}. Give `model` or `flopsPerToken`. */
export type RunLedgerOptions = {
  /** The model's config: FLOPs per token come from `modelCost` (`training` and `forward`). */
  model?: DecoderLmConfig;
  /** FLOPs per token, instead of `model`: one number for both kinds, or one per kind. */
  flopsPerToken?:
    | number
    | {
        /** FLOPs per training token (forward and backward). */
        training: number;
        /** FLOPs per inference token (forward). */
        inference: number;
      };
  /** Tokens of context for `modelCost`'s attention FLOPs. Default: the config's `maxLength`. */
  context?: number;
  /** Power profile for estimated energy. Default {@link DEFAULT_POWER_PROFILE} (65 W). */
  power?: PowerProfile;
  /** Grid carbon intensity, grams of CO₂ per kWh. Default `475` ({@link DEFAULT_GRID_INTENSITY}). */
  gridIntensity?: number;
  /** Measured energy (e.g. RAPL). Default: none, every span's energy is estimated. */
  energySource?: EnergySource;
  /** A saved {@link RunLedger.toJSON} to continue from (its totals are added). Default: empty. */
  state?: RunLedgerState;
  /** Milliseconds for span timing. Default `performance.now`. */
  clock?: () => number;
};

const OPTION_KEYS = optionKeys<RunLedgerOptions>({
  model: true,
  flopsPerToken: true,
  context: true,
  power: true,
  gridIntensity: true,
  energySource: true,
  state: true,
  clock: true,
});
const POWER_KEYS = optionKeys<PowerProfile>({ watts: true, device: true });

/** One span, as given to {@link RunLedger.record}. */
export type LedgerSpan = {
  /** Training or inference. */
  kind: SpanKind;
  /** Tokens processed (integer >= 0). */
  tokens: number;
  /** Wall-clock seconds (>= 0). */
  seconds: number;
  /** Measured joules, if you measured them; otherwise estimated as `seconds · watts`. */
  joules?: number;
};

const SPAN_KEYS = optionKeys<LedgerSpan>({ kind: true, tokens: true, seconds: true, joules: true });

/** Sums over the spans of one kind: what {@link RunLedgerState} saves. */
export type LedgerTotals = {
  /** Spans recorded. */
  spans: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** Tokens. */
  tokens: number;
  /** FLOPs (tokens × FLOPs per token). */
  flops: number;
  /** Joules of the spans whose energy was measured. */
  measuredJoules: number;
  /** Joules of the spans whose energy was estimated (seconds × watts). */
  estimatedJoules: number;
  /** Grams of CO₂ (joules × grid intensity at the time of recording). */
  co2Grams: number;
};

/** A ledger's saved form (plain JSON): {@link RunLedger.toJSON}. */
export type RunLedgerState = {
  /** Format tag. */
  format: 'tfjs-blocks/run-ledger';
  /** Format version. */
  version: 1;
  /** Training spans. */
  training: LedgerTotals;
  /** Inference spans. */
  inference: LedgerTotals;
};

/** A figure of the report with how it was obtained; `mixed` when some spans measured and others estimated. */
export type LedgerFigure = {
  /** The figure. */
  value: number;
  /** How it was obtained: measured, estimated, or mixed (a sum of both). */
  label: FigureLabel | 'mixed';
};

/** The figures of {@link RunLedger.report}, for all spans or one kind. */
export type LedgerFigures = {
  /** Spans recorded. */
  spans: number;
  /** Wall-clock seconds: measured. */
  seconds: LedgerFigure;
  /** Tokens: measured (counted). */
  tokens: LedgerFigure;
  /** FLOPs: estimated (an analytic count from the model's shapes). */
  flops: LedgerFigure;
  /** Joules: measured, estimated or mixed. */
  energyJoules: LedgerFigure;
  /** Kilowatt-hours (the same energy). */
  energyKwh: LedgerFigure;
  /** Of `energyJoules`, the measured part. */
  measuredJoules: number;
  /** Grams of CO₂: estimated (a grid average). */
  co2Grams: LedgerFigure;
};

/** What {@link RunLedger.report} returns. */
export type LedgerReport = LedgerFigures & {
  /** Per kind. */
  training: LedgerFigures;
  /** Per kind. */
  inference: LedgerFigures;
  /** The power profile used for estimated energy. */
  power: Required<PowerProfile>;
  /** Grams of CO₂ per kWh used for new spans. */
  gridIntensity: number;
  /** The energy source's name, or `'none'`. */
  energySource: string;
};

/** One recorded span, as the ledger counted it. */
export type LedgerEntry = {
  /** Training or inference. */
  kind: SpanKind;
  /** Tokens. */
  tokens: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** FLOPs. */
  flops: number;
  /** Joules. */
  joules: number;
  /** Whether `joules` was measured or estimated. */
  energy: FigureLabel;
  /** Grams of CO₂. */
  co2Grams: number;
};

/** An open span from {@link RunLedger.start}: `end` records it. */
export type LedgerTimer = {
  /** Stops the clock and the energy counter and records the span with `tokens`. */
  end(tokens: number): LedgerEntry;
};

/** What {@link createRunLedger} returns. */
export interface RunLedger {
  /** Starts a span now (the wall clock and, if given, the energy source). */
  start(kind: SpanKind): LedgerTimer;
  /** Records a span you timed yourself (for your own loops). */
  record(span: LedgerSpan): LedgerEntry;
  /** Adds another ledger's totals (a resumed run's earlier part, another worker). */
  merge(other: RunLedger | RunLedgerState): void;
  /** The totals, each figure labelled measured or estimated. */
  report(): LedgerReport;
  /** One Markdown line of the totals, with the labels. */
  summary(): string;
  /** The totals as plain JSON, for checkpoints (`createRunLedger({ state })` restores). */
  toJSON(): RunLedgerState;
}

const KINDS: readonly SpanKind[] = ['training', 'inference'];

function emptyTotals(): LedgerTotals {
  return {
    spans: 0,
    seconds: 0,
    tokens: 0,
    flops: 0,
    measuredJoules: 0,
    estimatedJoules: 0,
    co2Grams: 0,
  };
}

const TOTAL_KEYS = optionKeys<LedgerTotals>({
  spans: true,
  seconds: true,
  tokens: true,
  flops: true,
  measuredJoules: true,
  estimatedJoules: true,
  co2Grams: true,
});
const STATE_KEYS = optionKeys<RunLedgerState>({
  format: true,
  version: true,
  training: true,
  inference: true,
});

/** Checks a saved state and returns a copy of it. */
function checkState(fn: string, argument: string, state: unknown): RunLedgerState {
  checkOptionKeys(fn, state, STATE_KEYS, argument);
  const s = state as RunLedgerState;
  if (s === undefined || s.format !== 'tfjs-blocks/run-ledger' || s.version !== 1) {
    throw new TfjsBlocksError(
      fn,
      argument,
      "a run ledger state (format 'tfjs-blocks/run-ledger', version 1)",
      describeValue(state),
    );
  }
  const copy: RunLedgerState = {
    format: s.format,
    version: 1,
    training: emptyTotals(),
    inference: emptyTotals(),
  };
  for (const kind of KINDS) {
    const totals = s[kind];
    const where = `${argument}.${kind}`;
    checkOptionKeys(fn, totals, TOTAL_KEYS, where);
    if (totals === undefined) throw new TfjsBlocksError(fn, where, 'totals', 'undefined');
    for (const key of TOTAL_KEYS as (keyof LedgerTotals)[]) {
      copy[kind][key] =
        key === 'spans' || key === 'tokens'
          ? checkInteger(fn, `${where}.${key}`, totals[key], 0)
          : checkNumber(fn, `${where}.${key}`, totals[key], { min: 0 });
    }
  }
  return copy;
}

function checkKind(fn: string, argument: string, kind: unknown): SpanKind {
  if (kind !== 'training' && kind !== 'inference') {
    throw new TfjsBlocksError(fn, argument, "'training' or 'inference'", describeValue(kind));
  }
  return kind;
}

function checkFlopsPerToken(fn: string, options: RunLedgerOptions): Record<SpanKind, number> {
  const { model, flopsPerToken } = options;
  if (model !== undefined && flopsPerToken !== undefined) {
    throw new TfjsBlocksError(fn, 'options.flopsPerToken', 'absent when model is given', 'both');
  }
  if (model !== undefined) {
    const cost = modelCost(
      model,
      options.context === undefined ? {} : { context: options.context },
    ).flopsPerToken;
    return { training: cost.training, inference: cost.forward };
  }
  if (options.context !== undefined) {
    throw new TfjsBlocksError(fn, 'options.context', 'only with options.model', 'given without it');
  }
  const positive = { min: 0, minExclusive: true };
  if (typeof flopsPerToken === 'number') {
    const f = checkNumber(fn, 'options.flopsPerToken', flopsPerToken, positive);
    return { training: f, inference: f };
  }
  if (flopsPerToken === null || typeof flopsPerToken !== 'object') {
    throw new TfjsBlocksError(
      fn,
      'options.model',
      'a DecoderLmConfig, or options.flopsPerToken',
      describeValue(model),
    );
  }
  checkOptionKeys(fn, flopsPerToken, KINDS, 'options.flopsPerToken');
  return {
    training: checkNumber(fn, 'options.flopsPerToken.training', flopsPerToken.training, positive),
    inference: checkNumber(
      fn,
      'options.flopsPerToken.inference',
      flopsPerToken.inference,
      positive,
    ),
  };
}

function checkEnergySource(fn: string, source: unknown): EnergySource | undefined {
  if (source === undefined) return undefined;
  const s = source as Partial<EnergySource> | null;
  if (
    s === null ||
    typeof s !== 'object' ||
    typeof s.readJoules !== 'function' ||
    typeof s.name !== 'string'
  ) {
    throw new TfjsBlocksError(
      fn,
      'options.energySource',
      'an energy source { name, readJoules() }',
      describeValue(source),
    );
  }
  return s as EnergySource;
}

/** A reading of the source, or `undefined` if it cannot read (or returns something unusable). */
function read(source: EnergySource | undefined): number | undefined {
  if (source === undefined) return undefined;
  let joules: unknown;
  try {
    joules = source.readJoules();
  } catch {
    return undefined;
  }
  return typeof joules === 'number' && Number.isFinite(joules) ? joules : undefined;
}

function figures(totals: readonly LedgerTotals[]): LedgerFigures {
  const sum = (key: keyof LedgerTotals) => totals.reduce((s, t) => s + t[key], 0);
  const measured = sum('measuredJoules');
  const estimated = sum('estimatedJoules');
  const joules = measured + estimated;
  const energy: LedgerFigure['label'] =
    estimated === 0 && measured > 0 ? 'measured' : measured > 0 ? 'mixed' : 'estimated';
  return {
    spans: sum('spans'),
    seconds: { value: sum('seconds'), label: 'measured' },
    tokens: { value: sum('tokens'), label: 'measured' },
    flops: { value: sum('flops'), label: 'estimated' },
    energyJoules: { value: joules, label: energy },
    energyKwh: { value: joules / 3.6e6, label: energy },
    measuredJoules: measured,
    co2Grams: { value: sum('co2Grams'), label: 'estimated' },
  };
}

/** A number for the summary line: 3 significant digits with a unit prefix. */
function si(value: number, unit: string): string {
  const { scaled, prefix } = siPrefix(value);
  if (prefix === '') return `${Number(value.toPrecision(3))} ${unit}`;
  return `${scaled.toPrecision(3)} ${prefix}${unit}`;
}

/**
 * A run ledger: records what a run cost, span by span — wall time and
 * tokens (measured), FLOPs (estimated: tokens × `modelCost`'s training or
 * forward FLOPs per token), energy (measured from `energySource` when it
 * reads, otherwise estimated as seconds × `power.watts`) and CO₂ (estimated:
 * kWh × `gridIntensity`) — and reports each figure labelled `measured` or
 * `estimated` (`mixed` when spans differ). Its state is plain JSON
 * (`toJSON()`), saved with `fineTune`'s checkpoints and summed across a
 * resume (`merge`, or `createRunLedger({ state })`).
 *
 * Hooks: `fineTune({ ledger })` records each optimizer step;
 * `generate(…, { ledger })` records each call's generated tokens; your own
 * loop calls `ledger.start(kind)` … `.end(tokens)`, or `ledger.record(…)`.
 *
 * A measured energy source (RAPL) counts the whole CPU package, not only
 * this process: run on a quiet machine for figures that mean something. See
 * CodeCarbon's methodology (https://mlco2.github.io/codecarbon/methodology.html)
 * and Strubell et al., https://arxiv.org/abs/1906.02243.
 *
 * @param options - `model` (a `DecoderLmConfig`) or `flopsPerToken`;
 *   `context` (default the config's `maxLength`), `power` (default 65 W),
 *   `gridIntensity` (g CO₂/kWh, default 475), `energySource` (default none),
 *   `state` (a saved ledger to continue), `clock` (ms, default `performance.now`).
 * @throws TfjsBlocksError on bad options (naming e.g. `options.power.watts`).
 * @example
 * ```ts
 * const config = gpt2Config({ vocabSize: 258, maxLength: 32, dModel: 32, numHeads: 2, numLayers: 2 });
 * const ledger = createRunLedger({ model: config, power: { watts: 30, device: 'laptop' }, gridIntensity: 300 });
 * const timer = ledger.start('training');
 * // ... one training step over 256 tokens ...
 * timer.end(256);
 * ledger.record({ kind: 'inference', tokens: 50, seconds: 0.8 });
 * console.log(ledger.summary());
 * const saved = JSON.stringify(ledger.toJSON());
 * const resumed = createRunLedger({ model: config, state: JSON.parse(saved) });
 * ```
 */
export function createRunLedger(options: RunLedgerOptions): RunLedger {
  const fn = 'createRunLedger';
  checkOptionKeys(fn, options, OPTION_KEYS);
  if (options === undefined) {
    throw new TfjsBlocksError(
      fn,
      'options',
      'an options object with model or flopsPerToken',
      'undefined',
    );
  }
  const flopsPerToken = checkFlopsPerToken(fn, options);
  let power: Required<PowerProfile> = { ...DEFAULT_POWER_PROFILE };
  if (options.power !== undefined) {
    checkOptionKeys(fn, options.power, POWER_KEYS, 'options.power');
    const watts = checkNumber(fn, 'options.power.watts', options.power?.watts, {
      min: 0,
      minExclusive: true,
    });
    const device = options.power.device ?? 'custom';
    if (typeof device !== 'string') {
      throw new TfjsBlocksError(fn, 'options.power.device', 'a string', describeValue(device));
    }
    power = { watts, device };
  }
  const grid = checkNumber(
    fn,
    'options.gridIntensity',
    options.gridIntensity ?? DEFAULT_GRID_INTENSITY,
    {
      min: 0,
    },
  );
  const source = checkEnergySource(fn, options.energySource);
  const clock = options.clock ?? (() => performance.now());
  if (typeof clock !== 'function') {
    throw new TfjsBlocksError(fn, 'options.clock', 'a function', describeValue(clock));
  }
  const totals: Record<SpanKind, LedgerTotals> = {
    training: emptyTotals(),
    inference: emptyTotals(),
  };
  const add = (state: RunLedgerState) => {
    for (const kind of KINDS) {
      for (const key of TOTAL_KEYS as (keyof LedgerTotals)[]) totals[kind][key] += state[kind][key];
    }
  };
  const toJSON = (): RunLedgerState => ({
    format: 'tfjs-blocks/run-ledger',
    version: 1,
    training: { ...totals.training },
    inference: { ...totals.inference },
  });
  if (options.state !== undefined) add(checkState(fn, 'options.state', options.state));

  const count = (kind: SpanKind, tokens: number, seconds: number, measured?: number) => {
    const joules = measured ?? seconds * power.watts;
    const entry: LedgerEntry = {
      kind,
      tokens,
      seconds,
      flops: tokens * flopsPerToken[kind],
      joules,
      energy: measured === undefined ? 'estimated' : 'measured',
      co2Grams: (joules / 3.6e6) * grid,
    };
    const t = totals[kind];
    t.spans++;
    t.tokens += tokens;
    t.seconds += seconds;
    t.flops += entry.flops;
    if (measured === undefined) t.estimatedJoules += joules;
    else t.measuredJoules += joules;
    t.co2Grams += entry.co2Grams;
    return entry;
  };

  const ledger: RunLedger = {
    start(kind) {
      checkKind('RunLedger.start', 'kind', kind);
      const startedMs = clock();
      const startJoules = read(source);
      let ended = false;
      return {
        end(tokens) {
          const f = 'LedgerTimer.end';
          checkInteger(f, 'tokens', tokens, 0);
          if (ended) throw new TfjsBlocksError(f, 'this', 'a span not yet ended', 'ended');
          ended = true;
          const seconds = Math.max(0, (clock() - startedMs) / 1000);
          const endJoules = startJoules === undefined ? undefined : read(source);
          const measured =
            endJoules === undefined || startJoules === undefined || endJoules < startJoules
              ? undefined
              : endJoules - startJoules;
          return count(kind, tokens, seconds, measured);
        },
      };
    },
    record(span) {
      const f = 'RunLedger.record';
      checkOptionKeys(f, span, SPAN_KEYS, 'span');
      if (span === undefined) throw new TfjsBlocksError(f, 'span', 'a span', 'undefined');
      const kind = checkKind(f, 'span.kind', span.kind);
      const tokens = checkInteger(f, 'span.tokens', span.tokens, 0);
      const seconds = checkNumber(f, 'span.seconds', span.seconds, { min: 0 });
      const joules =
        span.joules === undefined
          ? undefined
          : checkNumber(f, 'span.joules', span.joules, { min: 0 });
      return count(kind, tokens, seconds, joules);
    },
    merge(other) {
      const state =
        other !== null &&
        typeof other === 'object' &&
        typeof (other as RunLedger).toJSON === 'function'
          ? (other as RunLedger).toJSON()
          : other;
      add(checkState('RunLedger.merge', 'other', state));
    },
    report() {
      return {
        ...figures([totals.training, totals.inference]),
        training: figures([totals.training]),
        inference: figures([totals.inference]),
        power: { ...power },
        gridIntensity: grid,
        energySource: source?.name ?? 'none',
      };
    },
    summary() {
      const r = ledger.report();
      const by = source === undefined ? '' : ` by ${source.name}`;
      const energyHow =
        r.energyJoules.label === 'measured'
          ? `measured${by}`
          : r.energyJoules.label === 'mixed'
            ? `mixed: ${si(r.measuredJoules, 'J')} measured${by}, the rest estimated at ${power.watts} W`
            : `estimated: ${power.watts} W, ${power.device}`;
      return (
        `${r.spans} spans · ${Number(r.seconds.value.toPrecision(4))} s (measured) · ` +
        `${r.tokens.value} tokens (measured) · ${si(r.flops.value, 'FLOP')} (estimated) · ` +
        `${si(r.energyJoules.value, 'J')} (${energyHow}) · ` +
        `${Number(r.co2Grams.value.toPrecision(3))} g CO₂ (estimated: ${grid} g/kWh)`
      );
    },
    toJSON,
  };
  return ledger;
}
