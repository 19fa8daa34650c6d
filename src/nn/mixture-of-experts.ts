import {
  add,
  div,
  matMul,
  mean,
  mul,
  oneHot,
  onesLike,
  randomUniform,
  relu,
  reshape,
  type Scalar,
  slice,
  softmax,
  sum,
  type Tensor,
  type Tensor2D,
  type Tensor3D,
  tidy,
  topk,
  transpose,
  zeros,
  zerosLike,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkDim,
  checkFloatTensor,
  checkInteger,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { customGradient } from '../internal/custom-gradient';
import { sumTensors } from '../internal/reduce';
import { splitSeed } from '../internal/seed';
import { tidyParams } from '../internal/tidy-params';
import { gelu, silu } from './activations';
import { checkFeedForwardConfig, type FeedForwardActivation } from './feed-forward';
import { initLinear, type LinearParams, linear } from './linear';

/**
 * A mixture-of-experts feed-forward layer: a router sends each token to its
 * `topK` best experts (each one a {@link feedForward}-style MLP or gated
 * unit) and mixes their outputs by the router's renormalised weights.
 */
export type MixtureOfExpertsConfig = {
  /** Input and output width. */
  dModel: number;
  /** Hidden width of each expert. */
  hidden: number;
  /** Number of experts. */
  numExperts: number;
  /** Experts each token is sent to; `1 <= topK <= numExperts`. */
  topK: number;
  /** The experts' activation. */
  activation: FeedForwardActivation;
  /** `'mlp'` (`down(act(up(x)))`) or `'gated'` (`down(act(gate(x)) ⊙ up(x))`, Mixtral's SwiGLU). */
  kind: 'mlp' | 'gated';
  /** Biases on the expert projections (the router has none). Default `true` for `'mlp'`, `false` for `'gated'`. */
  useBias?: boolean;
  /**
   * Renormalise the `topK` router probabilities of a token to sum to 1
   * (Mixtral). Default `true`. With `false` the kept probabilities are used
   * as they are (Switch Transformer), which is what gives a top-1 router a
   * gradient from the output.
   */
  normalizeTopK?: boolean;
};

/** One stacked projection of all experts: `kernel` `[numExperts, in, out]`, `bias` `[numExperts, out]`. */
export type StackedLinearParams = {
  /** `[numExperts, inFeatures, outFeatures]`. */
  kernel: Tensor3D;
  /** `[numExperts, outFeatures]`, absent without biases. */
  bias?: Tensor2D;
};

/** Parameters of {@link mixtureOfExperts}. */
export type MixtureOfExpertsParams = {
  /** Router, `[dModel, numExperts]`, no bias. */
  router: LinearParams;
  /** `[numExperts, dModel, hidden]`. */
  up: StackedLinearParams;
  /** `[numExperts, dModel, hidden]`, gated kind only. */
  gate?: StackedLinearParams;
  /** `[numExperts, hidden, dModel]`. */
  down: StackedLinearParams;
};

/** What {@link mixtureOfExperts} returns. */
export type MixtureOfExpertsResult<T extends Tensor> = {
  /** `[..., dModel]`, the shape of the input. */
  output: T;
  /**
   * The Switch-Transformer load-balancing loss `numExperts · Σₑ fₑ · Pₑ`
   * (a scalar, 1 when the load is perfectly balanced): add it, scaled by a
   * small weight such as 0.01, to the training loss.
   */
  auxLoss: Scalar;
};

const ACTIVATIONS: Record<FeedForwardActivation, (x: Tensor) => Tensor> = {
  gelu: (x) => gelu(x),
  'gelu-tanh': (x) => gelu(x, { approximate: 'tanh' }),
  relu: (x) => relu(x),
  silu: (x) => silu(x),
};

/** The keys of a {@link MixtureOfExpertsConfig}. */
const MIXTURE_OF_EXPERTS_CONFIG_KEYS = optionKeys<MixtureOfExpertsConfig>({
  dModel: true,
  hidden: true,
  numExperts: true,
  topK: true,
  activation: true,
  kind: true,
  useBias: true,
  normalizeTopK: true,
});

/** Throws unless the config is complete and consistent; returns it with defaults filled in. */
export function checkMixtureOfExpertsConfig(
  fn: string,
  name: string,
  config: MixtureOfExpertsConfig,
) {
  const { dModel, hidden, kind, activation } = checkFeedForwardConfig(
    fn,
    name,
    config,
    MIXTURE_OF_EXPERTS_CONFIG_KEYS,
  );
  const numExperts = checkInteger(fn, `${name}.numExperts`, config.numExperts, 1);
  const topK = checkInteger(fn, `${name}.topK`, config.topK, 1);
  if (topK > numExperts) {
    throw new TfjsBlocksError(
      fn,
      `${name}.topK`,
      `at most numExperts (${numExperts})`,
      String(topK),
    );
  }
  return {
    dModel,
    hidden,
    kind,
    activation,
    numExperts,
    topK,
    useBias: config.useBias ?? kind === 'mlp',
    normalizeTopK: config.normalizeTopK ?? true,
  };
}

function initStacked(
  numExperts: number,
  inFeatures: number,
  outFeatures: number,
  useBias: boolean,
  seed: number,
): StackedLinearParams {
  // Glorot-uniform per expert, as initLinear does for one.
  const limit = Math.sqrt(6 / (inFeatures + outFeatures));
  const kernel = randomUniform(
    [numExperts, inFeatures, outFeatures],
    -limit,
    limit,
    'float32',
    seed,
  ) as Tensor3D;
  return useBias ? { kernel, bias: zeros([numExperts, outFeatures]) as Tensor2D } : { kernel };
}

/**
 * Creates {@link MixtureOfExpertsParams}: a Glorot-uniform router without
 * bias and Glorot-uniform expert kernels stacked along a leading expert
 * axis, reproducible from `seed`.
 *
 * @example
 * ```ts
 * const config = { dModel: 64, hidden: 128, numExperts: 8, topK: 2, kind: 'gated', activation: 'silu' } as const;
 * const params = initMixtureOfExperts(config, 0);
 * ```
 */
export function initMixtureOfExperts(
  config: MixtureOfExpertsConfig,
  seed: number,
): MixtureOfExpertsParams {
  const c = checkMixtureOfExpertsConfig('initMixtureOfExperts', 'config', config);
  const [sr, su, sg, sd] = splitSeed(seed, 4) as [number, number, number, number];
  return tidyParams(() => {
    const router = initLinear(
      { inFeatures: c.dModel, outFeatures: c.numExperts, useBias: false },
      sr,
    );
    const up = initStacked(c.numExperts, c.dModel, c.hidden, c.useBias, su);
    const down = initStacked(c.numExperts, c.hidden, c.dModel, c.useBias, sd);
    return c.kind === 'gated'
      ? { router, up, gate: initStacked(c.numExperts, c.dModel, c.hidden, c.useBias, sg), down }
      : { router, up, down };
  });
}

/**
 * The 0/1 mask `[tokens, numExperts]` of each token's `topK` most probable
 * experts. TopK has no gradient in tfjs, and the mask is a constant of the
 * routing decision anyway: the forward runs off the gradient tape (inside a
 * custom gradient) and the backward is zero. Ties go to the lower expert
 * index, so exactly `topK` experts are picked per token.
 */
function topKMask(topK: number): (probs: Tensor) => Tensor {
  return customGradient<[Tensor]>(([probs]) => {
    const numExperts = probs.shape[1]!;
    const { indices } = topk(probs, topK); // [tokens, topK]
    // One one-hot per routing slot, added up: rank 2 throughout. Summing the
    // [tokens, topK, numExperts] one-hot over axis 1 would transpose it, and
    // tfjs-backend-webgpu 4.22 emits invalid WGSL for a rank-3 transpose of an
    // int32 buffer (a cast to float32 does not help: it keeps the int32 buffer).
    // tfjs's oneHot needs a depth of at least 2: a single expert takes every slot.
    const slots =
      numExperts === 1
        ? [onesLike(probs)]
        : Array.from({ length: topK }, (_, k) =>
            oneHot(reshape(slice(indices, [0, k], [-1, 1]), [-1]), numExperts),
          );
    return { value: sumTensors(slots), gradFunc: (dy) => zerosLike(dy) };
  });
}

/** `[numExperts, in, out]` → `[in, numExperts · out]`: every expert's kernel side by side. */
function sideBySide(kernel: Tensor3D): Tensor2D {
  const [numExperts, inFeatures, outFeatures] = kernel.shape;
  return reshape(transpose(kernel, [1, 0, 2]), [inFeatures, numExperts * outFeatures]);
}

/** `x [tokens, dModel]` through every expert's projection: `[tokens, numExperts, out]`. */
function projectAll(p: StackedLinearParams, x: Tensor2D): Tensor3D {
  const [numExperts, , outFeatures] = p.kernel.shape;
  let y: Tensor = matMul(x, sideBySide(p.kernel)); // [tokens, numExperts · out]
  if (p.bias) y = add(y, reshape(p.bias, [numExperts * outFeatures]));
  return reshape(y, [x.shape[0], numExperts, outFeatures]);
}

function checkStacked(
  fn: string,
  name: string,
  p: StackedLinearParams | undefined,
  shape: [number, number, number],
  useBias: boolean,
): void {
  const layout = `[numExperts, in, out] = ${formatShape(shape)}`;
  const kernel = checkFloatTensor(fn, `${name}.kernel`, p?.kernel, { rank: 3, layout });
  if (kernel.shape.some((d, i) => d !== shape[i])) {
    throw new TfjsBlocksError(
      fn,
      `${name}.kernel`,
      `of shape ${formatShape(shape)}`,
      formatShape(kernel.shape),
    );
  }
  if (useBias && p?.bias === undefined) {
    throw new TfjsBlocksError(
      fn,
      `${name}.bias`,
      `a [${shape[0]}, ${shape[2]}] tensor (useBias)`,
      'undefined',
    );
  }
}

/**
 * A mixture-of-experts feed-forward layer with top-k routing (Shazeer et
 * al., https://arxiv.org/abs/1701.06538; Mixtral, https://arxiv.org/abs/2401.04088):
 *
 * `p = softmax(x · router)`, `w = topK(p) / Σ topK(p)`, `y = Σₑ wₑ · expertₑ(x)`.
 *
 * Dense dispatch: every expert runs on every token and the unselected ones
 * get weight 0, which on tfjs backends is far faster than gathering tokens
 * per expert (no scatter kernels, no ragged shapes) for the small expert
 * counts that fit in a browser. The up (and gate) projections of all
 * experts are one 2-D matMul against the kernels laid side by side, and the
 * down projection with the weighted sum over experts is one 2-D matMul
 * contracting over (expert, hidden): no batched or broadcast matMul, which
 * is slow on wasm and wrong on cpu/wasm when it broadcasts.
 *
 * The router learns through the kept probabilities; the top-k choice itself
 * has no gradient. `auxLoss` is the Switch-Transformer load-balancing loss
 * (Fedus et al., https://arxiv.org/abs/2101.03961) `numExperts · Σₑ fₑ · Pₑ`,
 * where `fₑ` is the fraction of routing slots (tokens × topK) sent to expert
 * `e` and `Pₑ` the mean router probability of `e`.
 *
 * @param x - `[..., dModel]` (for example `[batch, time, dModel]`).
 * @returns `output` `[..., dModel]` and the scalar `auxLoss`.
 * @example
 * ```ts
 * const config = { dModel: 16, hidden: 32, numExperts: 4, topK: 2, kind: 'mlp', activation: 'gelu' } as const;
 * const params = initMixtureOfExperts(config, 0);
 * const { output, auxLoss } = mixtureOfExperts(config, params, tf.randomNormal([2, 5, 16]));
 * const loss = tf.add(taskLoss(output), tf.mul(0.01, auxLoss));
 * ```
 */
export function mixtureOfExperts<T extends Tensor>(
  config: MixtureOfExpertsConfig,
  params: MixtureOfExpertsParams,
  x: T,
): MixtureOfExpertsResult<T> {
  const fn = 'mixtureOfExperts';
  const c = checkMixtureOfExpertsConfig(fn, 'config', config);
  const input = checkFloatTensor(fn, 'x', x, { layout: '[..., dModel]' });
  checkDim(fn, 'x.shape[-1]', input.shape[input.rank - 1]!, c.dModel, 'config.dModel');
  const router = checkFloatTensor(fn, 'params.router.kernel', params?.router?.kernel, {
    rank: 2,
    layout: '[dModel, numExperts]',
  });
  checkDim(
    fn,
    'params.router.kernel.shape[1]',
    router.shape[1]!,
    c.numExperts,
    'config.numExperts',
  );
  checkStacked(fn, 'params.up', params.up, [c.numExperts, c.dModel, c.hidden], c.useBias);
  checkStacked(fn, 'params.down', params.down, [c.numExperts, c.hidden, c.dModel], c.useBias);
  if (c.kind === 'gated') {
    checkStacked(fn, 'params.gate', params.gate, [c.numExperts, c.dModel, c.hidden], c.useBias);
  }
  const act = ACTIVATIONS[c.activation];
  return tidy(() => {
    const flat = reshape(input, [-1, c.dModel]) as Tensor2D; // [tokens, dModel]
    const tokens = flat.shape[0];
    const probs = softmax(
      linear(
        { inFeatures: c.dModel, outFeatures: c.numExperts, useBias: false },
        params.router,
        flat,
      ),
    ); // [tokens, numExperts]
    const mask = topKMask(c.topK)(probs);
    let weights = mul(probs, mask);
    if (c.normalizeTopK) weights = div(weights, sum(weights, -1, true));

    const up = projectAll(params.up, flat); // [tokens, numExperts, hidden]
    const h = c.kind === 'gated' ? mul(act(projectAll(params.gate!, flat)), up) : act(up);
    // Weight each expert's hidden activations, then one matMul over (expert, hidden) sums them.
    const weighted = mul(h, reshape(weights, [tokens, c.numExperts, 1]));
    let y: Tensor = matMul(
      reshape(weighted, [tokens, c.numExperts * c.hidden]) as Tensor2D,
      reshape(params.down.kernel, [c.numExperts * c.hidden, c.dModel]) as Tensor2D,
    ); // [tokens, dModel]
    if (params.down.bias) y = add(y, matMul(weights as Tensor2D, params.down.bias));

    // Switch load balancing: f (slots per expert, no gradient) · P (mean probability).
    const fraction = div(mean(mask, 0), c.topK); // [numExperts]
    const meanProb = mean(probs, 0); // [numExperts]
    const auxLoss = mul(sum(mul(fraction, meanProb)), c.numExperts) as Scalar;
    return { output: reshape(y, input.shape) as T, auxLoss };
  });
}
