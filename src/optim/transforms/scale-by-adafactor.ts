import {
  add,
  expandDims,
  maximum,
  mean,
  mul,
  pow,
  rsqrt,
  scalar,
  sqrt,
  square,
  type Tensor,
  tidy,
  zeros,
} from '@tensorflow/tfjs-core';
import {
  checkFlag,
  checkInteger,
  checkNumber,
  checkOptionKeys,
  optionKeys,
} from '../../internal/checks';
import { emptyRecord } from '../../internal/records';
import type { TensorMap } from '../../tree/types';
import { checkEpsilon } from '../hyperparameters';
import { checkShapes, shapesOf } from '../tree';
import type { GradientTransformation } from '../types';
import { type CountState, eachTensor, mapUpdatesTransform } from './stateless';

/** Options of {@link scaleByAdafactor}. */
export interface ScaleByAdafactorOptions {
  /** Exponent of the second-moment decay `1 - (t + 1)^(-decayRate)`. Default `0.8`. */
  decayRate?: number;
  /**
   * Steps subtracted from the count in that decay (for a state restored from
   * earlier training). Steps up to the offset decay as the first step does
   * (optax: NaN there). Default `0`.
   */
  decayOffset?: number;
  /** Factor a tensor only when its two largest dimensions are at least this. Default `128`. */
  minDimSizeToFactor?: number;
  /** Added to `g²`: a number > 0 (with 0, a zero gradient gives 0 · Infinity = NaN). Default `1e-30`. */
  epsilon?: number;
  /** Factor the second moment of matrices. Default `true`. */
  factored?: boolean;
}

/** The option names of {@link ScaleByAdafactorOptions}, for `checkOptionKeys`. */
export const SCALE_BY_ADAFACTOR_KEYS = optionKeys<ScaleByAdafactorOptions>({
  decayRate: true,
  decayOffset: true,
  minDimSizeToFactor: true,
  epsilon: true,
  factored: true,
});

/** State of {@link scaleByAdafactor}: per parameter, either row/column statistics or a full second moment. */
export type AdafactorState = {
  /** Steps taken so far. */
  count: number;
  /** The parameters' shapes, by name. */
  shapes: Record<string, number[]>;
  /** Row statistics (factored parameters). */
  vRow: TensorMap;
  /** Column statistics (factored parameters). */
  vCol: TensorMap;
  /** Full second moment (unfactored parameters). */
  v: TensorMap;
};

/** The two dimensions to factor over, `[secondLargest, largest]`, or undefined. */
function factoredDims(
  shape: number[],
  factored: boolean,
  minDim: number,
): [number, number] | undefined {
  if (!factored || shape.length < 2) return undefined;
  // Array.prototype.sort is stable: equal sizes keep their axis order (the later axis counts as larger).
  const order = shape.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0]);
  const [secondSize, second] = order[order.length - 2]!;
  const [, largest] = order[order.length - 1]!;
  return secondSize < minDim ? undefined : [second, largest];
}

/**
 * Adafactor's direction `g / sqrt(v̂)`, with `v̂` factored into row and
 * column statistics for matrices (memory O(n + m) instead of O(n·m)) and
 * the decay `1 - t^(-0.8)`, as optax's `scale_by_factored_rms`. See Shazeer
 * & Stern, https://arxiv.org/abs/1804.04235.
 *
 * @example
 * ```ts
 * const optimizer = chain(scaleByAdafactor(), scaleByLearningRate(1e-2));
 * ```
 */
export function scaleByAdafactor(
  options: ScaleByAdafactorOptions = {},
): GradientTransformation<AdafactorState> {
  const fn = 'scaleByAdafactor';
  checkOptionKeys(fn, options, SCALE_BY_ADAFACTOR_KEYS);
  const decayRate = checkNumber(fn, 'options.decayRate', options.decayRate ?? 0.8, { min: 0 });
  const decayOffset = checkInteger(fn, 'options.decayOffset', options.decayOffset ?? 0, 0);
  const minDim = checkInteger(
    fn,
    'options.minDimSizeToFactor',
    options.minDimSizeToFactor ?? 128,
    1,
  );
  const epsilon = checkEpsilon(fn, 'options.epsilon', options.epsilon ?? 1e-30);
  const factored = checkFlag(fn, 'options.factored', options.factored, true);
  const dimsOf = (p: Tensor) => factoredDims(p.shape, factored, minDim);
  return {
    init(params) {
      return tidy(() => {
        const state: AdafactorState = {
          count: 0,
          shapes: shapesOf(params),
          vRow: emptyRecord(),
          vCol: emptyRecord(),
          v: emptyRecord(),
        };
        for (const [name, p] of Object.entries(params)) {
          const dims = dimsOf(p);
          if (dims) {
            const [d1, d0] = dims;
            state.vRow[name] = zeros(p.shape.filter((_, i) => i !== d0));
            state.vCol[name] = zeros(p.shape.filter((_, i) => i !== d1));
          } else {
            state.v[name] = zeros(p.shape);
          }
        }
        return state;
      });
    },
    update(grads, state, _params) {
      checkShapes(fn, 'grads', grads, state.shapes, 'the optimizer state');
      const count = state.count + 1;
      // At or before the offset, (count - offset) ** -rate is Infinity or NaN: such steps
      // count as the first one (decay 0: the estimate is this step's g²).
      const decay = 1 - Math.max(count - decayOffset, 1) ** -decayRate;
      return tidy(() => {
        const next: AdafactorState = {
          count,
          shapes: structuredClone(state.shapes),
          vRow: emptyRecord(),
          vCol: emptyRecord(),
          v: emptyRecord(),
        };
        const updates = emptyRecord<Tensor>();
        for (const [name, g] of Object.entries(grads)) {
          const gradSquare = add(square(g), epsilon);
          const dims = dimsOf(g);
          if (dims) {
            const [d1, d0] = dims;
            const vRow = add(mul(state.vRow[name]!, decay), mul(mean(gradSquare, d0), 1 - decay));
            const vCol = add(mul(state.vCol[name]!, decay), mul(mean(gradSquare, d1), 1 - decay));
            const reducedD1 = d1 > d0 ? d1 - 1 : d1;
            const rowFactor = rsqrt(mul(vRow, pow(mean(vRow, reducedD1, true), scalar(-1))));
            const colFactor = rsqrt(vCol);
            updates[name] = mul(mul(g, expandDims(rowFactor, d0)), expandDims(colFactor, d1));
            next.vRow[name] = vRow;
            next.vCol[name] = vCol;
          } else {
            const v = add(mul(state.v[name]!, decay), mul(gradSquare, 1 - decay));
            updates[name] = mul(g, rsqrt(v));
            next.v[name] = v;
          }
        }
        return { updates, state: next };
      });
    },
  };
}

/**
 * Divides each update by `max(1, rms(update) / threshold)` (Adafactor's
 * update clipping, optax's `clip_by_block_rms`).
 *
 * @example
 * ```ts
 * const optimizer = chain(scaleByAdafactor(), clipByBlockRms(1), scaleByLearningRate(1e-2));
 * ```
 */
export function clipByBlockRms(threshold: number): GradientTransformation<CountState> {
  const limit = checkNumber('clipByBlockRms', 'threshold', threshold, {
    min: 0,
    minExclusive: true,
  });
  return mapUpdatesTransform(
    (updates) =>
      eachTensor(updates, (u) =>
        mul(u, pow(maximum(scalar(1), mul(sqrt(mean(square(u))), 1 / limit)), scalar(-1))),
      ),
    { name: 'clipByBlockRms' },
  );
}

/**
 * Multiplies each update by `max(rms(param), minScale)` (Adafactor's relative
 * step, optax's `scale_by_param_block_rms`).
 *
 * @example
 * ```ts
 * const optimizer = chain(scaleByAdafactor(), scaleByLearningRate(1e-2), scaleByParamBlockRms());
 * ```
 */
export function scaleByParamBlockRms(minScale = 1e-3): GradientTransformation<CountState> {
  const floor = checkNumber('scaleByParamBlockRms', 'minScale', minScale, { min: 0 });
  return mapUpdatesTransform(
    (updates, _step, params) =>
      eachTensor(updates, (u, name) => mul(u, maximum(sqrt(mean(square(params![name]!))), floor))),
    { name: 'scaleByParamBlockRms', needsParams: true },
  );
}
