import { mul, Tensor, tensor, tidy } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkNumber,
  checkOptionKeys,
  checkSameShape,
  describeChoice,
  describeValue,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { type CountState, eachTensor, mapUpdatesTransform } from '../optim/transforms/stateless';
import { checkTensorMap } from '../optim/tree';
import type { GradientTransformation } from '../optim/types';
import type { Schedule } from '../schedules/schedule';
import type { TensorMap } from '../tree/types';

/** Options of {@link magnitudePruningMasks}. */
export type MagnitudePruningOptions = {
  /** Fraction of the included weights to zero, in [0, 1). */
  sparsity: number;
  /** `'global'`: one threshold over all included weights; `'per-layer'`: the same fraction in each tensor. Default `'global'`. */
  scope?: 'global' | 'per-layer';
  /** Which parameters to prune. Default: tensors of rank ≥ 2 (matrices, not biases or norms). */
  include?: (name: string, param: Tensor) => boolean;
};

const MAGNITUDE_PRUNING_KEYS = optionKeys<MagnitudePruningOptions>({
  sparsity: true,
  scope: true,
  include: true,
});

/**
 * Options of {@link nmSparsityMask}: keep `n` of every `m` consecutive weights.
 *
 * @example
 * ```ts
 * const twoOfFour: NmSparsityOptions = { n: 2, m: 4 };
 * ```
 */
export interface NmSparsityOptions {
  /** Weights kept in each group. */
  n: number;
  /** Group size. */
  m: number;
}
const NM_SPARSITY_KEYS = optionKeys<NmSparsityOptions>({ n: true, m: true });

function absValues(t: Tensor): Float32Array {
  return Float32Array.from(t.dataSync(), (v) => Math.abs(v));
}

/**
 * 0/1 masks that zero the smallest-magnitude weights (magnitude pruning),
 * for the included parameters (`{name: mask}`, float32, each the shape of its
 * parameter). Ties at the threshold are pruned in order, so exactly
 * `floor(sparsity · count)` weights go. See Han et al., https://arxiv.org/abs/1506.02626.
 *
 * @example
 * ```ts
 * const masks = magnitudePruningMasks(params, { sparsity: 0.5, scope: 'global' });
 * const pruned = applyPruningMasks(params, masks);
 * ```
 */
export function magnitudePruningMasks(
  params: TensorMap,
  options: MagnitudePruningOptions,
): TensorMap {
  const fn = 'magnitudePruningMasks';
  checkOptionKeys(fn, options, MAGNITUDE_PRUNING_KEYS);
  const sparsity = checkNumber(fn, 'options.sparsity', options?.sparsity, { min: 0, max: 1 });
  const scope = options.scope ?? 'global';
  if (scope !== 'global' && scope !== 'per-layer') {
    throw new TfjsBlocksError(
      fn,
      'options.scope',
      "'global' or 'per-layer'",
      describeChoice(scope),
    );
  }
  const include = options.include ?? ((_name: string, p: Tensor) => p.rank >= 2);
  checkTensorMap(fn, 'params', params);
  const names = Object.keys(params).filter((n) => include(n, params[n]!));
  const values = Object.fromEntries(names.map((n) => [n, absValues(params[n]!)]));
  // Rank every weight; prune the `count` smallest (a stable order breaks ties).
  const prune = (
    entries: Array<[string, number, number]>,
    count: number,
    into: Record<string, Uint8Array>,
  ) => {
    entries.sort((a, b) => a[2] - b[2] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
    for (let i = 0; i < count; i++) into[entries[i]![0]]![entries[i]![1]] = 0;
  };
  const keep: Record<string, Uint8Array> = Object.fromEntries(
    names.map((n) => [n, new Uint8Array(values[n]!.length).fill(1)]),
  );
  const entriesOf = (n: string) =>
    Array.from(values[n]!, (v, i) => [n, i, v] as [string, number, number]);
  if (scope === 'global') {
    const all = names.flatMap(entriesOf);
    prune(all, Math.floor(sparsity * all.length), keep);
  } else {
    for (const n of names) prune(entriesOf(n), Math.floor(sparsity * values[n]!.length), keep);
  }
  return Object.fromEntries(
    names.map((n) => [n, tensor(Float32Array.from(keep[n]!), params[n]!.shape)]),
  );
}

/**
 * N:M structured sparsity mask for a matrix `[in, out]`: in every group of
 * `m` consecutive inputs of each output column, keep the `n` largest
 * magnitudes (2:4 is what sparse tensor cores accelerate). See Mishra et
 * al., https://arxiv.org/abs/2104.08378.
 *
 * @example
 * ```ts
 * const mask = nmSparsityMask(kernel, { n: 2, m: 4 });
 * ```
 */
export function nmSparsityMask(weights: Tensor, options: NmSparsityOptions): Tensor {
  const fn = 'nmSparsityMask';
  checkOptionKeys(fn, options, NM_SPARSITY_KEYS);
  if (!(weights instanceof Tensor) || weights.rank !== 2 || weights.isDisposed) {
    throw new TfjsBlocksError(
      fn,
      'weights',
      'a matrix [in, out]',
      weights instanceof Tensor
        ? `${weights.isDisposed ? 'a disposed tensor of ' : ''}shape ${formatShape(weights.shape)}`
        : describeValue(weights),
    );
  }
  const m = checkInteger(fn, 'options.m', options?.m, 1);
  const n = checkInteger(fn, 'options.n', options.n, 0);
  if (n > m) throw new TfjsBlocksError(fn, 'options.n', `at most options.m (${m})`, String(n));
  const [rows, cols] = weights.shape as [number, number];
  if (rows % m !== 0)
    throw new TfjsBlocksError(fn, 'options.m', `a divisor of the input size ${rows}`, String(m));
  const w = weights.dataSync();
  const keep = new Float32Array(rows * cols);
  for (let c = 0; c < cols; c++) {
    for (let g = 0; g < rows; g += m) {
      const order = Array.from({ length: m }, (_, i) => g + i).sort(
        (a, b) => Math.abs(w[b * cols + c]!) - Math.abs(w[a * cols + c]!) || a - b,
      );
      for (let i = 0; i < n; i++) keep[order[i]! * cols + c] = 1;
    }
  }
  return tensor(keep, [rows, cols]);
}

/**
 * `param · mask` for every masked parameter (the others are returned as they
 * are). The masked tensors are new; the caller keeps ownership of the inputs.
 *
 * @example
 * ```ts
 * const pruned = applyPruningMasks(params, magnitudePruningMasks(params, { sparsity: 0.8 }));
 * ```
 */
export function applyPruningMasks(params: TensorMap, masks: TensorMap): TensorMap {
  const fn = 'applyPruningMasks';
  checkTensorMap(fn, 'params', params);
  checkTensorMap(fn, 'masks', masks);
  for (const [n, mask] of Object.entries(masks)) {
    const p = params[n];
    if (p === undefined) {
      throw new TfjsBlocksError(fn, `masks.${n}`, 'the name of a parameter', 'no such parameter');
    }
    checkSameShape(fn, `masks.${n}`, mask, `params.${n}`, p);
  }
  return tidy(() =>
    Object.fromEntries(
      Object.entries(params).map(([n, p]) => [n, masks[n] ? mul(p, masks[n]!) : p]),
    ),
  );
}

/**
 * A gradient transformation that multiplies each masked parameter's update
 * by its mask, so pruned weights (zero after {@link applyPruningMasks}) stay
 * zero while training. Put it last in a {@link chain}: after weight decay.
 *
 * @example
 * ```ts
 * const optimizer = chain(adamw({ learningRate: 1e-3 }), keepPruned(masks));
 * ```
 */
export function keepPruned(masks: TensorMap): GradientTransformation<CountState> {
  checkTensorMap('keepPruned', 'masks', masks);
  return mapUpdatesTransform(
    (updates) => eachTensor(updates, (u, name) => (masks[name] ? mul(u, masks[name]!) : mul(u, 1))),
    { name: 'keepPruned' },
  );
}

/** Options of {@link polynomialSparsitySchedule}. */
export type SparsityScheduleOptions = {
  /** Sparsity at `beginStep`. Default `0`. */
  initialSparsity?: number;
  /** Sparsity from `endStep` on. */
  finalSparsity: number;
  /** First pruning step. Default `0`. */
  beginStep?: number;
  /** Step at which `finalSparsity` is reached. */
  endStep: number;
  /** Exponent of the ramp. Default `3`. */
  power?: number;
};

const SPARSITY_SCHEDULE_KEYS = optionKeys<SparsityScheduleOptions>({
  initialSparsity: true,
  finalSparsity: true,
  beginStep: true,
  endStep: true,
  power: true,
});

/**
 * Gradual pruning's sparsity ramp (Zhu & Gupta, https://arxiv.org/abs/1710.01878):
 * `s_t = s_f + (s_i - s_f) · (1 - (t - t₀) / (t₁ - t₀))^power` between the
 * two steps, constant outside.
 *
 * @example
 * ```ts
 * const sparsityAt = polynomialSparsitySchedule({ finalSparsity: 0.9, beginStep: 100, endStep: 1000 });
 * const masks = magnitudePruningMasks(params, { sparsity: sparsityAt(step) });
 * ```
 */
export function polynomialSparsitySchedule(options: SparsityScheduleOptions): Schedule {
  const fn = 'polynomialSparsitySchedule';
  checkOptionKeys(fn, options, SPARSITY_SCHEDULE_KEYS);
  const initial = checkNumber(fn, 'options.initialSparsity', options?.initialSparsity ?? 0, {
    min: 0,
    max: 1,
  });
  const final = checkNumber(fn, 'options.finalSparsity', options.finalSparsity, { min: 0, max: 1 });
  const begin = checkInteger(fn, 'options.beginStep', options.beginStep ?? 0, 0);
  const end = checkInteger(fn, 'options.endStep', options.endStep, begin + 1);
  const power = checkNumber(fn, 'options.power', options.power ?? 3, {
    min: 0,
    minExclusive: true,
  });
  return (step: number) => {
    const t = Math.min(Math.max(step, begin), end);
    return final + (initial - final) * (1 - (t - begin) / (end - begin)) ** power;
  };
}
