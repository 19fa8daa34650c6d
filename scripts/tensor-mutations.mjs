// Hand-written mutations of the tensor maths (issue 22): StrykerJS mutates
// JavaScript operators, not tfjs calls, so swapping an op, dropping a guard or
// flipping an axis is done here. Each mutation is applied to the source file
// in place (restored in `finally`, and on Ctrl-C), the module's tests run, and
// the mutation must make them fail ("killed"). A mutation listed with
// `equivalent` is expected to survive: the reason says why no test can tell.
//
//   npm run test:mutation -- --tensor                # all of them
//   npm run test:mutation -- --tensor losses         # one module's
//   node scripts/tensor-mutations.mjs clip-zero-guard  # one by id
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const OPTIM_TESTS = [
  'test/optim/transforms.test.ts',
  'test/optim/transforms/',
  'test/optim/nan-gradients.test.ts',
];
const LOSS_TESTS = ['test/losses'];
const SCHEDULE_TESTS = ['test/schedules'];
// The attention module's own tests (test/attention/), in sets narrow enough
// that each run stays short.
const POSITION_TESTS = [
  'test/attention/positions.test.ts',
  'test/attention/alibi.test.ts',
  'test/attention/sinusoidal-position-encoding.test.ts',
  'test/attention/rotary-embedding.test.ts',
];
const SDPA_TESTS = [
  'test/attention/scaled-dot-product-attention.test.ts',
  'test/attention/attention-setup.test.ts',
  'test/attention/memory-efficient-attention.test.ts',
  'test/attention/sliding-window.test.ts',
];
const MHA_TESTS = [
  'test/attention/multi-head-attention.test.ts',
  'test/attention/multi-head-attention-checks.test.ts',
  'test/attention/cached-attention.test.ts',
];
const NN_TESTS = ['test/nn'];
const NN_EDGES = ['test/nn/edges.test.ts'];

/**
 * One mutation: `find` must occur exactly once in `file`; it is replaced by
 * `replace`. `tests` (files or folders) default to the module's test folder.
 */
export const MUTATIONS = [
  // --- optim: clip.ts -------------------------------------------------------
  {
    id: 'clip-zero-guard',
    file: 'src/optim/transforms/clip.ts',
    find: 'where(greater(peak, 0), peak, onesLike(peak))',
    replace: 'peak',
    why: 'drop the zero-norm guard: all-zero updates divide 0 by 0 and give NaN',
    tests: OPTIM_TESTS,
  },
  {
    id: 'clip-peak-abs',
    file: 'src/optim/transforms/clip.ts',
    find: 'max(abs(u))',
    replace: 'max(u)',
    why: 'the overflow rescaling takes the largest value, not magnitude: huge negative updates overflow',
    tests: OPTIM_TESTS,
  },
  {
    id: 'clip-always-rescale',
    file: 'src/optim/transforms/clip.ts',
    find: 'maximum(norm, limit)',
    replace: 'norm',
    why: 'rescale to the limit even when the norm is within it',
    tests: OPTIM_TESTS,
  },
  {
    id: 'clip-no-sqrt',
    file: 'src/optim/transforms/clip.ts',
    find: 'sqrt(sumTensors(squares))',
    replace: 'sumTensors(squares)',
    why: 'the squared norm instead of the norm',
    tests: OPTIM_TESTS,
  },
  {
    id: 'clip-no-scale-back',
    file: 'src/optim/transforms/clip.ts',
    find: 'mul(scale, sqrt(sumTensors(squares)))',
    replace: 'sqrt(sumTensors(squares))',
    why: 'the norm of the rescaled updates, not scaled back by the peak',
    tests: OPTIM_TESTS,
  },
  {
    id: 'clip-value-lower-bound',
    file: 'src/optim/transforms/clip.ts',
    find: 'clipTensor(u, -limit, limit)',
    replace: 'clipTensor(u, 0, limit)',
    why: 'clip to [0, maxAbs]: negative updates lost',
    tests: OPTIM_TESTS,
  },
  {
    id: 'clip-value-keep-nan',
    file: 'src/optim/transforms/clip.ts',
    find: 'keepNaN(u, clipTensor(u, -limit, limit))',
    replace: 'clipTensor(u, -limit, limit)',
    why: "drop the NaN guard: the wasm backend's clip turns NaN into a bound",
    tests: ['test/optim/nan-gradients.test.ts'],
  },
  // --- optim: the other transforms, optimizers and the adapter ---------------
  {
    id: 'lion-sign-of-gradient',
    file: 'src/optim/transforms/scale-by-lion.ts',
    find: 'sign(interpolated)',
    replace: 'sign(g)',
    why: "Lion's direction from the gradient alone, not its interpolation with the momentum",
    tests: OPTIM_TESTS,
  },
  {
    id: 'lion-no-sign',
    file: 'src/optim/transforms/scale-by-lion.ts',
    find: 'keepNaN(interpolated, sign(interpolated))',
    replace: 'interpolated',
    why: 'the interpolation itself instead of its sign',
    tests: OPTIM_TESTS,
  },
  {
    id: 'adafactor-row-mean-axis',
    file: 'src/optim/transforms/scale-by-adafactor.ts',
    find: 'mean(vRow, reducedD1, true)',
    replace: 'mean(vRow, d1, true)',
    why: 'the row statistics normalised over the unreduced axis number: right on matrices, wrong on rank 3+ when the second-largest axis follows the largest',
    tests: OPTIM_TESTS,
  },
  {
    id: 'adafactor-factor-axes-swapped',
    file: 'src/optim/transforms/scale-by-adafactor.ts',
    find: 'mul(mul(g, expandDims(rowFactor, d0)), expandDims(colFactor, d1))',
    replace: 'mul(mul(g, expandDims(rowFactor, d1)), expandDims(colFactor, d0))',
    why: 'the row and column factors broadcast along the wrong axes (the same on square matrices)',
    tests: OPTIM_TESTS,
  },
  {
    id: 'adafactor-no-epsilon',
    file: 'src/optim/transforms/scale-by-adafactor.ts',
    find: 'add(square(g), epsilon)',
    replace: 'square(g)',
    why: 'no epsilon in g²: a zero gradient divides 0 by 0',
    tests: OPTIM_TESTS,
  },
  {
    id: 'adafactor-block-rms-no-floor',
    file: 'src/optim/transforms/scale-by-adafactor.ts',
    find: 'maximum(scalar(1), mul(sqrt(mean(square(u))), 1 / limit))',
    replace: 'mul(sqrt(mean(square(u))), 1 / limit)',
    why: 'clipByBlockRms rescales every update to the threshold, also those below it',
    tests: OPTIM_TESTS,
  },
  {
    id: 'adafactor-param-rms-no-min-scale',
    file: 'src/optim/transforms/scale-by-adafactor.ts',
    find: 'maximum(sqrt(mean(square(params![name]!))), floor)',
    replace: 'sqrt(mean(square(params![name]!)))',
    why: 'scaleByParamBlockRms without its floor: a zero parameter never moves',
    tests: OPTIM_TESTS,
  },
  {
    id: 'decay-of-the-update',
    file: 'src/optim/transforms/add-decayed-weights.ts',
    find: 'add(u, mul(p, weightDecay))',
    replace: 'add(u, mul(u, weightDecay))',
    why: 'weight decay applied to the update instead of the parameters',
    tests: OPTIM_TESTS,
  },
  {
    id: 'adafactor-decay-sign',
    file: 'src/optim/optimizers/adafactor.ts',
    find: 'sub(u, mul(p, rate))',
    replace: 'add(u, mul(p, rate))',
    why: "adafactor's decoupled decay added to the signed update: the weights grow",
    tests: ['test/optim/optimizers/'],
  },
  {
    id: 'adafactor-momentum-debiased-by-nothing',
    file: 'src/optim/optimizers/adafactor.ts',
    find: 'add(mul(mu, rate), mul(u, 1 - rate))',
    replace: 'add(mul(mu, rate), u)',
    why: "adafactor's momentum sums the updates instead of averaging them",
    tests: ['test/optim/optimizers/'],
  },
  {
    id: 'adafactor-momentum-forgets',
    file: 'src/optim/optimizers/adafactor.ts',
    find: 'add(mul(mu, rate), mul(u, 1 - rate))',
    replace: 'add(mul(u, rate), mul(u, 1 - rate))',
    why: "adafactor's momentum ignores its running average: the EMA is the update itself",
    tests: ['test/optim/optimizers/'],
  },
  {
    id: 'adafactor-momentum-state-stale',
    file: 'src/optim/optimizers/adafactor.ts',
    find: 'return { update: mu1, moments: { mu: mu1 } };',
    replace: 'return { update: mu1, moments: { mu: clone(mu) } };',
    why: "adafactor's momentum never stores the new average: each step starts from zero",
    tests: ['test/optim/optimizers/'],
  },
  {
    id: 'adafactor-decay-ignores-mask',
    file: 'src/optim/optimizers/adafactor.ts',
    find: '          : clone(u);',
    replace: '          : sub(u, mul(p, rate));',
    why: "adafactor's weight decay applied to the parameters its mask leaves out",
    tests: ['test/optim/optimizers/'],
  },
  {
    id: 'optimizer-save-aliases-state',
    file: 'src/optim/create-optimizer.ts',
    find: 'treeMap(tensors, (t) => clone(t))',
    replace: 'treeMap(tensors, (t) => t)',
    why: 'StatefulOptimizer.save returns the live state tensors, freed by the next step',
    tests: ['test/optim/tf-optimizer.test.ts', 'test/optim/tree.test.ts'],
  },
  {
    id: 'optimizer-step-keeps-old-state',
    file: 'src/optim/create-optimizer.ts',
    find: '    dispose(treeLeaves(state));\n    state = keepState(next);',
    replace: '    state = keepState(next);',
    why: 'StatefulOptimizer.step never frees the previous state: every step leaks it',
    tests: ['test/optim/tree.test.ts'],
  },
  {
    id: 'optimizer-load-keeps-old-state',
    file: 'src/optim/create-optimizer.ts',
    find: '      dispose(treeLeaves(state));\n      state = keepState(restored);',
    replace: '      state = keepState(restored);',
    why: 'StatefulOptimizer.load never frees the state it replaces',
    tests: ['test/optim/tf-optimizer.test.ts', 'test/optim/tree.test.ts'],
  },
  {
    id: 'keep-state-keeps-nothing',
    file: 'src/optim/tree.ts',
    find: 'for (const t of treeLeaves(state)) keep(t);',
    replace: 'for (const t of treeLeaves(state)) t;',
    why: "keepState does not keep: an optimizer's state made inside tf.tidy is freed with it",
    tests: ['test/optim/tree.test.ts'],
  },
  {
    id: 'chain-keeps-intermediate-updates',
    file: 'src/optim/chain.ts',
    find: '          if (updates !== grads) dispose(Object.values(updates));',
    replace: '',
    why: 'chain never frees the updates a link hands to the next: every multi-link step leaks',
    tests: ['test/optim/optimizers/', 'test/optim/tree.test.ts'],
  },
  {
    id: 'nadam-no-second-moment-correction',
    file: 'src/optim/transforms/scale-by-nadam.ts',
    find: 'sqrt(div(nu1, 1 - b2 ** count))',
    replace: 'sqrt(nu1)',
    why: "NAdam's second moment without its bias correction",
    tests: OPTIM_TESTS,
  },
  {
    id: 'nadam-momentum-only',
    file: 'src/optim/transforms/scale-by-nadam.ts',
    find: 'div(add(gradPart, momentumPart), denom)',
    replace: 'div(momentumPart, denom)',
    why: 'NAdam without the Nesterov gradient term',
    tests: OPTIM_TESTS,
  },
  {
    id: 'radam-epsilon-inside-root',
    file: 'src/optim/transforms/scale-by-radam.ts',
    find: 'add(sqrt(nu1), epsilon)',
    replace: 'sqrt(add(nu1, epsilon))',
    why: "RAdam's epsilon under the square root (optax's and torch's differ from this)",
    tests: OPTIM_TESTS,
  },
  {
    id: 'rms-centred-unsquared',
    file: 'src/optim/transforms/scale-by-rms.ts',
    find: 'sub(squareAvg1, square(gradAvg1))',
    replace: 'sub(squareAvg1, gradAvg1)',
    why: 'the centred RMSprop subtracts the mean gradient, not its square',
    tests: OPTIM_TESTS,
  },
  {
    id: 'rms-epsilon-inside-root',
    file: 'src/optim/transforms/scale-by-rms.ts',
    find: 'add(sqrt(meanSquare), epsilon)',
    replace: 'sqrt(add(meanSquare, epsilon))',
    why: "RMSprop's epsilon under the square root (TensorFlow's convention, not PyTorch's)",
    tests: OPTIM_TESTS,
  },
  {
    id: 'adadelta-delta-epsilon',
    file: 'src/optim/transforms/scale-by-adadelta.ts',
    find: 'sqrt(add(deltaAvg, epsilon))',
    replace: 'sqrt(deltaAvg)',
    why: 'no epsilon in the numerator: the running delta starts at 0 and stays there',
    tests: OPTIM_TESTS,
  },
  {
    id: 'adadelta-delta-average-of-g',
    file: 'src/optim/transforms/scale-by-adadelta.ts',
    find: 'mul(square(delta), 1 - rho)',
    replace: 'mul(square(g), 1 - rho)',
    why: "Adadelta's second average tracks g² instead of the applied update²",
    tests: OPTIM_TESTS,
  },
  {
    id: 'adagrad-initial-accumulator',
    file: 'src/optim/transforms/scale-by-adagrad.ts',
    find: 'fill(p.shape, initial)',
    replace: 'fill(p.shape, 0)',
    why: 'initialAccumulatorValue ignored',
    tests: OPTIM_TESTS,
  },
  {
    id: 'adagrad-epsilon-inside-root',
    file: 'src/optim/transforms/scale-by-adagrad.ts',
    find: 'add(sqrt(sum1), epsilon)',
    replace: 'sqrt(add(sum1, epsilon))',
    why: "Adagrad's epsilon under the square root",
    tests: OPTIM_TESTS,
  },
  {
    id: 'adamax-no-epsilon',
    file: 'src/optim/transforms/scale-by-adamax.ts',
    find: 'add(abs(g), epsilon)',
    replace: 'abs(g)',
    why: 'no epsilon in the infinity norm: a zero first gradient divides 0 by 0',
    tests: OPTIM_TESTS,
  },
  {
    id: 'adamax-sum-not-max',
    file: 'src/optim/transforms/scale-by-adamax.ts',
    find: 'maximum(mul(u, b2), add(abs(g), epsilon))',
    replace: 'add(mul(u, b2), add(abs(g), epsilon))',
    why: 'the infinity norm accumulated as a sum instead of a running maximum',
    tests: OPTIM_TESTS,
  },
  {
    id: 'trace-nesterov-swapped',
    file: 'src/optim/transforms/trace.ts',
    find: 'add(g, mul(buffer1, decay))',
    replace: 'add(buffer1, mul(g, decay))',
    why: "Nesterov's look-ahead with the gradient and the buffer swapped",
    tests: OPTIM_TESTS,
  },
  {
    id: 'ema-of-old-params',
    file: 'src/optim/transforms/ema-params.ts',
    find: 'mul(add(p!, u), 1 - decay)',
    replace: 'mul(p!, 1 - decay)',
    why: 'the average of the parameters before the update, not after',
    tests: OPTIM_TESTS,
  },
  {
    id: 'trust-ratio-no-zero-guard',
    file: 'src/optim/transforms/scale-by-trust-ratio.ts',
    find: 'mul(u, where(degenerate, onesLike(ratio), ratio))',
    replace: 'mul(u, ratio)',
    why: 'a zero parameter norm gives ratio 0 (LAMB never moves a zero-initialised parameter)',
    tests: OPTIM_TESTS,
  },
  // The rest of the 13 small transforms (issue 22, second optim slice).
  {
    id: 'learning-rate-ascends',
    file: 'src/optim/transforms/scale-by-learning-rate.ts',
    find: 'mul(u, -lr)',
    replace: 'mul(u, lr)',
    why: 'scaleByLearningRate without the minus: the step climbs the loss',
    tests: OPTIM_TESTS,
  },
  {
    id: 'keep-nan-dropped',
    file: 'src/optim/transforms/stateless.ts',
    find: 'where(isNaNTensor(source), source, result)',
    replace: 'result',
    why: "keepNaN passing the result through: tfjs's sign(NaN) is 0, so Lion's NaN update is hidden",
    tests: OPTIM_TESTS,
  },
  {
    id: 'per-parameter-moments-from-params',
    file: 'src/optim/transforms/per-parameter.ts',
    find: 'spec.initMoment(p, m) : zerosLike(p)',
    replace: 'spec.initMoment(p, m) : clone(p)',
    why: 'moments initialised to the parameters instead of zeros',
    tests: OPTIM_TESTS,
  },
  {
    id: 'per-parameter-unchanged-moment-aliased',
    file: 'src/optim/transforms/per-parameter.ts',
    find: 'result.moments[m] === current[m] ? clone(current[m]) : result.moments[m]',
    replace: 'result.moments[m]',
    why: "a moment a rule keeps unchanged is handed on as the old state's tensor (freed with it)",
    tests: OPTIM_TESTS,
  },
  {
    id: 'trace-first-step-mixed',
    file: 'src/optim/transforms/trace.ts',
    find: 'count === 1 ? clone(g) : add(',
    replace: 'count === 0 ? clone(g) : add(',
    why: "trace's first step mixes the zero buffer (dampening applied) instead of copying the gradient",
    tests: OPTIM_TESTS,
  },
  {
    id: 'radam-momentum-uncorrected',
    file: 'src/optim/transforms/scale-by-radam.ts',
    find: 'update: mul(mu1, 1 / bc1)',
    replace: 'update: mu1',
    why: "RAdam's unrectified steps without the momentum's bias correction",
    tests: OPTIM_TESTS,
  },
  {
    id: 'adagrad-lr-decay-ignored',
    file: 'src/optim/transforms/scale-by-adagrad.ts',
    find: 'mul(div(g, add(sqrt(sum1), epsilon)), decay)',
    replace: 'div(g, add(sqrt(sum1), epsilon))',
    why: "Adagrad's lrDecay ignored",
    tests: OPTIM_TESTS,
  },
  {
    id: 'ema-weights-swapped',
    file: 'src/optim/transforms/ema-params.ts',
    find: 'add(mul(ema, decay), mul(add(p!, u), 1 - decay))',
    replace: 'add(mul(ema, 1 - decay), mul(add(p!, u), decay))',
    why: 'the parameter EMA weighting the new parameters by decay and the average by 1 - decay',
    tests: OPTIM_TESTS,
  },
  {
    id: 'trust-ratio-inverted',
    file: 'src/optim/transforms/scale-by-trust-ratio.ts',
    find: 'div(paramNorm, where(degenerate, onesLike(updateNorm), updateNorm))',
    replace: 'div(updateNorm, where(degenerate, onesLike(paramNorm), paramNorm))',
    why: 'the trust ratio upside down: ‖u‖ / ‖p‖',
    tests: OPTIM_TESTS,
  },
  {
    id: 'multi-steps-last-not-sum',
    file: 'src/optim/transforms/wrappers.ts',
    find: 'mapTensors(state.accumulated, (a, _n, g) => add(a, g!), grads)',
    replace: 'mapTensors(state.accumulated, (_a, _n, g) => clone(g!), grads)',
    why: 'multiSteps keeps the last gradient instead of the sum',
    tests: OPTIM_TESTS,
  },
  {
    id: 'apply-if-finite-first-only',
    file: 'src/optim/transforms/wrappers.ts',
    find: 'all(stack(tensors.map((g) => all(isFiniteTensor(g)))))',
    replace: 'all(isFiniteTensor(tensors[0]!))',
    why: 'applyIfFinite checks only the first gradient',
    tests: OPTIM_TESTS,
  },
  {
    id: 'tf-optimizer-scale-ignored',
    file: 'src/optim/tf-optimizer.ts',
    find: 'mapTensors(updates, (u) => mul(u, factor))',
    replace: 'mapTensors(updates, (u) => mul(u, 1))',
    why: 'learningRateScale ignored by the tf.Optimizer adapter',
    tests: ['test/optim/tf-optimizer-edges.test.ts'],
  },
  // --- losses: softmax-cross-entropy.ts --------------------------------------
  {
    id: 'ce-zloss-axis',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'square(logSumExp(x, -1))',
    replace: 'square(logSumExp(x, 1))',
    why: 'the z-loss of probability labels reduced over axis 1: the same on [batch, classes], wrong on [batch, time, classes]',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-soft-axis',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'neg(sum(multiplyNoNan(logProbs, weightedTarget), -1))',
    replace: 'neg(sum(multiplyNoNan(logProbs, weightedTarget), 1))',
    why: 'probability labels reduced over axis 1: wrong on [batch, time, classes]',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-row-shift-axis',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'const rowMax = max(x2, -1, true);',
    replace: 'const rowMax = max(x2, 0, true);',
    why: "the integer-label path's stabilising shift taken per class instead of per row",
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-zloss-square',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'mul(mul(square(lse), zLossWeight), zScale)',
    replace: 'mul(mul(lse, zLossWeight), zScale)',
    why: 'z-loss of logsumexp instead of its square (integer labels)',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-zloss-unmasked',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'safeDivide(keep, sum(keep)) : keep',
    replace: 'safeDivide(onesLike(keep), sum(keep)) : keep',
    why: 'ignored targets get a z-loss gradient (mean reduction)',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-zloss-weighted-mean',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: "const zScale = reduction === 'mean' ? safeDivide(keep, sum(keep)) : keep;",
    replace:
      "const zScale = reduction === 'mean' ? safeDivide(keep, sum(weights ? targetWeight : keep)) : keep;",
    why: 'z-loss divided by the total class weight instead of the count (class weights + z-loss)',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-smoothing-unweighted',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'const totalWeight = weights ? sum(weights) : classes;',
    replace: 'const totalWeight = classes;',
    why: 'label smoothing ignores the class weights (integer labels)',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-soft-unweighted',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'weights ? mul(target, broadcastTo(weights, x.shape)) : target',
    replace: 'target',
    why: 'probability labels ignore the class weights',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-ignored-rows-guard',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'const value = where(counted, perRow, zerosLike(perRow));',
    replace: 'const value = perRow;',
    why: 'ignored rows of all -Infinity logits add NaN',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-target-factor-smoothing',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'const targetFactor = mul(mul(ceScale, targetWeight), 1 - smoothing);',
    replace: 'const targetFactor = mul(ceScale, targetWeight);',
    why: "the target's gradient term not scaled by 1 - smoothing",
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-soft-smoothing-classes',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'add(mul(labels, 1 - smoothing), smoothing / classes)',
    replace: 'add(mul(labels, 1 - smoothing), smoothing)',
    why: 'smoothing mass not spread over the classes (probability labels)',
    tests: LOSS_TESTS,
  },
  // --- losses: the other files (binary-cross-entropy, ctc, distillation, embedding-losses,
  // kl-divergence, layers-adapter, metrics, multiply-no-nan, regression) ---
  {
    id: 'bce-positive-sign',
    file: 'src/losses/binary-cross-entropy.ts',
    find: 'softplus(mul(x, -1))',
    replace: 'softplus(x)',
    why: "the positive term's softplus without its sign flip",
    tests: ['test/losses/pointwise.test.ts'],
  },
  {
    id: 'bce-no-nan-guard',
    file: 'src/losses/binary-cross-entropy.ts',
    find: 'multiplyNoNan(softplus(x), sub(1, y))',
    replace: 'mul(softplus(x), sub(1, y))',
    why: 'drop the multiplyNoNan guard: a +Infinity logit with target 1 gives 0 \u00b7 Infinity = NaN',
    tests: ['test/losses/masked-logits.test.ts'],
  },
  {
    id: 'focal-modulating-factor',
    file: 'src/losses/binary-cross-entropy.ts',
    find: 'pow(sub(1, pT), gamma)',
    replace: 'pow(pT, gamma)',
    why: 'the focal factor (p_t)^\u03b3 instead of (1 - p_t)^\u03b3',
    tests: ['test/losses/pointwise.test.ts'],
  },
  {
    id: 'ctc-no-skip',
    file: 'src/losses/ctc.ts',
    find: 'add(logSumExp3(alpha, shifted1, shifted2), emissions[t]!)',
    replace: 'add(logSumExp3(alpha, shifted1, shifted1), emissions[t]!)',
    why: 'drop the skip transition (label to the next label over the blank)',
    tests: ['test/losses/ctc.test.ts'],
  },
  {
    id: 'ctc-floor',
    file: 'src/losses/ctc.ts',
    find: 'const floored = maximum(lp, LOG_ZERO);',
    replace: 'const floored = lp;',
    why: 'drop the LOG_ZERO floor: -Infinity log-probabilities give 0 \u00b7 -Infinity = NaN',
    tests: ['test/losses/ctc.test.ts'],
  },
  {
    id: 'ctc-impossible-threshold',
    file: 'src/losses/ctc.ts',
    find: 'const IMPOSSIBLE = 1e29;',
    replace: 'const IMPOSSIBLE = 1e31;',
    why: 'impossible alignments (losses near 1e30) no longer recognised: finite instead of +Infinity',
    tests: ['test/losses/ctc.test.ts'],
  },
  {
    id: 'distillation-teacher-temperature',
    file: 'src/losses/distillation.ts',
    find: 'softmax(div(teacherLogits, temperature))',
    replace: 'softmax(teacherLogits)',
    why: 'the teacher not softened by the temperature',
    tests: ['test/losses/divergences.test.ts'],
  },
  {
    id: 'distillation-batch-axis',
    file: 'src/losses/distillation.ts',
    find: 'const examples = s.size / classes;',
    replace: 'const examples = s.shape[0]!;',
    why: 'batchmean over the first axis only: wrong on [batch, time, classes]',
    tests: ['test/losses/divergences.test.ts'],
  },
  {
    id: 'cosine-hinge',
    file: 'src/losses/embedding-losses.ts',
    find: 'maximum(sub(cos, margin), 0)',
    replace: 'sub(cos, margin)',
    why: 'drop the hinge of dissimilar pairs',
    tests: ['test/losses/embedding-losses.test.ts'],
  },
  {
    id: 'triplet-root',
    file: 'src/losses/embedding-losses.ts',
    find: 'pow(sum(pow(abs(d), p), -1), 1 / p)',
    replace: 'sum(pow(abs(d), p), -1)',
    why: 'the p-norm distance without its root (p != 2)',
    tests: ['test/losses/embedding-losses.test.ts'],
  },
  {
    id: 'infonce-symmetric-direction',
    file: 'src/losses/embedding-losses.ts',
    find: 'softmaxCrossEntropy(transpose(logits), labels)',
    replace: 'softmaxCrossEntropy(logits, labels)',
    why: 'the b\u2192a direction computed as a\u2192b again',
    tests: ['test/losses/embedding-losses.test.ts'],
  },
  {
    id: 'kl-log-target-exp',
    file: 'src/losses/kl-divergence.ts',
    find: 'multiplyNoNan(sub(target, x), exp(target))',
    replace: 'multiplyNoNan(sub(target, x), target)',
    why: 'log-target weights not exponentiated',
    tests: ['test/losses/divergences.test.ts'],
  },
  {
    id: 'kl-xlogx-gradient',
    file: 'src/losses/kl-divergence.ts',
    find: 'add(log(s!), 1)',
    replace: 'log(s!)',
    why: "xlogx's gradient without the + 1",
    tests: ['test/losses/divergences.test.ts'],
  },
  {
    id: 'adapter-padding-guard',
    file: 'src/losses/layers-adapter.ts',
    find: 'greater(sum(yTrue, -1), 0)',
    replace: 'greater(sum(yTrue, -1), -1)',
    why: 'all-zero one-hot rows become class 0 instead of ignoreIndex',
    tests: ['test/losses/layers-adapter.test.ts'],
  },
  {
    id: 'adapter-argmax-axis',
    file: 'src/losses/layers-adapter.ts',
    find: 'argMax(yTrue, -1)',
    replace: 'argMax(yTrue, 0)',
    why: 'one-hot rows read along the first axis',
    tests: ['test/losses/layers-adapter.test.ts'],
  },
  {
    id: 'accuracy-counts-ignored',
    file: 'src/losses/metrics.ts',
    find: 'logicalAnd(counted, equal(argMax(logits, -1), labels))',
    replace: 'equal(argMax(logits, -1), labels)',
    why: 'ignored targets counted as correct when the arg-max equals the ignore index',
    tests: ['test/losses/metrics.test.ts'],
  },
  {
    id: 'accuracy-argmax-axis',
    file: 'src/losses/metrics.ts',
    find: 'equal(argMax(logits, -1), labels)',
    replace: 'equal(argMax(logits, 0), labels)',
    why: 'the arg-max taken over the first axis',
    tests: ['test/losses/metrics.test.ts'],
  },
  {
    id: 'no-nan-value-guard',
    file: 'src/losses/multiply-no-nan.ts',
    find: 'value: where(zero, zerosLike(x), mul(x, y))',
    replace: 'value: mul(x, y)',
    why: 'drop the guard: 0 \u00b7 \u00b1Infinity = NaN',
    tests: ['test/losses/pointwise.test.ts'],
  },
  {
    id: 'no-nan-gradient-guard',
    file: 'src/losses/multiply-no-nan.ts',
    find: 'where(mask!, zerosLike(dy), mul(dy, xs!))',
    replace: 'mul(dy, xs!)',
    why: "drop the guard in y's gradient: NaN where x is infinite and y is 0",
    tests: ['test/losses/pointwise.test.ts'],
  },
  {
    id: 'huber-abs',
    file: 'src/losses/regression.ts',
    find: 'minimum(abs(d), delta)',
    replace: 'minimum(d, delta)',
    why: 'the quadratic part of negative differences unclipped',
    tests: ['test/losses/pointwise.test.ts'],
  },
  {
    id: 'huber-half',
    file: 'src/losses/regression.ts',
    find: 'mul(square(quadratic), 0.5)',
    replace: 'square(quadratic)',
    why: 'the quadratic part without its 1/2',
    tests: ['test/losses/pointwise.test.ts'],
  },
  // --- schedules ------------------------------------------------------------
  {
    id: 'schedule-progress-clamp',
    file: 'src/schedules/schedule.ts',
    find: 'Math.min(Math.max(step - begin, 0), steps) / steps',
    replace: 'Math.max(step - begin, 0) / steps',
    why: 'a transition that runs past its end',
    tests: SCHEDULE_TESTS,
  },
  {
    id: 'schedule-half-cosine',
    file: 'src/schedules/cosine.ts',
    find: 'Math.cos(Math.PI * fraction)',
    replace: 'Math.cos(fraction)',
    why: 'the cosine of the fraction, not of pi times it',
    tests: SCHEDULE_TESTS,
  },
  {
    id: 'schedule-warmup-from-zero',
    file: 'src/schedules/cosine.ts',
    find: 'init + (peak - init) * (step / warmup)',
    replace: 'peak * (step / warmup)',
    why: 'the warm-up starts at 0 whatever initValue',
    tests: SCHEDULE_TESTS,
  },
  {
    id: 'schedule-exponential-clip-side',
    file: 'src/schedules/exponential.ts',
    find: 'rate < 1 ? Math.max(value, end) : Math.min(value, end)',
    replace: 'rate <= 1 ? Math.max(value, end) : Math.min(value, end)',
    why: 'decayRate 1 with an endValue: a floor instead of a ceiling',
    tests: SCHEDULE_TESTS,
  },
  {
    id: 'schedule-exponential-staircase',
    file: 'src/schedules/exponential.ts',
    find: 'Math.floor(elapsed / steps)',
    replace: 'elapsed / steps',
    why: 'staircase ignored',
    tests: SCHEDULE_TESTS,
  },
  {
    id: 'schedule-join-local-step',
    file: 'src/schedules/join.ts',
    find: 'pieces[i]!(step - starts[i]!)',
    replace: 'pieces[i]!(step)',
    why: 'a joined schedule sees the global step, not steps since its boundary',
    tests: SCHEDULE_TESTS,
  },
  // --- attention --------------------------------------------------------------
  {
    id: 'attention-softmax-shift-guard',
    file: 'src/attention/masked-softmax.ts',
    find: 'where(isFiniteTensor(rowMax), rowMax, zerosLike(rowMax))',
    replace: 'rowMax',
    why: 'a fully masked row shifts by -Infinity: NaN weights',
    tests: SDPA_TESTS,
  },
  {
    id: 'attention-softmax-zero-total',
    file: 'src/attention/masked-softmax.ts',
    find: 'where(equal(total, 0), onesLike(total), total)',
    replace: 'total',
    why: 'a fully masked row divides 0 by 0',
    tests: SDPA_TESTS,
  },
  {
    id: 'attention-softmax-axis',
    file: 'src/attention/masked-softmax.ts',
    find: 'const total = sum(e, -1, true);',
    replace: 'const total = sum(e, 2, true);',
    why: 'normalise over the queries instead of the keys',
    tests: SDPA_TESTS,
  },
  {
    id: 'attention-softmax-gradient',
    file: 'src/attention/masked-softmax.ts',
    find: 'mul(out, sub(dy, sum(mul(dy, out), -1, true)))',
    replace: 'mul(out, dy)',
    why: 'the softmax backward without its centring term',
    tests: SDPA_TESTS,
  },
  {
    id: 'attention-keys-untransposed',
    file: 'src/attention/scaled-dot-product-attention.ts',
    find: 'matMul(query, k, false, true)',
    replace: 'matMul(query, k, false, false)',
    why: 'q · k instead of q · kᵀ (runs whenever headDim equals the key count)',
    tests: SDPA_TESTS,
  },
  {
    id: 'attention-rope-sign',
    file: 'src/attention/rotary-embedding.ts',
    find: 'sub(mul(x1, cos), mul(x2, sin))',
    replace: 'add(mul(x1, cos), mul(x2, sin))',
    why: 'RoPE rotates the wrong way in the first half',
    tests: POSITION_TESTS,
  },
  {
    id: 'attention-rope-second-half-sign',
    file: 'src/attention/rotary-embedding.ts',
    find: 'add(mul(x2, cos), mul(x1, sin))',
    replace: 'sub(mul(x2, cos), mul(x1, sin))',
    why: 'RoPE rotates the second half the wrong way (no longer a rotation)',
    tests: POSITION_TESTS,
  },
  {
    id: 'attention-alibi-signed-distance',
    file: 'src/attention/alibi.ts',
    find: 'abs(sub(keyPositions, queryPositions))',
    replace: 'sub(keyPositions, queryPositions)',
    why: 'ALiBi without |·|: earlier keys get a positive bias, later ones a negative',
    tests: POSITION_TESTS,
  },
  {
    id: 'attention-alibi-query-positions',
    file: 'src/attention/alibi.ts',
    find: 'range(tk - tq, tk, 1, ',
    replace: 'range(0, tq, 1, ',
    why: 'queries placed at the first tq positions instead of the last (cached decoding)',
    tests: POSITION_TESTS,
  },
  {
    id: 'attention-sinusoidal-sin-cos-swapped',
    file: 'src/attention/sinusoidal-position-encoding.ts',
    find: 'values[p * dim + 2 * i] = Math.sin(angle);',
    replace: 'values[p * dim + 2 * i] = Math.cos(angle);',
    why: 'cos in the even columns (both columns of a pair the same)',
    tests: POSITION_TESTS,
  },
  {
    id: 'attention-bool-mask-inverted',
    file: 'src/attention/attention-setup.ts',
    find: 'where(logicalNot(mask), fill(mask.shape, -Infinity), zeros(mask.shape))',
    replace: 'where(mask, fill(mask.shape, -Infinity), zeros(mask.shape))',
    why: "a bool mask read as PyTorch's (true = blocked)",
    tests: SDPA_TESTS,
  },
  {
    id: 'attention-window-one-wider',
    file: 'src/attention/attention-setup.ts',
    find: 'sub(rows, scalar(slidingWindow, ',
    replace: 'sub(rows, scalar(slidingWindow + 1, ',
    why: 'the sliding window sees one key more than slidingWindow',
    tests: SDPA_TESTS,
  },
  {
    id: 'attention-dropout-keeps-rate',
    file: 'src/attention/attention-setup.ts',
    find: 'lessEqual(scalar(rate), uniform)',
    replace: 'lessEqual(uniform, scalar(rate))',
    why: 'dropout keeps a fraction `rate` of the weights instead of 1 - rate',
    tests: SDPA_TESTS,
  },
  {
    id: 'attention-dropout-not-applied',
    file: 'src/attention/scaled-dot-product-attention.ts',
    find: 'const output = matMul(dropped, v);',
    replace: 'const output = matMul(weights, v);',
    why: 'the plain path forms the dropout mask but multiplies v by the undropped weights',
    tests: SDPA_TESTS,
  },
  {
    id: 'attention-chunked-no-decay',
    file: 'src/attention/memory-efficient-attention.ts',
    find: 'acc: add(mul(decay, acc), matMul(pv, sliceTime(value, start, end))),',
    replace: 'acc: add(acc, matMul(pv, sliceTime(value, start, end))),',
    why: 'the online softmax does not rescale the running output when the row maximum grows',
    tests: SDPA_TESTS,
  },
  {
    id: 'attention-chunked-row-dot',
    file: 'src/attention/memory-efficient-attention.ts',
    find: 'const rowDot = sum(mul(dy, output), -1, true);',
    replace: 'const rowDot = sum(dy, -1, true);',
    why: 'the chunked backward centres dP by rowsum(dO) instead of rowsum(dO ∘ O)',
    tests: SDPA_TESTS,
  },
  {
    id: 'attention-chunked-masked-row-lse',
    file: 'src/attention/memory-efficient-attention.ts',
    find: 'where(seen, add(rowMax, log(rowSum)), fill(rowSum.shape, Infinity))',
    replace: 'add(rowMax, log(rowSum))',
    why: 'a fully masked row gets logSumExp -Infinity: exp(s - L) is NaN in the backward',
    tests: SDPA_TESTS,
  },
  {
    id: 'attention-mha-heads-untransposed',
    file: 'src/attention/multi-head-attention.ts',
    find: 'return transpose(reshape(projected, [batch, time, heads, headDim]), [0, 2, 1, 3]) as Tensor4D;',
    replace: 'return reshape(projected, [batch, heads, time, headDim]) as Tensor4D;',
    why: 'heads split by reshaping [B, T, H·D] to [B, H, T, D] without the transpose',
    tests: MHA_TESTS,
  },
  {
    id: 'attention-mha-cache-bool-mask-ignored',
    file: 'src/attention/multi-head-attention.ts',
    find: "[1, 1, t, capacity]);\n  if (mask === undefined) return positions;\n  if (mask.dtype === 'bool') return where(mask, positions, scalar(Number.NEGATIVE_INFINITY));",
    replace:
      "[1, 1, t, capacity]);\n  if (mask === undefined) return positions;\n  if (mask.dtype === 'bool') return positions;",
    why: "a caller's bool mask dropped on the cached path (the position mask alone)",
    tests: MHA_TESTS,
  },
  {
    id: 'attention-mha-merge-untransposed',
    file: 'src/attention/multi-head-attention.ts',
    find: 'return reshape(transpose(attended, [0, 2, 1, 3]), [batch, time, width]);',
    replace: 'return reshape(attended, [batch, time, width]);',
    why: 'heads merged by reshaping [B, H, T, D] to [B, T, H·D] without the transpose',
    tests: MHA_TESTS,
  },
  {
    id: 'attention-mha-cache-write-tail',
    file: 'src/attention/multi-head-attention.ts',
    find: 'parts.push(slice(cache, [0, 0, start + t, 0],',
    replace: 'parts.push(slice(cache, [0, 0, start, 0],',
    why: 'a cache write keeps the slots from its start instead of after its end (slots after the write overwritten)',
    tests: MHA_TESTS,
  },
  {
    id: 'attention-mha-cache-float-mask-ignored',
    file: 'src/attention/multi-head-attention.ts',
    find: "[1, 1, t, capacity]);\n  if (mask === undefined) return positions;\n  if (mask.dtype === 'bool') return where(mask, positions, scalar(Number.NEGATIVE_INFINITY));\n  return add(mask, positions);",
    replace:
      "[1, 1, t, capacity]);\n  if (mask === undefined) return positions;\n  if (mask.dtype === 'bool') return where(mask, positions, scalar(Number.NEGATIVE_INFINITY));\n  return positions;",
    why: "a caller's float mask dropped on the cached path (the position mask alone)",
    tests: MHA_TESTS,
  },
  {
    id: 'attention-mha-rolling-new-keys-first',
    file: 'src/attention/multi-head-attention.ts',
    find: 'const keys = concat([cache.key, kr], 2) as Tensor4D;',
    replace: 'const keys = concat([kr, cache.key], 2) as Tensor4D;',
    why: 'a rolling cache puts the new keys before the slots: keys and values, and the position mask, no longer line up',
    tests: MHA_TESTS,
  },
  {
    id: 'attention-mha-context-cache-values-from-keys',
    file: 'src/attention/multi-head-attention.ts',
    find: 'value: projectHeads(params.value, input, numKvHeads, headDim),',
    replace: 'value: projectHeads(params.key, input, numKvHeads, headDim),',
    why: 'contextAttentionCache projects the values with the key projection',
    tests: MHA_TESTS,
  },
  // --- nn -------------------------------------------------------------------
  {
    id: 'nn-layer-norm-epsilon',
    file: 'src/nn/layer-norm.ts',
    find: 'rsqrt(add(variance, scalar(epsilon)))',
    replace: 'rsqrt(variance)',
    why: 'no epsilon: a constant row divides by 0',
    tests: NN_TESTS,
  },
  {
    id: 'nn-layer-norm-uncentred',
    file: 'src/nn/layer-norm.ts',
    find: 'const centered = sub(x, mean(x, -1, true));',
    replace: 'const centered = x;',
    why: 'layer norm without subtracting the mean',
    tests: NN_TESTS,
  },
  {
    id: 'nn-rms-norm-axis',
    file: 'src/nn/rms-norm.ts',
    find: 'mean(square(x), -1, true)',
    replace: 'mean(square(x), 1, true)',
    why: 'the mean square over axis 1: the same on [batch, dim], wrong on [batch, time, dim]',
    tests: NN_TESTS,
  },
  {
    id: 'nn-rms-norm-epsilon',
    file: 'src/nn/rms-norm.ts',
    find: 'rsqrt(add(meanSquare, scalar(epsilon)))',
    replace: 'rsqrt(meanSquare)',
    why: 'no epsilon: an all-zero row divides by 0',
    tests: NN_TESTS,
  },
  {
    id: 'nn-gelu-exact-constant',
    file: 'src/nn/activations.ts',
    find: 'erf(mul(x, scalar(Math.SQRT1_2)))',
    replace: 'erf(mul(x, scalar(Math.SQRT2)))',
    why: 'erf(x·√2) instead of erf(x/√2)',
    tests: NN_TESTS,
  },
  {
    id: 'nn-gelu-tanh-cubic',
    file: 'src/nn/activations.ts',
    find: 'scalar(c * 0.044715)',
    replace: 'scalar(c * 0.04)',
    why: "a slightly wrong cubic coefficient in GPT-2's tanh GELU",
    tests: NN_TESTS,
  },
  // nn, the rest (issue 22, src/nn/): each against the test file that checks it.
  // quantized-weights.ts and quantized-simd.ts are host JS loops, which Stryker mutates.
  {
    id: 'nn-linear-glorot-limit',
    file: 'src/nn/linear.ts',
    find: 'Math.sqrt(6 / (inFeatures + outFeatures))',
    replace: 'Math.sqrt(3 / (inFeatures + outFeatures))',
    why: "initLinear's Glorot bound halved in variance (a constant Stryker does not mutate)",
    tests: NN_EDGES,
  },
  {
    id: 'nn-linear-lora-scale',
    file: 'src/nn/linear.ts',
    find: 'lora.scale === 1 ? down : mul(down, lora.scale)',
    replace: 'down',
    why: "LoRA's scale ignored: x · a · b added unscaled",
    tests: NN_EDGES,
  },
  {
    id: 'nn-linear-lora-dropout',
    file: 'src/nn/linear.ts',
    find: 'dropout(flat, drop.rate, undefined, drop.seed)',
    replace: 'flat',
    why: "LoRA's dropout never applied in training",
    tests: NN_EDGES,
  },
  {
    id: 'nn-feed-forward-gate-swapped',
    file: 'src/nn/feed-forward.ts',
    find: 'mul(act(linear(into, params.gate, x)), linear(into, params.up, x))',
    replace: 'mul(act(linear(into, params.up, x)), linear(into, params.gate, x))',
    why: 'the activation on the up projection instead of the gate',
    tests: NN_EDGES,
  },
  {
    id: 'nn-feed-forward-core-gate-twice',
    file: 'src/nn/feed-forward.ts',
    find: 'mul(gate, affine(params.up, x))',
    replace: 'mul(gate, affine(params.gate as LinearParams, x))',
    why: 'the unchecked core multiplies the gate by itself, not by up',
    tests: NN_EDGES,
  },
  {
    id: 'nn-position-rows-offset',
    file: 'src/nn/embedding.ts',
    find: 'slice(table, [offset, 0], [length, -1])',
    replace: 'slice(table, [0, 0], [length, -1])',
    why: 'position embeddings ignore the offset (decoding after a cache)',
    tests: NN_EDGES,
  },
  {
    id: 'nn-position-std',
    file: 'src/nn/embedding.ts',
    find: '{ ...positions, std: 0.01 }',
    replace: '{ ...positions, std: 0.02 }',
    why: "the position table drawn with the token table's std, not GPT-2's 0.01",
    tests: NN_EDGES,
  },
  {
    id: 'nn-patch-untransposed',
    file: 'src/nn/patch-embedding.ts',
    find: 'transpose(rowsOfPatches, [0, 2, 1, 3])',
    replace: 'transpose(rowsOfPatches, [0, 1, 2, 3])',
    why: 'patches cut without moving the grid column before the patch row: pixels of neighbouring patches mixed',
    tests: NN_EDGES,
  },
  {
    id: 'nn-patch-no-bias',
    file: 'src/nn/patch-embedding.ts',
    find: 'add(matMul(flat as Tensor2D, kernel), params.bias)',
    replace: 'matMul(flat as Tensor2D, kernel)',
    why: 'the bias dropped',
    tests: NN_EDGES,
  },
  {
    id: 'nn-moe-renormalise-axis',
    file: 'src/nn/mixture-of-experts.ts',
    find: 'div(weights, sum(weights, -1, true))',
    replace: 'div(weights, sum(weights, 0, true))',
    why: "the top-k weights renormalised over tokens instead of each token's experts",
    tests: ['test/nn/mixture-of-experts.test.ts'],
  },
  {
    id: 'nn-moe-aux-fraction',
    file: 'src/nn/mixture-of-experts.ts',
    find: 'div(mean(mask, 0), c.topK)',
    replace: 'mean(mask, 0)',
    why: "the aux loss's f not divided by topK (routing slots, not tokens)",
    tests: ['test/nn/mixture-of-experts.test.ts'],
  },
  {
    id: 'nn-moe-down-bias-unweighted',
    file: 'src/nn/mixture-of-experts.ts',
    find: 'add(y, matMul(weights as Tensor2D, params.down.bias))',
    replace: 'add(y, sum(params.down.bias, 0))',
    why: "every expert's down bias added, not weighted by the routing",
    tests: ['test/nn/mixture-of-experts.test.ts'],
  },
  {
    id: 'nn-normalize-core-epsilon',
    file: 'src/nn/norm.ts',
    find: 'config.epsilon ?? 1e-5',
    replace: 'config.epsilon ?? 1e-6',
    why: "the unchecked LayerNorm's default epsilon is not layerNorm's (a constant Stryker does not mutate)",
    tests: ['test/nn/cores.test.ts'],
  },
  // --- generate/logits-processors.ts (the rest is host JS, which Stryker mutates) ---
  {
    id: 'processors-temperature-sqrt',
    file: 'src/generate/logits-processors.ts',
    find: 'tidy(() => div(x, t))',
    replace: 'tidy(() => div(x, Math.sqrt(t)))',
    why: 'the logits divided by the square root of the temperature',
    tests: ['test/generate/processors.test.ts'],
  },
];

const MODULE_FILES = {
  schedules: 'src/schedules/',
  losses: 'src/losses/',
  'losses-core': 'src/losses/',
  optim: 'src/optim/',
  'optim-clip-adam': 'src/optim/transforms/',
  attention: 'src/attention/',
  nn: 'src/nn/',
  'logits-processors': 'src/generate/logits-processors.ts',
  'privacy-accountant': 'src/responsible/privacy-accountant.ts',
};

/** The vitest run of the current mutation, stopped when this script is. */
let running;

/** Runs `tests` (asynchronously, so a signal can restore the source meanwhile); resolves to whether they passed. */
function runTests(tests) {
  return new Promise((resolve) => {
    const child = spawn(
      'npx',
      ['vitest', 'run', '--bail=1', '--reporter=dot', '--maxWorkers=1', ...tests],
      { env: { ...process.env, FORCE_COLOR: '0' }, stdio: 'ignore', detached: true },
    );
    running = child;
    child.on('exit', (code) => {
      running = undefined;
      resolve({ passed: code === 0 });
    });
  });
}

/** Applies each mutation in turn, runs its tests, restores the file; true when every non-equivalent one is killed. */
export async function runTensorMutations(selectors = []) {
  const chosen = MUTATIONS.filter(
    (m) =>
      selectors.length === 0 ||
      selectors.includes(m.id) ||
      selectors.some((s) => MODULE_FILES[s] && m.file.startsWith(MODULE_FILES[s])),
  );
  const originals = new Map();
  const restore = () => {
    for (const [file, text] of originals) writeFileSync(file, text);
    originals.clear();
  };
  const onSignal = () => {
    restore();
    // The vitest run has its own process group (detached): stop all of it.
    if (running?.pid) process.kill(-running.pid, 'SIGTERM');
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const rows = [];
  try {
    // A mutation counts as killed only if its tests pass without it.
    for (const tests of new Set(chosen.map((m) => JSON.stringify(m.tests)))) {
      const { passed } = await runTests(JSON.parse(tests));
      if (!passed) {
        console.log(`Tests ${tests} fail without any mutation: fix them first.`);
        return false;
      }
    }
    for (const m of chosen) {
      const source = readFileSync(m.file, 'utf8');
      const count = source.split(m.find).length - 1;
      if (count !== 1) {
        rows.push({ ...m, result: `stale (find occurs ${count} times)`, ok: false });
        continue;
      }
      const started = performance.now();
      originals.set(m.file, source);
      let outcome;
      try {
        writeFileSync(m.file, source.replace(m.find, m.replace));
        outcome = await runTests(m.tests);
      } finally {
        restore();
      }
      const seconds = Math.round((performance.now() - started) / 1000);
      const killed = !outcome.passed;
      const result = killed ? 'killed' : m.equivalent ? 'equivalent' : 'SURVIVED';
      rows.push({ ...m, result, ok: killed || Boolean(m.equivalent), seconds });
      console.log(`${result.padEnd(10)} ${m.id} (${seconds} s): ${m.why}`);
    }
  } finally {
    restore();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const count = (r) => rows.filter((x) => x.result === r).length;
  console.log(
    `\nTensor mutations: ${rows.length}; killed ${count('killed')}, equivalent ${count('equivalent')}, survived ${count('SURVIVED')}, stale ${rows.filter((r) => r.result.startsWith('stale')).length}`,
  );
  for (const r of rows) if (!r.ok) console.log(`  ${r.result}: ${r.id} in ${r.file}: ${r.why}`);
  return rows.every((r) => r.ok);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = (await runTensorMutations(process.argv.slice(2))) ? 0 : 1;
}
