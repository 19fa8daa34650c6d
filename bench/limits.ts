/**
 * What limits GPT-2 small's prefill and the issue-20 training step against
 * PyTorch (issue 20's two missed compute-bound goals), in one run:
 *
 * 1. Profiles, with `tf.profile`, one 256-token prefill of GPT-2 small
 *    (tfjs-blocks float32, wasm + `enableWasmFastKernels()`, the model of
 *    bench:decode loaded with `loadPretrained(folderSource(dir))`,
 *    `decoderLm(..., { logitsToKeep: 1 })` as generate's prefill runs it)
 *    and one training step of bench:train's issue-20 model
 *    (bench/training-model.ts; forward, backward and AdamW as three phases),
 *    kernels grouped by what they compute, with ms, GFLOP and GFLOP/s.
 *    PyTorch's prefill and training step are timed in the same run, 1 and 2
 *    threads, and profiled with torch.profiler (bench/reference/limits.py).
 * 2. Measures the ceiling: GFLOP/s of a plain `[M, K] × [K, N]` float32
 *    matMul on the shapes of those products, on the stock wasm build (one
 *    thread, XNNPACK) and on the threaded build with 2 threads
 *    (`useThreadedWasm`, a child process of its own), with the right-hand
 *    side seen before (XNNPACK's packed copy cached) and new on every call
 *    (packed on every call, as in training), against `torch.matmul` with 1
 *    and 2 threads.
 * 3. Writes the section "What limits prefill and training" of
 *    docs/benchmarks.md.
 *
 *   npm run bench:limits                       (writes docs/benchmarks.md)
 *   npm run bench:limits -- --no-write --runs 1 --ceiling-rounds 1
 *
 * Flags: --runs N (rounds of the prefill and training children, alternating
 * with PyTorch's; default 2), --ceiling-rounds N (3), --reps N (calls per
 * shape in a ceiling child; 8), --prefill-reps N (timed prefills per child; 2),
 * --steps N (timed training steps per child; 3), --dir DIR (the GPT-2 small
 * folder of bench:decode; /tmp/tfjs-blocks-bench/gpt2-small), --python PATH
 * (default $TORCH2_PYTHON, else /work/venv/bin/python), --no-threaded,
 * --no-torch, --no-write, --from FILE (render the section again from the raw
 * results a run saved, `limits-results.json` beside the model folder).
 *
 * Every measurement runs in a child process of its own; the rounds reverse
 * their order each time so load drift hits all sides alike.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { commitLine, cpuInfo, loadAverage } from './host';
import { median } from './median';
import { flag, reportUnlessDryRun } from './report';
import { createOursTraining, describeSizes, ISSUE20 } from './training-model';

const argv = process.argv.slice(2);
const has = (name: string) => argv.includes(`--${name}`);
const numberFlag = (name: string, fallback: number) => Number(flag(name, String(fallback)));
const RUNS = numberFlag('runs', 2);
const CEILING_ROUNDS = numberFlag('ceiling-rounds', 3);
const REPS = numberFlag('reps', 8);
const PREFILL_REPS = numberFlag('prefill-reps', 2);
const STEPS = numberFlag('steps', 3);
const DIR = flag('dir', '/tmp/tfjs-blocks-bench/gpt2-small');
const PYTHON = flag(
  'python',
  process.env.TORCH2_PYTHON ??
    (existsSync('/work/venv/bin/python') ? '/work/venv/bin/python' : 'python3'),
);
const PREFILL_TOKENS = 256;
/** Where the parent saves its raw measurements (`--from` renders them again). */
const RESULTS = join(DIR, '..', 'limits-results.json');
/** Issue 20's goal for both rows: ≥ 0.3× PyTorch on the machine's cores. */
const GOAL = 0.3;

/** `record[key]`, made by `init` when missing. */
function entry<V>(record: Record<string, V>, key: string, init: () => V): V {
  let value = record[key];
  if (value === undefined) {
    value = init();
    record[key] = value;
  }
  return value;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// ---------------------------------------------------------------------------------------------
// The products of each workload: the weight of each role as [in, out], and
// where each of its products runs (forward x·W, input gradient dY·Wᵀ,
// weight gradient Xᵀ·dY), as [M, K, N].

type Product = { role: string; pass: 'forward' | 'dX' | 'dW'; m: number; k: number; n: number };

/** GPT-2 small: d 768, 12 layers; prefill of 256 tokens, the head on the last position only. */
const GPT2 = { d: 768, layers: 12, vocab: 50257 };
/** Issue 20's model, one batch of 8 × 128 tokens. */
const TRAIN = {
  d: ISSUE20.d,
  layers: ISSUE20.layers,
  vocab: ISSUE20.vocab,
  tokens: ISSUE20.batch * ISSUE20.seq,
};

/**
 * The block's weights: role → [in, out]. q, k and v are separate `[d, d]`
 * products in tfjs-blocks' GPT-2 (fused `[d, 3d]` listed for models that
 * fuse them).
 */
const weightsOf = (d: number) => ({
  'attention q, k, v, out': [d, d],
  'attention q, k, v (fused)': [d, 3 * d],
  'MLP up': [d, 4 * d],
  'MLP down': [4 * d, d],
});

/** The prefill's products (the head's `[1, d] × [d, vocab]`, one row, is memory-bound). */
const PREFILL_PRODUCTS: Product[] = [
  ...Object.entries(weightsOf(GPT2.d)).map(
    ([role, [k, n]]): Product => ({ role, pass: 'forward', m: PREFILL_TOKENS, k: k!, n: n! }),
  ),
  { role: 'tied head (last position)', pass: 'forward', m: 1, k: GPT2.d, n: GPT2.vocab },
];

/** A weight's three products in a training step. */
const trainingProducts = (role: string, [kw, nw]: number[], t: number): Product[] => [
  { role, pass: 'forward', m: t, k: kw!, n: nw! },
  { role, pass: 'dX', m: t, k: nw!, n: kw! },
  { role, pass: 'dW', m: kw!, k: t, n: nw! },
];
// logits = x · wteᵀ: the token table is [vocab, d], its gradient dlogitsᵀ · x.
const TRAIN_PRODUCTS: Product[] = [
  ...Object.entries(weightsOf(TRAIN.d)).flatMap(([role, w]) =>
    trainingProducts(role, w, TRAIN.tokens),
  ),
  { role: 'tied head', pass: 'forward', m: TRAIN.tokens, k: TRAIN.d, n: TRAIN.vocab },
  { role: 'tied head', pass: 'dX', m: TRAIN.tokens, k: TRAIN.vocab, n: TRAIN.d },
  { role: 'tied head', pass: 'dW', m: TRAIN.vocab, k: TRAIN.tokens, n: TRAIN.d },
];

const keyOf = (p: { m: number; k: number; n: number }) => `${p.m}x${p.k}x${p.n}`;
/** Products of fewer rows are bound by reading the weight, not by arithmetic: no ceiling for them. */
const MIN_CEILING_ROWS = 16;
/** The shapes measured when a workload's profile failed (every product the role tables know). */
const fallbackShapes = (products: Product[]) => [
  ...new Set(products.filter((p) => p.m >= MIN_CEILING_ROWS).map(keyOf)),
];

/** The role and pass of a 2-D product of a workload, by its [M, K, N]. */
function roleOf(which: 'prefill' | 'train', m: number, k: number, n: number): string | undefined {
  const products = which === 'prefill' ? PREFILL_PRODUCTS : TRAIN_PRODUCTS;
  const hits = products.filter((p) => p.m === m && p.k === k && p.n === n);
  if (!hits.length) return undefined;
  // Some shapes are two products (the MLP's up forward and down's input gradient): both named.
  return hits.map((p) => (which === 'prefill' ? p.role : `${p.role} (${p.pass})`)).join(' / ');
}

// ---------------------------------------------------------------------------------------------
// Children.

type Tf = typeof import('@tensorflow/tfjs-core');
type Kernel = {
  name: string;
  kernelTimeMs: number | { error: string };
  inputShapes: number[][];
  outputShapes: number[][];
};
type Group = { ms: number; kernels: number; gflop: number };
/** A workload's profile: kernel groups, matMul shapes, phases. */
type Profile = {
  /** Wall ms of the profiled run (profiling adds its own bookkeeping). */
  profiledMs: number;
  kernelMs: number;
  groups: Record<string, Group>;
  shapes: Record<string, Group & { role: string }>;
  phases: Record<string, number>;
};
type WorkloadResult = { wallMs: number[]; profile: Profile };

/** tf.profile's name for a custom-gradient op: its time includes the kernels it ran, which are listed themselves. */
const CUSTOM = 'unnamed scope';
const COPIES = new Set([
  'Transpose',
  'Concat',
  'Slice',
  'StridedSlice',
  'Pack',
  'Unpack',
  'SplitV',
  'Tile',
  'Pad',
  'PadV2',
  'Identity',
  'Cast',
  'Reshape',
  'ZerosLike',
  'OnesLike',
  'Fill',
  'Reverse',
  'BroadcastTo',
]);
const EMBEDDINGS = new Set(['Gather', 'GatherV2', 'GatherNd', 'UnsortedSegmentSum', 'ScatterNd']);
const NORMS = new Set(['Mean', 'Rsqrt', 'SquaredDifference', 'Square']);

/**
 * The group of a kernel of the prefill or the training step. matMuls by the
 * product they compute (see `roleOf`), batched ones as attention; the rest by
 * name and shape: anything on a `[.., t, t]` score tensor is attention,
 * `[.., 4d]` the MLP's activation, vocab-wide the loss.
 */
function classify(
  which: 'prefill' | 'train',
  phase: string,
  k: Kernel,
): { group: string; product?: { key: string; role: string; flops: number } } {
  const { d, vocab } = which === 'prefill' ? GPT2 : TRAIN;
  const seq = which === 'prefill' ? PREFILL_TOKENS : ISSUE20.seq;
  const out = k.outputShapes[0] ?? [];
  const shapes = [...k.inputShapes, ...k.outputShapes];
  const last = (s: number[]) => s[s.length - 1];
  if (/MatMul/.test(k.name)) {
    const a = k.inputShapes[0]!;
    const [mOut, n] = out.slice(-2) as [number, number];
    const batch = out.slice(0, -2).reduce((x, y) => x * y, 1);
    const [a1, a2] = a.slice(-2) as [number, number];
    const kk = a1 === mOut ? a2 : a1;
    const flops = 2 * batch * mOut * kk * n;
    // A right-hand side shared by the whole batch is a weight: the rows of all batches are one product's.
    const shared = (k.inputShapes[1] ?? []).slice(0, -2).every((x) => x === 1);
    const m = shared ? batch * mOut : mOut;
    if (batch > 1 && !shared)
      return { group: 'attention: products (BatchMatMul q·kᵀ, p·v)', product: undefined };
    const role = roleOf(which, m, kk, n) ?? `other product ${m}×${kk}×${n}`;
    return {
      group: `matMul: ${role}`,
      product: { key: `${m}x${kk}x${n}`, role, flops },
    };
  }
  if (phase === 'update') return { group: 'optimizer: AdamW update (all kernels)' };
  if (
    k.name === 'Softmax' ||
    shapes.some((s) => s.length >= 3 && s.slice(-2).every((x) => x === seq))
  )
    return { group: 'attention: scores, softmax, masks' };
  if (EMBEDDINGS.has(k.name)) return { group: 'embeddings (gather, scatter)' };
  if (COPIES.has(k.name)) return { group: 'copies, transposes, concat, casts' };
  if (shapes.some((s) => last(s) === vocab)) return { group: 'loss (softmax cross-entropy)' };
  if (NORMS.has(k.name)) return { group: 'norms (Mean, Square, Rsqrt)' };
  if (shapes.some((s) => last(s) === 4 * d))
    return { group: 'element-wise: MLP activation (4d wide)' };
  if (k.name === 'Sum') return { group: 'element-wise: reductions (bias gradients)' };
  return { group: 'element-wise: d wide (residuals, biases, norm scale, shift)' };
}

/** Groups a profiled run's kernels; `marks` splits the list into named phases. */
function summarise(
  which: 'prefill' | 'train',
  kernels: Kernel[],
  marks: { phase: string; end: number }[],
  profiledMs: number,
): Profile {
  const groups: Record<string, Group> = {};
  const shapes: Profile['shapes'] = {};
  const phases: Record<string, number> = {};
  let kernelMs = 0;
  kernels.forEach((k, i) => {
    if (k.name === CUSTOM) return;
    const phase = marks.find((m) => i < m.end)?.phase ?? 'after';
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const { group, product } = classify(which, phase, k);
    kernelMs += ms;
    phases[phase] = (phases[phase] ?? 0) + ms;
    const flops = product?.flops ?? (/MatMul/.test(k.name) ? matMulFlops(k) : 0);
    const g = entry(groups, group, () => ({ ms: 0, kernels: 0, gflop: 0 }));
    g.ms += ms;
    g.kernels += 1;
    g.gflop += flops / 1e9;
    if (product) {
      const s = entry(shapes, product.key, () => ({
        ms: 0,
        kernels: 0,
        gflop: 0,
        role: product.role,
      }));
      s.ms += ms;
      s.kernels += 1;
      s.gflop += flops / 1e9;
    }
  });
  return { profiledMs, kernelMs, groups, shapes, phases };
}

function matMulFlops(k: Kernel): number {
  const out = k.outputShapes[0] ?? [];
  const [mOut, n] = out.slice(-2) as [number, number];
  const [a1, a2] = k.inputShapes[0]!.slice(-2) as [number, number];
  return 2 * out.slice(0, -2).reduce((x, y) => x * y, 1) * mOut * (a1 === mOut ? a2 : a1) * n;
}

async function tfjsSetup(): Promise<{
  tf: Tf;
  lib: typeof import('tfjs-blocks');
  node: typeof import('tfjs-blocks/node');
}> {
  await import('@tensorflow/tfjs-backend-wasm');
  const tf = await import('@tensorflow/tfjs-core');
  const lib = await import('tfjs-blocks');
  const node = await import('tfjs-blocks/node');
  return { tf, lib, node };
}

/** Runs `run` under tf.profile; `mark(phase)` closes a phase at the current kernel count. */
async function profiled(
  tf: Tf,
  run: (mark: (phase: string) => void) => void | Promise<void>,
): Promise<{ kernels: Kernel[]; marks: { phase: string; end: number }[]; ms: number }> {
  // The profiler otherwise reads every output back to look for NaNs.
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  const engine = tf.engine() as unknown as { state: { activeProfile: { kernels: Kernel[] } } };
  const marks: { phase: string; end: number }[] = [];
  const mark = (phase: string) =>
    marks.push({ phase, end: engine.state.activeProfile.kernels.length });
  const start = performance.now();
  const info = await tf.profile(async () => {
    await run(mark);
  });
  return { kernels: info.kernels as unknown as Kernel[], marks, ms: performance.now() - start };
}

async function prefillChild(): Promise<void> {
  const { tf, lib, node } = await tfjsSetup();
  await lib.useBackend('wasm');
  lib.enableWasmFastKernels();
  const loaded = await lib.loadPretrained(node.folderSource(DIR));
  if (loaded.kind !== 'decoder-lm') throw new Error(`${DIR} is not a decoder`);
  const { config, params } = loaded;
  // bench:decode's prompt: token i is (i * 97 + 13) % vocab.
  const prompt = Array.from({ length: PREFILL_TOKENS }, (_, i) => (i * 97 + 13) % GPT2.vocab);
  const ids = tf.tensor2d([prompt], undefined, 'int32');
  const run = async () => {
    const logits = lib.decoderLm(config, params, ids, { logitsToKeep: 1 });
    await logits.data();
    logits.dispose();
  };
  await run(); // warm-up: XNNPACK packs each weight on its first product
  const wallMs: number[] = [];
  for (let i = 0; i < PREFILL_REPS; i++) {
    const start = performance.now();
    await run();
    wallMs.push(performance.now() - start);
  }
  const p = await profiled(tf, async (mark) => {
    await run();
    mark('forward');
  });
  const result: WorkloadResult = {
    wallMs,
    profile: summarise('prefill', p.kernels, p.marks, p.ms),
  };
  console.log(JSON.stringify(result));
}

async function trainChild(): Promise<void> {
  const { tf, lib } = await tfjsSetup();
  await lib.useBackend('wasm');
  lib.enableWasmFastKernels();
  const training = createOursTraining(ISSUE20);
  for (let i = 0; i < 2; i++) training.step(); // warm-up
  const wallMs: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const start = performance.now();
    training.step();
    wallMs.push(performance.now() - start);
  }
  // What `optimizer.minimize` does (variableGrads, then step), split so the
  // profile tells forward, backward and the update apart.
  const names = Object.keys(training.variables);
  const variables = names.map((n) => training.variables[n]!);
  const p = await profiled(tf, (mark) => {
    const { value, grads } = tf.variableGrads(() => {
      const loss = training.loss();
      mark('forward');
      return loss;
    }, variables);
    mark('backward');
    const named = Object.fromEntries(names.map((n, i) => [n, grads[variables[i]!.name]!]));
    training.optimizer.step(named);
    mark('update');
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  });
  training.dispose();
  const result: WorkloadResult = { wallMs, profile: summarise('train', p.kernels, p.marks, p.ms) };
  console.log(JSON.stringify(result));
}

/** GFLOP/s per shape: `cached` reuses one right-hand side (XNNPACK packs it once), `fresh` a new one per call. */
type CeilingResult = Record<string, { cached: number; fresh: number }>;

async function ceilingChild(threads: number, shapes: string[]): Promise<void> {
  const { tf, lib, node } = await tfjsSetup();
  // Before any tensor exists: the threaded build replaces the stock one under the name 'wasm'.
  if (threads > 0) await node.useThreadedWasm({ threads });
  else await lib.useBackend('wasm');
  const out: CeilingResult = {};
  for (const key of shapes) {
    const [m, k, n] = key.split('x').map(Number) as [number, number, number];
    const a = tf.randomNormal([m, k]);
    const bs = Array.from({ length: REPS + 1 }, () => tf.randomNormal([k, n]));
    const time = (b: import('@tensorflow/tfjs-core').Tensor) => {
      const start = performance.now();
      const y = tf.matMul(a, b);
      y.dataSync();
      const ms = performance.now() - start;
      y.dispose();
      return ms;
    };
    time(bs[0]!); // packs bs[0]
    const cached = Array.from({ length: REPS }, () => time(bs[0]!));
    const fresh = bs.slice(1).map(time);
    const gflops = (ms: number) => (2 * m * k * n) / (ms * 1e6);
    out[key] = { cached: gflops(median(cached)), fresh: gflops(median(fresh)) };
    tf.dispose([a, ...bs]);
  }
  console.log(JSON.stringify(out));
}

// ---------------------------------------------------------------------------------------------
// The parent.

type TorchCeiling = { gflops: Record<string, Record<string, number>>; torch: string };
type TorchProfile = {
  wall_ms: number;
  self_ms: number;
  groups: Record<string, { ms: number; calls: number; gflop: number }>;
};
type TorchPrefill = { seconds: Record<string, number>; profile?: TorchProfile; torch: string };
type TorchTrain = { step_ms: Record<string, number>; profile?: TorchProfile; torch: string };

/** Runs a child (this script, or limits.py); its last stdout line is JSON. */
function runChild<T>(label: string, command: string, args: string[]): T | string {
  const started = performance.now();
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 26 });
  const lines = (r.stdout ?? '').trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  if (r.status !== 0 || !last.startsWith('{')) {
    const why = (r.stderr ?? '').trim().split('\n').slice(-3).join(' / ') || `status ${r.status}`;
    console.log(`${label}: failed (${seconds} s): ${why}`);
    return `failed: ${why}`;
  }
  console.log(`${label} (${seconds} s, load ${loadAverage()}): ${last.slice(0, 300)}`);
  return JSON.parse(last) as T;
}
/** The flags a child reads, passed on. */
const CHILD_FLAGS = [
  ...['reps', String(REPS), 'prefill-reps', String(PREFILL_REPS), 'steps', String(STEPS)],
  ...['dir', DIR],
].map((x, i) => (i % 2 === 0 ? `--${x}` : x));
const tfjs = <T>(label: string, ...args: string[]) =>
  runChild<T>(label, process.execPath, [
    ...process.execArgv,
    process.argv[1]!,
    ...args,
    ...CHILD_FLAGS,
  ]);
const torch = <T>(label: string, ...args: string[]) =>
  has('no-torch')
    ? 'not run (--no-torch)'
    : runChild<T>(label, PYTHON, ['bench/reference/limits.py', ...args]);

const ok = <T>(x: T | string | undefined): x is T => typeof x === 'object' && x !== null;

async function parent(): Promise<void> {
  const cpu = cpuInfo();
  const loadStart = loadAverage();
  const revision = commitLine();
  console.log(`${cpu.model} (${cpu.flags}); load ${loadStart}; commit ${revision}`);
  if (!existsSync(join(DIR, 'model.safetensors')))
    throw new Error(`${DIR} has no model.safetensors: run npm run bench:decode once (it makes it)`);

  const prefill: { tfjs: (WorkloadResult | string)[]; torch: (TorchPrefill | string)[] } = {
    tfjs: [],
    torch: [],
  };
  const train: { tfjs: (WorkloadResult | string)[]; torch: (TorchTrain | string)[] } = {
    tfjs: [],
    torch: [],
  };
  for (let run = 0; run < RUNS; run++) {
    const order = run % 2 === 0 ? ['tfjs', 'torch'] : ['torch', 'tfjs'];
    for (const side of order) {
      if (side === 'tfjs')
        prefill.tfjs[run] = tfjs(`run ${run + 1} prefill tfjs-blocks`, '--child', 'prefill');
      else
        prefill.torch[run] = torch(
          `run ${run + 1} prefill PyTorch`,
          'prefill',
          DIR,
          '--reps',
          String(PREFILL_REPS + 1),
          '--profile',
        );
    }
    for (const side of order) {
      if (side === 'tfjs')
        train.tfjs[run] = tfjs(`run ${run + 1} training tfjs-blocks`, '--child', 'train');
      else
        train.torch[run] = torch(
          `run ${run + 1} training PyTorch`,
          'train',
          '--steps',
          String(STEPS + 2),
          '--profile',
        );
    }
  }

  // The ceiling's shapes: the products the profiles show (at least MIN_CEILING_ROWS rows).
  const prefillProfile = meanProfile(prefill.tfjs.filter(ok));
  const trainProfile = meanProfile(train.tfjs.filter(ok));
  const shapes: CeilingShape[] = [
    ...shapesOf('prefill', prefillProfile, PREFILL_PRODUCTS),
    ...shapesOf('train', trainProfile, TRAIN_PRODUCTS),
  ];
  const ceilings: Record<string, (CeilingResult | TorchCeiling | string)[]> = {
    stock: [],
    threaded: [],
    torch: [],
  };
  const sides = ['stock', ...(has('no-threaded') ? [] : ['threaded']), 'torch'];
  for (let round = 0; round < CEILING_ROUNDS; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      const label = `ceiling round ${round + 1} ${side}`;
      const list = [...new Set(shapes.map((x) => x.shape))].join(',');
      ceilings[side]!.push(
        side === 'torch'
          ? torch<TorchCeiling>(label, 'ceiling', '--shapes', list, '--reps', String(REPS))
          : tfjs<CeilingResult>(
              label,
              '--child',
              'ceiling',
              '--threads',
              side === 'threaded' ? '2' : '0',
              '--shapes',
              list,
            ),
      );
    }
  }
  const loadEnd = loadAverage();
  console.log(`load average at end: ${loadEnd}`);
  const measured: Measured = {
    settings: {
      command: `npm run bench:limits${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
      runs: RUNS,
      ceilingRounds: CEILING_ROUNDS,
      reps: REPS,
      prefillReps: PREFILL_REPS,
      steps: STEPS,
      dir: DIR,
      node: process.version,
      cores: availableParallelism(),
    },
    cpu,
    loadStart,
    loadEnd,
    revision,
    prefill,
    train,
    prefillProfile,
    trainProfile,
    ceilings,
    shapes,
  };
  // The raw measurements, for a re-render (`--from FILE`) or a closer look.
  writeFileSync(RESULTS, JSON.stringify(measured));
  console.log(`raw results: ${RESULTS}`);
  write(measured);
}

/** Renders the section and writes it unless --no-write. */
function write(measured: Measured): void {
  const body = report(measured);
  console.log(body);
  reportUnlessDryRun('limits', 'What limits prefill and training (issue 20)', body, 3);
}

/** A product shape of a workload, and the GFLOP it has there (from the profile). */
type CeilingShape = { which: 'prefill' | 'train'; shape: string; role: string; gflop: number };

/** The profile's product shapes of at least MIN_CEILING_ROWS rows; the role table's when it has none. */
function shapesOf(which: 'prefill' | 'train', p: Profile, products: Product[]): CeilingShape[] {
  const measured = Object.entries(p.shapes)
    .filter(([shape]) => Number(shape.split('x')[0]) >= MIN_CEILING_ROWS)
    .sort(([, a], [, b]) => b.ms - a.ms)
    .map(([shape, v]) => ({ which, shape, role: v.role, gflop: v.gflop }));
  if (measured.length) return measured;
  return fallbackShapes(products).map((shape) => ({
    which,
    shape,
    role: roleOf(which, ...(shape.split('x').map(Number) as [number, number, number])) ?? '',
    gflop: Number.NaN,
  }));
}

// ---------------------------------------------------------------------------------------------
// The report.

const fmt = (x: number | undefined, digits = 1) =>
  x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);

/** Mean over runs of each group's ms (and GFLOP). */
function meanProfile(runs: WorkloadResult[]): Profile {
  const out: Profile = {
    profiledMs: mean(runs.map((r) => r.profile.profiledMs)),
    kernelMs: mean(runs.map((r) => r.profile.kernelMs)),
    groups: {},
    shapes: {},
    phases: {},
  };
  for (const r of runs) {
    for (const [g, v] of Object.entries(r.profile.groups)) {
      const o = entry(out.groups, g, () => ({ ms: 0, kernels: 0, gflop: 0 }));
      o.ms += v.ms / runs.length;
      o.kernels = v.kernels;
      o.gflop = v.gflop;
    }
    for (const [s, v] of Object.entries(r.profile.shapes)) {
      const o = entry(out.shapes, s, () => ({ ms: 0, kernels: 0, gflop: 0, role: v.role }));
      o.ms += v.ms / runs.length;
      o.kernels = v.kernels;
      o.gflop = v.gflop;
    }
    for (const [p, ms] of Object.entries(r.profile.phases))
      out.phases[p] = (out.phases[p] ?? 0) + ms / runs.length;
  }
  return out;
}

function profileTable(p: Profile): string[] {
  const rows = Object.entries(p.groups).sort(([, a], [, b]) => b.ms - a.ms);
  return [
    '| group | kernels | ms | share of Σ kernels | GFLOP | GFLOP/s |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      ([g, v]) =>
        `| ${g} | ${v.kernels} | ${fmt(v.ms)} | ${fmt((100 * v.ms) / p.kernelMs, 0)}% | ${v.gflop ? fmt(v.gflop, 2) : '–'} | ${v.gflop ? fmt(v.gflop / (v.ms / 1000), 1) : '–'} |`,
    ),
    `| **Σ kernels** | ${rows.reduce((a, [, v]) => a + v.kernels, 0)} | ${fmt(p.kernelMs)} | 100% | ${fmt(
      rows.reduce((a, [, v]) => a + v.gflop, 0),
      2,
    )} | – |`,
    `| JS between kernels (profiled wall − Σ kernels; the profiler's bookkeeping included) | – | ${fmt(p.profiledMs - p.kernelMs)} | – | – | – |`,
  ];
}

function torchProfileLine(p: TorchProfile | undefined, label: string): string {
  if (!p) return `- PyTorch ${label}: no profile.`;
  const rows = Object.entries(p.groups)
    .sort(([, a], [, b]) => b.ms - a.ms)
    .map(([g, v]) => {
      const rate = v.gflop ? `, ${fmt(v.gflop / (v.ms / 1000), 0)} GFLOP/s` : '';
      return `${g} ${fmt(v.ms)} ms (${fmt((100 * v.ms) / p.self_ms, 0)}%${rate})`;
    });
  return `- PyTorch ${label} (torch.profiler, self CPU time by operator kind, one run, 2 threads; ${fmt(p.wall_ms)} ms wall profiled): ${rows.join('; ')}.`;
}

/** Everything a report is rendered from (saved as JSON next to the model folder). */
type Measured = {
  settings: {
    command: string;
    runs: number;
    ceilingRounds: number;
    reps: number;
    prefillReps: number;
    steps: number;
    dir: string;
    node: string;
    cores: number;
  };
  cpu: { model: string; flags: string };
  loadStart: string;
  loadEnd: string;
  revision: string;
  prefill: { tfjs: (WorkloadResult | string)[]; torch: (TorchPrefill | string)[] };
  train: { tfjs: (WorkloadResult | string)[]; torch: (TorchTrain | string)[] };
  prefillProfile: Profile;
  trainProfile: Profile;
  ceilings: Record<string, (CeilingResult | TorchCeiling | string)[]>;
  shapes: CeilingShape[];
};

function report(r: Measured): string {
  const { command, runs: RUNS, ceilingRounds: CEILING_ROUNDS, reps: REPS } = r.settings;
  const { prefillReps: PREFILL_REPS, steps: STEPS, dir: DIR } = r.settings;
  const torchVersion =
    [...r.prefill.torch, ...r.train.torch].find(ok)?.torch ??
    r.ceilings.torch!.filter(ok).map((c) => (c as TorchCeiling).torch)[0] ??
    'not run';

  // Workload totals: tfjs median wall ms per run, PyTorch 1/2 threads, ratios within a run.
  const totals = (
    label: string,
    tfjsRuns: (WorkloadResult | string)[],
    torchMs: (number | undefined)[][],
  ) => {
    const rows = tfjsRuns.map((t, i) => {
      const ours = ok(t) ? median(t.wallMs) : Number.NaN;
      const [one, two] = torchMs[i] ?? [];
      const ratio = (x: number | undefined) => (x === undefined ? '–' : `${fmt(x / ours, 3)}×`);
      return {
        ours,
        one,
        two,
        line: `| ${label} | run ${i + 1} | ${fmt(ours, 0)} | ${fmt(one, 0)} | ${fmt(two, 0)} | ${ratio(one)} | ${ratio(two)} |`,
      };
    });
    return rows;
  };
  const prefillTorch = r.prefill.torch.map((t) =>
    ok(t) ? [t.seconds['1']! * 1000, t.seconds['2']! * 1000] : [],
  );
  const trainTorch = r.train.torch.map((t) => (ok(t) ? [t.step_ms['1']!, t.step_ms['2']!] : []));
  const prefillRows = totals('GPT-2 small prefill, 256 tokens', r.prefill.tfjs, prefillTorch);
  const trainRows = totals('training step, issue-20 model', r.train.tfjs, trainTorch);
  const ratioMedian = (rows: { ours: number; two?: number }[]) => {
    const rs = rows.filter((x) => x.two !== undefined && Number.isFinite(x.ours));
    return rs.length ? median(rs.map((x) => x.two! / x.ours)) : Number.NaN;
  };

  // Ceilings: median over rounds per shape.
  const tfjsCeiling = (side: string, shape: string, which: 'cached' | 'fresh') => {
    const vs = (r.ceilings[side] ?? [])
      .filter(ok)
      .map((c) => (c as CeilingResult)[shape]?.[which])
      .filter((x): x is number => x !== undefined);
    return vs.length ? median(vs) : undefined;
  };
  /** PyTorch's GFLOP/s on `shape` with 1 or 2 threads, or the better of the two ('best'). */
  const torchCeiling = (threads: string, shape: string): number | undefined => {
    if (threads === 'best') {
      const both = ['1', '2'].map((t) => torchCeiling(t, shape)).filter((x) => x !== undefined);
      return both.length ? Math.max(...both) : undefined;
    }
    const vs = (r.ceilings.torch ?? [])
      .filter(ok)
      .map((c) => (c as TorchCeiling).gflops[threads]?.[shape])
      .filter((x): x is number => x !== undefined);
    return vs.length ? median(vs) : undefined;
  };
  const { prefillProfile, trainProfile } = r;
  const inModel = (which: 'prefill' | 'train', shape: string) => {
    const s = (which === 'prefill' ? prefillProfile : trainProfile).shapes[shape];
    return s ? s.gflop / (s.ms / 1000) : undefined;
  };
  const ceilingRows = r.shapes.map(({ which: workload, shape, role }) => {
    const stock = tfjsCeiling('stock', shape, 'cached');
    const stockFresh = tfjsCeiling('stock', shape, 'fresh');
    const thr = tfjsCeiling('threaded', shape, 'cached');
    const thrFresh = tfjsCeiling('threaded', shape, 'fresh');
    const t1 = torchCeiling('1', shape);
    const t2 = torchCeiling('2', shape);
    const div = (a?: number, b?: number) => (a && b ? `${fmt(a / b, 2)}×` : '–');
    const which = workload === 'prefill' ? 'prefill' : 'training';
    return `| ${which} | ${shape.replaceAll('x', ' × ')} | ${role} | ${fmt(inModel(workload, shape))} | ${fmt(stock)} / ${fmt(stockFresh)} | ${fmt(thr)} / ${fmt(thrFresh)} | ${fmt(t1)} | ${fmt(t2)} | ${div(stock, t1)} | ${div(which === 'prefill' ? stock : stockFresh, t2)} | ${div(which === 'prefill' ? thr : thrFresh, t2)} |`;
  });
  /** If every product ran at its ceiling rate and nothing else cost anything: time(torch) / time(wasm). */
  const ceilingRatio = (which: 'prefill' | 'train', wasmSide: string, torchThreads: string) => {
    let wasm = 0;
    let pt = 0;
    for (const { shape, gflop: flops } of r.shapes.filter((x) => x.which === which)) {
      const w = tfjsCeiling(wasmSide, shape, which === 'prefill' ? 'cached' : 'fresh');
      const t = torchCeiling(torchThreads, shape);
      if (!w || !t) return Number.NaN;
      wasm += flops / w;
      pt += flops / t;
    }
    return pt / wasm;
  };
  const matMulShare = (p: Profile) => {
    const ms = Object.entries(p.groups)
      .filter(([g]) => g.startsWith('matMul'))
      .reduce((a, [, v]) => a + v.ms, 0);
    return { ms, share: ms / p.kernelMs };
  };
  const pm = matMulShare(prefillProfile);
  const tm = matMulShare(trainProfile);
  const prefillRatio = ratioMedian(prefillRows);
  const trainRatio = ratioMedian(trainRows);
  const torchPrefillProfile = r.prefill.torch.filter(ok)[0]?.profile;
  const torchTrainProfile = r.train.torch.filter(ok)[0]?.profile;
  const gemmShare = (p?: TorchProfile) => {
    const g = p && Object.entries(p.groups).find(([k]) => k.startsWith('GEMM'))?.[1];
    return g && p ? g.ms / p.self_ms : Number.NaN;
  };
  /** The products' rate in the model: GFLOP over ms of the ceiling's shapes. */
  const inModelRate = (which: 'prefill' | 'train') => {
    const p = which === 'prefill' ? prefillProfile : trainProfile;
    const list = r.shapes.filter((x) => x.which === which);
    const gflop = list.reduce((a, x) => a + x.gflop, 0);
    const ms = list.reduce((a, x) => a + (p.shapes[x.shape]?.ms ?? 0), 0);
    return gflop / (ms / 1000);
  };
  /** The same shapes' FLOP-weighted rate at the ceiling. */
  const ceilingRate = (which: 'prefill' | 'train', side: string) => {
    const list = r.shapes.filter((x) => x.which === which);
    let seconds = 0;
    for (const x of list) {
      const g = tfjsCeiling(side, x.shape, which === 'prefill' ? 'cached' : 'fresh');
      if (!g) return Number.NaN;
      seconds += x.gflop / g;
    }
    return list.reduce((a, x) => a + x.gflop, 0) / seconds;
  };
  /** Σ kernels with the ceiling's shapes at the stock build's ceiling rate, the rest as profiled. */
  const productsAtCeilingMs = (which: 'prefill' | 'train') => {
    const p = which === 'prefill' ? prefillProfile : trainProfile;
    let ms = p.kernelMs;
    for (const x of r.shapes.filter((y) => y.which === which)) {
      const g = tfjsCeiling('stock', x.shape, which === 'prefill' ? 'cached' : 'fresh');
      if (!g) return Number.NaN;
      ms += (1000 * x.gflop) / g - (p.shapes[x.shape]?.ms ?? 0);
    }
    return ms;
  };
  /** PyTorch's faster thread count's median ms: on a loaded machine 2 threads can be slower than 1. */
  const torchBestMs = (rows: { one?: number; two?: number }[]) => {
    const pick = (f: (x: { one?: number; two?: number }) => number | undefined) => {
      const vs = rows.map(f).filter((x): x is number => x !== undefined);
      return vs.length ? median(vs) : Number.NaN;
    };
    return Math.min(
      pick((x) => x.one),
      pick((x) => x.two),
    );
  };
  const perShapeGap = (which: 'prefill' | 'train') => {
    const gaps = r.shapes
      .filter((x) => x.which === which)
      .map((x) => {
        const w = tfjsCeiling('stock', x.shape, which === 'prefill' ? 'cached' : 'fresh');
        const t = torchCeiling('1', x.shape);
        return w && t ? w / t : Number.NaN;
      })
      .filter(Number.isFinite);
    return gaps.length ? `${fmt(Math.min(...gaps), 2)}–${fmt(Math.max(...gaps), 2)}×` : '–';
  };
  const argument = (
    which: 'prefill' | 'train',
    label: string,
    rows: { one?: number; two?: number }[],
  ) => {
    const best = ceilingRatio(which, 'stock', 'best');
    const bestThreaded = ceilingRatio(which, 'threaded', 'best');
    const productsOnly = torchBestMs(rows) / productsAtCeilingMs(which);
    const verdict =
      Math.max(best, bestThreaded) < GOAL
        ? `below the goal of ${GOAL}× even then: on this host it needs products faster than XNNPACK's wasm SIMD kernels`
        : `above the goal of ${GOAL}×: wasm's arithmetic allows it; the gap is in how the products run in the model and in the rest`;
    return `- **${label}**: the products run at ${fmt(inModelRate(which))} GFLOP/s in the model against ${fmt(ceilingRate(which, 'stock'))} for the same shapes alone on one thread (${fmt(ceilingRate(which, 'threaded'))} threaded on 2). Per core, wasm reaches ${fmt(ceilingRatio(which, 'stock', '1'), 2)}× PyTorch's rate on these shapes (FLOP-weighted; ${perShapeGap(which)} per shape). Against PyTorch at its faster thread count (1 or 2; 2 on a quiet machine): the tfjs kernels with the products at the one-thread ceiling and every other kernel as profiled, against PyTorch's whole measured time, would give ${fmt(productsOnly, 2)}×; the products alone on both sides (every other kernel free in both), ${fmt(best, 2)}× (threaded build: ${fmt(bestThreaded, 2)}×): at best ${fmt(Math.max(best, bestThreaded), 2)}×, ${verdict}.`;
  };
  const phases = Object.entries(trainProfile.phases)
    .map(([k, v]) => `${k} ${fmt(v, 0)} ms (${fmt((100 * v) / trainProfile.kernelMs, 0)}%)`)
    .join(', ');

  return [
    'Where the time of the two compute-bound rows of issue 20 goes, and how fast their matrix products',
    'can be on this host: `npm run bench:limits` (bench/limits.ts, PyTorch side bench/reference/limits.py).',
    `Each measurement runs in a child process of its own; the ${RUNS} runs and ${CEILING_ROUNDS} ceiling rounds reverse their order`,
    'each time, and ratios are taken within a run.',
    '',
    `Host: ${r.cpu.model} (${r.cpu.flags}; wasm SIMD is 128-bit), Node ${r.settings.node}, PyTorch ${torchVersion}.`,
    `Command: \`${command}\`, commit ${r.revision}.`,
    `Load average (1/5/15 min) at start ${r.loadStart}, at end ${r.loadEnd}.`,
    '',
    '**Workloads.** tfjs-blocks float32 on the stock wasm build (one thread) with `enableWasmFastKernels()`:',
    `the prefill is \`decoderLm(config, params, ids, { logitsToKeep: 1 })\` on GPT-2 small loaded with`,
    `\`loadPretrained(folderSource('${DIR}'))\` (${PREFILL_TOKENS} tokens; median of ${PREFILL_REPS} after a warm-up);`,
    `the training step is bench:train's issue-20 row (${describeSizes(ISSUE20)}; \`decoderLm\` +`,
    `\`softmaxCrossEntropy\` + \`createOptimizer(adamw)\`, bench/training-model.ts; median of ${STEPS} after 2 warm-ups).`,
    "PyTorch: the same prefill (`GPT2LMHeadModel(ids, logits_to_keep=1)`, no_grad) and bench/reference/train_gpt.py's",
    'model and AdamW step, with `torch.set_num_threads(1)` and `(2)` alternating. Milliseconds; ratio = PyTorch ms / tfjs ms.',
    '',
    '| workload | run | tfjs-blocks ms | PyTorch 1 thread | PyTorch 2 threads | × PyTorch 1 thread | × PyTorch 2 threads |',
    '|---|---|---|---|---|---|---|',
    ...prefillRows.map((x) => x.line),
    ...trainRows.map((x) => x.line),
    '',
    `#### Prefill profile (tfjs-blocks, one prefill under \`tf.profile\`, mean of ${r.prefill.tfjs.filter(ok).length} runs)`,
    '',
    'Kernels grouped by what they compute: products by the weight they multiply by (their shapes are',
    'known: `[256, 768] × [768, 3072]` is the MLP’s up projection …), batched products as attention, the rest by name and',
    "shape. A product's time includes what the fast kernels do inside it (explicit transposes, per-slice",
    "calls) and XNNPACK's packing of the right-hand side when it is new: neither is a kernel of its own,",
    'so they cannot be separated here (the ceiling table below measures packing apart).',
    '',
    ...profileTable(prefillProfile),
    '',
    torchProfileLine(torchPrefillProfile, 'prefill'),
    '',
    `#### Training-step profile (tfjs-blocks, one step under \`tf.profile\`, mean of ${r.train.tfjs.filter(ok).length} runs)`,
    '',
    '`optimizer.minimize` split into what it does (`tf.variableGrads`, then `optimizer.step`), so the phases',
    `show: ${phases || '–'} of Σ kernels. Products are named by weight and pass (forward x·W, input gradient`,
    'dY·Wᵀ, weight gradient Xᵀ·dY); where two products share a shape, both names.',
    '',
    ...profileTable(trainProfile),
    '',
    torchProfileLine(torchTrainProfile, 'training step'),
    '',
    '#### Ceiling: a plain float32 matMul on the same shapes',
    '',
    `\`tf.matMul(a [M, K], b [K, N])\` (no transposes, XNNPACK's fast path), median of ${REPS} calls per round, median over`,
    `${CEILING_ROUNDS} rounds; "cached / new b": the same \`b\` every call (XNNPACK packs it once and keeps the packed copy) /`,
    'a new `b` every call (packed every call, which is what training does: the weights change every step and the',
    "gradients' operands are new tensors). Threaded: `useThreadedWasm({ threads: 2 })` in its own process. PyTorch:",
    '`torch.matmul` (MKL/oneDNN), 1 and 2 threads. "In the model": the same shape\'s GFLOP/s in the profiles above.',
    'Ratios: wasm 1 thread / PyTorch 1 thread (per-core gap), wasm 1 thread / PyTorch 2 threads and threaded wasm /',
    "PyTorch 2 threads (the goal's comparison), with new `b` for training shapes and cached for the prefill's.",
    '',
    '| workload | M × K × N | product | in the model | wasm 1 thread: cached / new b | threaded, 2 threads: cached / new b | PyTorch 1 thread | PyTorch 2 threads | wasm ÷ PyTorch, 1 thread each | wasm 1 t ÷ PyTorch 2 t | threaded 2 t ÷ PyTorch 2 t |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...ceilingRows,
    '',
    'GFLOP/s. If every product of the workload ran at its ceiling and all else were free on both sides, the',
    "workload's ratio would be Σ FLOPs ÷ PyTorch rate over Σ FLOPs ÷ wasm rate, per shape (weighted by the",
    'FLOPs each shape has in the workload):',
    '',
    `- prefill: stock wasm vs PyTorch 2 threads **${fmt(ceilingRatio('prefill', 'stock', '2'), 2)}×**, threaded wasm (2) vs PyTorch 2 threads ${fmt(ceilingRatio('prefill', 'threaded', '2'), 2)}×, stock vs PyTorch 1 thread ${fmt(ceilingRatio('prefill', 'stock', '1'), 2)}× (measured: ${fmt(prefillRatio, 3)}× against 2 threads);`,
    `- training: stock wasm vs PyTorch 2 threads **${fmt(ceilingRatio('train', 'stock', '2'), 2)}×**, threaded ${fmt(ceilingRatio('train', 'threaded', '2'), 2)}×, stock vs PyTorch 1 thread ${fmt(ceilingRatio('train', 'stock', '1'), 2)}× (measured: ${fmt(trainRatio, 3)}× against 2 threads).`,
    '',
    '#### What limits them',
    '',
    `Products take ${fmt(100 * pm.share, 0)}% of the prefill's kernel time and ${fmt(100 * tm.share, 0)}% of the training step's (PyTorch's GEMMs: ${fmt(100 * gemmShare(torchPrefillProfile), 0)}% and ${fmt(100 * gemmShare(torchTrainProfile), 0)}% of its self CPU time), so both rows are bound by matrix products.`,
    "wasm SIMD (1.0) has 128-bit vectors, 4 float32 lanes, and no fused multiply-add: XNNPACK's wasm kernels do 8",
    "FLOPs per multiply and add pair of instructions, where one AVX2 FMA does 16 and one AVX-512 FMA 32 (PyTorch's",
    'MKL/oneDNN kernels take the widest the CPU has; the flags are in the host line above).',
    '',
    argument('prefill', 'Prefill', prefillRows),
    argument('train', 'Training', trainRows),
    '',
    // The 1-minute average at the end covers the run's last minute; the one at
    // the start still carries whatever ran just before.
    Number.parseFloat(r.loadEnd) > r.settings.cores
      ? `**Provisional:** the load average exceeded the ${r.settings.cores} cores at the end of this run: every figure is slowed by other jobs, PyTorch's 2-thread ones most; rerun on a quiet machine before reading the ratios.`
      : '',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
const childAt = argv.indexOf('--child');
const from = argv.indexOf('--from');
if (from >= 0) {
  write(JSON.parse(readFileSync(argv[from + 1]!, 'utf8')) as Measured);
} else if (childAt >= 0) {
  const kind = argv[childAt + 1];
  if (kind === 'prefill') await prefillChild();
  else if (kind === 'train') await trainChild();
  else if (kind === 'ceiling')
    await ceilingChild(numberFlag('threads', 0), flag('shapes', '').split(','));
  else throw new Error(`unknown child ${kind}`);
} else {
  await parent();
}
