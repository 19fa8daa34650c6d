import {
  add,
  dispose,
  grads as gradsOf,
  keep,
  matMul,
  mul,
  reshape,
  type Scalar,
  slice,
  stack,
  sum,
  Tensor,
  type Tensor1D,
  type Tensor2D,
  tidy,
  zerosLike,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkOptionKeys,
  describeValue,
  optionKeys,
  sharedLeadingDim,
} from '../internal/checks';
import { customGradient } from '../internal/custom-gradient';
import { type LinearParams, linear, linearConfigOf } from '../nn/linear';
import type { TensorMap } from '../tree/types';

/**
 * Lets a loss function route its affine maps through the per-example
 * gradient machinery. Under {@link perExampleGradients} it is plain
 * {@link linear}; under {@link perExampleGradientsOfLinearLayers} it records
 * what each example's gradient needs.
 */
export interface LinearTape {
  /**
   * `x · params['<layer>.kernel'] + params['<layer>.bias']` (the bias only if
   * the map has it), over the last axis of `x: [batch, ..., inFeatures]`.
   */
  linear(layer: string, x: Tensor): Tensor;
}

/**
 * A loss with one value per example: `(params, batch, tape) => losses` where
 * `losses` is `[batch]` and example `i`'s loss depends only on row `i` of
 * each `batch` tensor (no batch norm, no mean over the batch inside).
 */
export type PerExampleLoss = (params: TensorMap, batch: TensorMap, tape: LinearTape) => Tensor;

/** Options of {@link perExampleGradients}. */
export interface PerExampleGradientsOptions {
  /**
   * Examples per microbatch (TF Privacy's `num_microbatches` = batch /
   * this). Each microbatch gets the gradient of its MEAN loss, so the result
   * has `batch / microbatchSize` rows and DP-SGD clips microbatches instead
   * of examples (coarser clipping, fewer backward passes). Default 1.
   */
  microbatchSize?: number;
}

function checkParams(fn: string, params: unknown): string[] {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw new TfjsBlocksError(
      fn,
      'params',
      'a map of named float32 tensors',
      describeValue(params),
    );
  }
  const names = Object.keys(params);
  if (names.length === 0) {
    throw new TfjsBlocksError(fn, 'params', 'at least one named tensor', 'an empty map');
  }
  for (const name of names) {
    const p = (params as TensorMap)[name];
    if (!(p instanceof Tensor) || p.isDisposed || p.dtype !== 'float32') {
      const got = p instanceof Tensor && p.isDisposed ? 'a disposed tensor' : describeValue(p);
      throw new TfjsBlocksError(fn, `params.${name}`, 'a float32 tensor', got);
    }
  }
  return names;
}

/** Checks the batch tensors share a leading dimension and returns it. */
function checkBatch(fn: string, batch: unknown): number {
  if (batch === null || typeof batch !== 'object' || Array.isArray(batch)) {
    throw new TfjsBlocksError(fn, 'batch', 'a map of named tensors', describeValue(batch));
  }
  const entries = Object.entries(batch as TensorMap);
  if (entries.length === 0) {
    throw new TfjsBlocksError(fn, 'batch', 'at least one named tensor', 'an empty map');
  }
  for (const [name, t] of entries) {
    if (!(t instanceof Tensor) || t.isDisposed || t.rank === 0) {
      const got = t instanceof Tensor && t.isDisposed ? 'a disposed tensor' : describeValue(t);
      throw new TfjsBlocksError(fn, `batch.${name}`, 'a tensor of rank >= 1 [batch, ...]', got);
    }
  }
  const size = sharedLeadingDim(fn, 'batch', batch as TensorMap);
  if (size === 0) throw new TfjsBlocksError(fn, 'batch', 'at least one example', 'batch size 0');
  return size;
}

function checkLosses(fn: string, losses: unknown, size: number): Tensor {
  if (!(losses instanceof Tensor) || losses.rank !== 1 || losses.shape[0] !== size) {
    throw new TfjsBlocksError(
      fn,
      'loss(params, batch, tape)',
      `a tensor of per-example losses of shape [${size}]`,
      describeValue(losses),
    );
  }
  return losses;
}

/** Rethrows tfjs's "no path from x to y" as our error, naming the map. */
function unreachable(fn: string, e: unknown): never {
  if (e instanceof Error && /Cannot compute gradient/.test(e.message)) {
    throw new TfjsBlocksError(
      fn,
      'params',
      'tensors that the loss depends on, every one of them',
      'a parameter the loss does not use',
    );
  }
  throw e;
}

/**
 * `tf.grads(f)(xs)`, except that an error thrown inside `f` (a loss of the
 * wrong shape, a bad `tape.linear` call, the user's own) is rethrown only
 * once tf.grads has finished: thrown from inside, it leaves tf's gradient
 * tape, and the tensors the tape saved, behind.
 */
function gradsSafely(f: (...xs: Tensor[]) => Scalar, xs: Tensor[]): Tensor[] {
  let failure: { error: unknown } | undefined;
  const guarded = (...ys: Tensor[]): Scalar => {
    try {
      return f(...ys);
    } catch (error) {
      failure = { error };
      return sum(mul(ys[0]!, 0)) as Scalar;
    }
  };
  const grads = gradsOf(guarded)(xs);
  if (failure) {
    dispose(grads);
    throw failure.error;
  }
  return grads;
}

const PER_EXAMPLE_OPTION_KEYS = optionKeys<PerExampleGradientsOptions>({ microbatchSize: true });

/** {@link linear} of bare params looked up by layer name: their config is their shapes. */
function tapeLinear(params: LinearParams, x: Tensor): Tensor {
  return linear(linearConfigOf(params), params, x);
}

function linearOf(params: TensorMap, layer: string, fn: string): { kernel: Tensor; bias?: Tensor } {
  const kernel = params[`${layer}.kernel`];
  if (!(kernel instanceof Tensor)) {
    throw new TfjsBlocksError(
      fn,
      `tape.linear('${layer}', x)`,
      `a layer whose kernel is params['${layer}.kernel']`,
      `no such parameter (params have ${Object.keys(params).join(', ')})`,
    );
  }
  const bias = params[`${layer}.bias`];
  return bias === undefined ? { kernel } : { kernel, bias };
}

/**
 * Per-example gradients for ANY model, by a loop: one backward pass per
 * example (or per microbatch), with `tf.grads`. tfjs has no `vmap`, so this
 * is the general fallback; for models whose parameters are all in
 * {@link linear} maps, {@link perExampleGradientsOfLinearLayers} gets the
 * same numbers from one backward pass.
 *
 * @param loss - per-example losses `[batch]` (see {@link PerExampleLoss});
 *   `tape.linear(layer, x)` is plain {@link linear} here.
 * @param params - named float32 parameters (a flat map; `<layer>.kernel`,
 *   `<layer>.bias` for maps used through the tape).
 * @param batch - named tensors (inputs, labels: any dtype) sharing the leading batch dimension.
 * @returns for each parameter, `[batch / microbatchSize, ...param.shape]`:
 *   row `i` is the gradient of example `i`'s loss (of microbatch `i`'s mean
 *   loss). New tensors; nothing given is disposed.
 * @throws TfjsBlocksError on empty or non-float params, batch tensors whose
 *   leading dimensions differ, a microbatch size that does not divide the
 *   batch, a loss that is not `[batch]`, or a parameter the loss does not use.
 * @example
 * ```ts
 * const loss: PerExampleLoss = (p, b, tape) =>
 *   tf.sum(tf.square(tf.sub(tape.linear('out', b.x), b.y)), -1);
 * const perExample = perExampleGradients(loss, { 'out.kernel': w, 'out.bias': c }, { x, y });
 * // perExample['out.kernel']: [batch, in, out]
 * ```
 */
export function perExampleGradients(
  loss: PerExampleLoss,
  params: TensorMap,
  batch: TensorMap,
  options: PerExampleGradientsOptions = {},
): TensorMap {
  const fn = 'perExampleGradients';
  checkOptionKeys(fn, options, PER_EXAMPLE_OPTION_KEYS);
  const names = checkParams(fn, params);
  const size = checkBatch(fn, batch);
  const micro = checkInteger(fn, 'options.microbatchSize', options.microbatchSize ?? 1, 1);
  if (size % micro !== 0) {
    throw new TfjsBlocksError(
      fn,
      'options.microbatchSize',
      `a divisor of the batch size ${size}`,
      String(micro),
    );
  }
  const rows: Tensor[][] = names.map(() => []);
  try {
    for (let start = 0; start < size; start += micro) {
      const grads = tidy(() => {
        const part = Object.fromEntries(
          Object.entries(batch).map(([k, t]) => [
            k,
            slice(t, [start, ...t.shape.slice(1).map(() => 0)], [micro, ...t.shape.slice(1)]),
          ]),
        );
        const f = (...xs: Tensor[]): Scalar => {
          const p = Object.fromEntries(names.map((n, i) => [n, xs[i]!]));
          const tape: LinearTape = {
            linear: (layer, x) => tapeLinear(linearOf(p, layer, fn) as LinearParams, x),
          };
          const losses = checkLosses(fn, loss(p, part, tape), micro);
          return (micro === 1 ? sum(losses) : mul(sum(losses), 1 / micro)) as Scalar;
        };
        try {
          return gradsSafely(
            f,
            names.map((n) => params[n]!),
          );
        } catch (e) {
          return unreachable(fn, e);
        }
      });
      grads.forEach((g, i) => {
        rows[i]!.push(g);
      });
    }
    return Object.fromEntries(names.map((n, i) => [n, stack(rows[i]!)]));
  } finally {
    for (const r of rows) dispose(r);
  }
}

interface Recorded {
  kernel: string;
  bias: string | undefined;
}

/**
 * Per-example gradients from ONE backward pass, for losses whose parameters
 * are all used through `tape.linear` (Goodfellow 2015,
 * https://arxiv.org/abs/1510.01799). The backward pass already holds, for
 * each affine map `z = x · W + b`, the per-example `∂L/∂z`; example `i`'s
 * gradients are `∂L_i/∂W = Σ_t x[i,t]ᵀ · ∂L/∂z[i,t]` (one batched matMul;
 * the sum runs over the positions `t` of sequence inputs) and
 * `∂L_i/∂b = Σ_t ∂L/∂z[i,t]`. Activations, norms without parameters,
 * attention over a sequence and the loss itself may be anything, as long as
 * example `i`'s loss depends only on example `i`. Equal to
 * {@link perExampleGradients} (to float32 rounding), and many times faster
 * (see docs/responsible-ai.md).
 *
 * A parameter the loss uses other than through `tape.linear` (a layer-norm
 * gain, an embedding, a kernel reused by hand) would get a wrong
 * per-example gradient, so it is detected (its gradient outside the tape is
 * not zero) and rejected: use {@link perExampleGradients} for such models.
 * A layer applied several times gets the sum of its uses.
 *
 * @param loss - per-example losses `[batch]` (see {@link PerExampleLoss}).
 * @param params - named float32 parameters: `<layer>.kernel` `[in, out]` and optional `<layer>.bias` `[out]`.
 * @param batch - named tensors sharing the leading batch dimension.
 * @returns for each parameter, `[batch, ...param.shape]`. New tensors.
 * @throws TfjsBlocksError as {@link perExampleGradients}, and when a
 *   parameter is not used through `tape.linear`.
 * @example
 * ```ts
 * const loss: PerExampleLoss = (p, b, tape) => {
 *   const h = tf.relu(tape.linear('hidden', b.x));
 *   return softmaxCrossEntropy(tape.linear('out', h), b.labels, { reduction: 'none' });
 * };
 * const perExample = perExampleGradientsOfLinearLayers(loss, params, { x, labels });
 * ```
 */
export function perExampleGradientsOfLinearLayers(
  loss: PerExampleLoss,
  params: TensorMap,
  batch: TensorMap,
): TensorMap {
  const fn = 'perExampleGradientsOfLinearLayers';
  const names = checkParams(fn, params);
  const size = checkBatch(fn, batch);
  const byName = new Map<Tensor, string>(names.map((n) => [params[n]!, n]));
  const recorded = new Map<string, Tensor>();
  const record = (name: string, g: Tensor) => {
    const previous = recorded.get(name);
    recorded.set(name, keep(previous ? add(previous, g) : g));
    if (previous) previous.dispose();
  };
  const layers: Recorded[] = [];

  // z = x·W (+ b) whose backward pass records each example's ∂L/∂W, ∂L/∂b and
  // gives W and b a zero gradient: what tf.grads still returns for them comes
  // from uses outside the tape.
  const tapedLinear = (kernel: Tensor, bias: Tensor | undefined, x: Tensor): Tensor => {
    const kernelName = byName.get(kernel)!;
    const biasName = bias ? byName.get(bias)! : undefined;
    layers.push({ kernel: kernelName, bias: biasName });
    const backward = (dy: Tensor, xs: Tensor, w: Tensor): Tensor[] => {
      const [inFeatures, outFeatures] = w.shape as [number, number];
      const x3 = reshape(xs, [size, -1, inFeatures]);
      const dy3 = reshape(dy, [size, -1, outFeatures]);
      record(kernelName, matMul(x3, dy3, true, false));
      if (biasName) record(biasName, sum(dy3, 1));
      const dx = reshape(
        matMul(reshape(dy, [-1, outFeatures]) as Tensor2D, w as Tensor2D, false, true),
        xs.shape,
      );
      return bias ? [dx, zerosLike(w), zerosLike(bias)] : [dx, zerosLike(w)];
    };
    if (bias) {
      return customGradient<[Tensor, Tensor, Tensor]>(([xs, w, b], save) => {
        save([xs, w]);
        return {
          value: tapeLinear({ kernel: w as Tensor2D, bias: b as Tensor1D }, xs),
          gradFunc: (dy, [sx, sw]) => backward(dy, sx!, sw!),
        };
      })(x, kernel, bias);
    }
    return customGradient<[Tensor, Tensor]>(([xs, w], save) => {
      save([xs, w]);
      return {
        value: tapeLinear({ kernel: w as Tensor2D }, xs),
        gradFunc: (dy, [sx, sw]) => backward(dy, sx!, sw!),
      };
    })(x, kernel);
  };

  try {
    const outside = tidy(() => {
      const f = (...xs: Tensor[]): Scalar => {
        const p = Object.fromEntries(names.map((n, i) => [n, xs[i]!]));
        byName.clear();
        names.forEach((n, i) => {
          byName.set(xs[i]!, n);
        });
        const tape: LinearTape = {
          linear: (layer, x) => {
            const { kernel, bias } = linearOf(p, layer, fn);
            if (x.shape[0] !== size) {
              throw new TfjsBlocksError(
                fn,
                `tape.linear('${layer}', x): x.shape[0]`,
                `the batch size ${size} (per-example rows stay in the leading axis)`,
                String(x.shape[0]),
              );
            }
            return tapedLinear(kernel, bias, x);
          },
        };
        return sum(checkLosses(fn, loss(p, batch, tape), size)) as Scalar;
      };
      let g: Tensor[];
      try {
        g = gradsOf(f)(names.map((n) => params[n]!));
      } catch (e) {
        return unreachable(fn, e);
      }
      return sum(g.map((t) => sum(mul(t, t))).reduce((a, b) => add(a, b))) as Scalar;
    });
    const outsideNorm = outside.dataSync()[0]!;
    outside.dispose();
    const missing = names.find((n) => !recorded.has(n));
    if (missing !== undefined || outsideNorm !== 0) {
      throw new TfjsBlocksError(
        fn,
        missing !== undefined ? `params.${missing}` : 'params',
        "used only through tape.linear('<layer>', x) as <layer>.kernel or <layer>.bias",
        missing !== undefined
          ? 'a parameter the loss uses otherwise'
          : 'parameters whose gradient does not all flow through tape.linear (use perExampleGradients)',
      );
    }
    const result = Object.fromEntries(names.map((n) => [n, recorded.get(n)!]));
    recorded.clear();
    return result;
  } finally {
    dispose([...recorded.values()]);
  }
}
