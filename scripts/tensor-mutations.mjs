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
  // --- losses: softmax-cross-entropy.ts --------------------------------------
  {
    id: 'ce-zloss-axis',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'logSumExp(safeLogits, -1)',
    replace: 'logSumExp(safeLogits, 1)',
    why: 'the z-loss reduced over axis 1: the same on [batch, classes], wrong on [batch, time, classes]',
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
    id: 'ce-hard-axis',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'sum(multiplyNoNan(logProbs, targetOneHot), -1)',
    replace: 'sum(multiplyNoNan(logProbs, targetOneHot), 1)',
    why: "the target's log-probability summed over axis 1: wrong on [batch, time, classes]",
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-zloss-square',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'square(logSumExp(safeLogits, -1))',
    replace: 'logSumExp(safeLogits, -1)',
    why: 'z-loss of logsumexp instead of its square',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-zloss-unmasked',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'zLoss ? where(counted!, zLoss, zero) : undefined',
    replace: 'zLoss',
    why: 'ignored targets add z-loss',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-zloss-weighted-mean',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'safeDivide(sum(zCounted), sum(keep))',
    replace: 'safeDivide(sum(zCounted), sum(countedWeight))',
    why: 'z-loss divided by the total class weight instead of the count (class weights + z-loss)',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-smoothing-unweighted',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'classWeights ? multiplyNoNan(logProbs, classWeights) : logProbs',
    replace: 'logProbs',
    why: 'label smoothing ignores the class weights',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-soft-unweighted',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'classWeights ? mul(target, classWeights) : target',
    replace: 'target',
    why: 'probability labels ignore the class weights',
    tests: LOSS_TESTS,
  },
  {
    id: 'ce-ignored-rows-guard',
    file: 'src/losses/softmax-cross-entropy.ts',
    find: 'where(broadcastTo(expandDims(counted, -1), x.shape), x, zerosLike(x))',
    replace: 'x',
    why: 'ignored rows of all -Infinity logits reach logSoftmax: NaN gradients',
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
