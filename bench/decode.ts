/**
 * GPT-2 small against PyTorch (issue 20): greedy decode tokens/s (batch 1,
 * 32-token prompt), the prefill of a 256-token prompt, and resident memory,
 * for tfjs-blocks float32 / int8 / int4 (wasm + enableWasmFastKernels), the
 * same GPT-2 written with plain tfjs ops (bench/baseline-gpt.ts, stock wasm
 * kernels) and PyTorch fp32 with HF `generate` (bench/reference/decode_gpt2.py);
 * then a per-kernel profile of one decode step of the float32 and int8 models.
 *
 *   npm run bench:decode                      (writes docs/benchmarks.md)
 *   npm run bench:decode -- --runs 1 --no-write --contenders float32,torch
 *
 * Flags: --runs N (rounds; default 2), --prompt N (32), --new N (timed new
 * tokens; 32), --prefill N (256), --contenders a,b,…
 * (float32,float32-cached,int8,int4,plain,torch; float32-cached is float32 with
 * `enableWasmFastKernels({ packedWeights: 'cached' })`),
 * --dir DIR (the model folder; default /tmp/tfjs-blocks-bench/gpt2-small),
 * --wasm-threads N (the tfjs contenders on tfjs-backend-wasm's threaded build
 * with N threads, `useThreadedWasm` from tfjs-blocks/node; default: the stock
 * single-threaded build), --no-profile, --no-write.
 *
 * The model: `GPT2LMHeadModel(GPT2Config())` with `torch.manual_seed(0)`,
 * saved by `transformers` with `save_pretrained(dir, safe_serialization=True)`
 * by the Python at `$TORCH2_PYTHON` (made once, reused). Without
 * `TORCH2_PYTHON` only the tfjs rows run, on a folder `savePretrained` writes
 * from `initDecoderLm` weights instead.
 *
 * Every contender runs in a child process of its own (so each RSS is its
 * own), once per round, the rounds alternating the contenders so load drift
 * hits them alike; ratios against PyTorch are taken within a round.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { commitLine, cpuInfo, loadAverage } from './host';
import { median } from './median';
import { flag, reportUnlessDryRun } from './report';

const argv = process.argv.slice(2);
const has = (name: string) => argv.includes(`--${name}`);
const numberFlag = (name: string, fallback: number) => Number(flag(name, String(fallback)));
const RUNS = numberFlag('runs', 2);
const PROMPT = numberFlag('prompt', 32);
const NEW = numberFlag('new', 32);
const PREFILL = numberFlag('prefill', 256);
const DIR = flag('dir', '/tmp/tfjs-blocks-bench/gpt2-small');
const WASM_THREADS = numberFlag('wasm-threads', 0);
const PYTHON = process.env.TORCH2_PYTHON;
const ALL = ['float32', 'float32-cached', 'int8', 'int4', 'plain', 'torch'] as const;
type Contender = (typeof ALL)[number];
const LABEL: Record<Contender, string> = {
  float32: 'tfjs-blocks float32',
  'float32-cached': "tfjs-blocks float32, `packedWeights: 'cached'`",
  int8: 'tfjs-blocks int8 (weight-only, quantized while loading)',
  int4: 'tfjs-blocks int4 (groups of 32)',
  plain: 'plain tfjs (stock wasm kernels)',
  torch: 'PyTorch fp32, 2 threads, HF `generate`',
};

/** One contender's measurement (a child's JSON line). */
export type Measured = {
  ids: number[];
  decodeTokensPerS: number;
  prefillS: number;
  rssBaseMb: number;
  rssLoadedMb: number;
  rssEndMb: number;
  peakRssMb: number;
  /** tfjs only: the wasm heap and the bytes of live tensors at the end. */
  wasmHeapMb?: number;
  tensorMb?: number;
  loadS?: number;
};

/** Token i of an n-token prompt: the same in decode_gpt2.py. */
export const promptOf = (n: number, vocab = 50257) =>
  Array.from({ length: n }, (_, i) => (i * 97 + 13) % vocab);

// ---------------------------------------------------------------------------------------------
// Child processes.

type Tf = typeof import('@tensorflow/tfjs-core');

async function tfjsChild(contender: Contender, profile: boolean): Promise<void> {
  await import('@tensorflow/tfjs-backend-cpu');
  await import('@tensorflow/tfjs-backend-wasm');
  const tf = await import('@tensorflow/tfjs-core');
  const lib = await import('tfjs-blocks');
  const node = await import('tfjs-blocks/node');
  const quantized = contender === 'int8' || contender === 'int4';
  // Quantized models are quantized while they load (`loadPretrained`'s
  // `quantize`: GPT-2's tables and kernels never become float tensors, its
  // fused q/k/v kernels one at a time) on the cpu backend, and run on wasm:
  // the biases and norms move to the wasm heap on first use, and no float
  // matrix ever enters it.
  // Before any tensor exists: the threaded backend replaces the stock one under the name 'wasm'.
  if (WASM_THREADS > 0) await node.useThreadedWasm({ threads: WASM_THREADS });
  await tf.setBackend(quantized ? 'cpu' : 'wasm');
  // 'cached' keeps XNNPACK's packed copy of every weight: the prefill's
  // products skip packing, for a second copy of the block kernels.
  if (contender !== 'plain') {
    lib.enableWasmFastKernels(
      contender === 'float32-cached' ? { packedWeights: 'cached' } : undefined,
    );
  }
  const mb = (bytes: number) => bytes / 1e6;
  const rss = () => mb(process.memoryUsage().rss);
  const rssBaseMb = rss();
  const t0 = performance.now();
  let decode: (prompt: number[], n: number, onToken: () => void) => Promise<number[]>;
  if (contender === 'plain') {
    const { createPlainGpt2Decoder } = await import('./baseline-gpt');
    const { tensors } = await node.readSafetensorsFile(join(DIR, 'model.safetensors'));
    const json = JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8'));
    const plain = createPlainGpt2Decoder(tensors, {
      numLayers: json.n_layer,
      numHeads: json.n_head,
      epsilon: json.layer_norm_epsilon,
    });
    decode = async (prompt, n, onToken) => plain.generate(prompt, n, onToken);
  } else {
    // Every matrix, the token table (and with it the tied head) included.
    const bits = contender === 'int4' ? 4 : 8;
    const loaded = quantized
      ? await lib.loadPretrained(node.folderSource(DIR), {
          quantize: { bits, groupSize: 32, kernelsOnly: false },
        })
      : await lib.loadPretrained(node.folderSource(DIR));
    if (loaded.kind !== 'decoder-lm') throw new Error(`${DIR} is not a decoder`);
    if (quantized) await tf.setBackend('wasm');
    const model = {
      kind: 'decoderLm',
      config: loaded.config,
      params: loaded.params,
    } as import('tfjs-blocks').GenerationModel;
    decode = async (prompt, n, onToken) =>
      (await lib.generate(model, [prompt], { maxNewTokens: n, temperature: 0, onToken }))[0]!;
    if (profile) return profileChild(tf, lib, model, contender, decode);
  }
  const loadS = (performance.now() - t0) / 1000;
  const rssLoadedMb = rss();
  const short = promptOf(PROMPT);
  const long = promptOf(PREFILL);
  await decode(short, 2, () => {}); // warm-up: compiles and allocates what the timed runs reuse
  await decode(long, 1, () => {});
  const stamps: number[] = [];
  const ids = await decode(short, NEW + 1, () => stamps.push(performance.now()));
  const decodeTokensPerS = (NEW * 1000) / (stamps[stamps.length - 1]! - stamps[0]!);
  const start = performance.now();
  let first = 0;
  await decode(long, 1, () => {
    first = performance.now();
  });
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } };
  const result: Measured = {
    ids,
    decodeTokensPerS,
    prefillS: (first - start) / 1000,
    rssBaseMb,
    rssLoadedMb,
    rssEndMb: rss(),
    peakRssMb: process.resourceUsage().maxRSS / 1e3,
    wasmHeapMb: mb(backend.wasm?.HEAPU8.byteLength ?? 0),
    tensorMb: mb(tf.memory().numBytes),
    loadS,
  };
  console.log(JSON.stringify(result));
}

/** Where one decode step's time goes: tf.profile's kernels, grouped by what they compute. */
export type StepProfile = {
  /** Median ms per token, not profiled. */
  stepMs: number;
  /** Wall ms per profiled step (profiling adds its bookkeeping between kernels). */
  profiledStepMs: number;
  /** Σ kernel ms per profiled step. */
  kernelMs: number;
  groups: Record<string, { ms: number; kernels: number }>;
  /** The ten costliest kernels (name, shapes): ms, count. */
  top: { kernel: string; ms: number; count: number }[];
};

async function profileChild(
  tf: Tf,
  lib: typeof import('tfjs-blocks'),
  model: import('tfjs-blocks').GenerationModel,
  contender: string,
  decode: (prompt: number[], n: number, onToken: () => void) => Promise<number[]>,
): Promise<void> {
  const short = promptOf(PROMPT);
  await decode(short, 3, () => {});
  const stamps: number[] = [];
  await decode(short, 9, () => stamps.push(performance.now()));
  const stepMs = median(stamps.slice(1).map((t, i) => t - stamps[i]!));
  // Kernels run between the 2nd and the 5th token: three cached decode steps, averaged.
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  const marks: number[] = [];
  const times: number[] = [];
  type Kernel = {
    name: string;
    kernelTimeMs: number | { error: string };
    inputShapes: number[][];
    outputShapes: number[][];
  };
  const engine = tf.engine() as unknown as { state: { activeProfile: { kernels: Kernel[] } } };
  const info = await tf.profile(async () => {
    await lib.generate(model, [short], {
      maxNewTokens: 1 + PROFILED + 1,
      temperature: 0,
      onToken: () => {
        marks.push(engine.state.activeProfile.kernels.length);
        times.push(performance.now());
      },
    });
  });
  const step = (info.kernels as unknown as Kernel[]).slice(marks[1], marks[1 + PROFILED]);
  const profiledStepMs = (times[1 + PROFILED]! - times[1]!) / PROFILED;
  const groups: StepProfile['groups'] = {};
  const top = new Map<string, { ms: number; count: number }>();
  let kernelMs = 0;
  for (const k of step) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    // A custom-gradient op's time includes the kernels it ran, which are listed
    // too; only the quantized products (JS and SIMD work, no kernel inside) count.
    const group = classify(k.name, k.inputShapes, k.outputShapes);
    if (k.name === CUSTOM && !group.startsWith('linear') && !group.startsWith('tied')) continue;
    kernelMs += ms;
    groups[group] ??= { ms: 0, kernels: 0 };
    const g = groups[group];
    g.ms += ms;
    g.kernels += 1;
    const key = `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join(' ')} → ${k.outputShapes.map((s) => `[${s}]`).join(' ')}`;
    const t = top.get(key) ?? { ms: 0, count: 0 };
    t.ms += ms;
    t.count += 1;
    top.set(key, t);
  }
  for (const g of Object.values(groups)) {
    g.ms /= PROFILED;
    g.kernels /= PROFILED;
  }
  const result: StepProfile & { contender: string } = {
    contender,
    stepMs,
    profiledStepMs,
    kernelMs: kernelMs / PROFILED,
    groups,
    top: [...top]
      .map(([kernel, v]) => ({ kernel, ms: v.ms / PROFILED, count: v.count / PROFILED }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 10),
  };
  console.log(JSON.stringify(result));
}

const VOCAB = 50257;
/** tf.profile's name for a custom-gradient op (softmax, the quantized products). */
const CUSTOM = 'unnamed scope';
const D = 768;
const HIDDEN = 3072;
const HEAD_DIM = 64;
/** Cached decode steps profiled (averaged). */
const PROFILED = 3;

/**
 * The part of the model a kernel of a GPT-2-small decode step belongs to, by
 * its name and shapes (batch 1, one new token): products with a vocab-sized
 * operand are the tied head; products with a `[768, n]` / `[3072, 768]`
 * weight are the linears; rank-4 shapes with a head dim of 64 are attention;
 * concatenations and scatters the cache; the rest is element-wise work on
 * `[1, 1, 768]` (norms, residual adds) or `[1, 1, 3072]` (GELU).
 */
function classify(name: string, inputs: number[][], outputs: number[][]): string {
  const shapes = [...inputs, ...outputs];
  const last = (s: number[]) => s[s.length - 1];
  const matMul = /MatMul/.test(name);
  if (shapes.some((s) => s.includes(VOCAB))) return 'tied head (and argmax)';
  if (name === CUSTOM && inputs.length === 1 && inputs[0]!.length === 2) {
    // A custom-gradient op on [1, k] -> [1, n]: a quantized product (its weight is no tensor).
    const k = last(inputs[0]!);
    const n = last(outputs[0] ?? []);
    if (k === D && n === D) return 'linear: attention q, k, v, out (768 → 768)';
    if (k === D && n === HIDDEN) return 'linear: MLP up (768 → 3072)';
    if (k === HIDDEN && n === D) return 'linear: MLP down (3072 → 768)';
  }
  if (/Concat|Scatter|Pad/.test(name)) return 'cache updates';
  if (shapes.some((s) => s.length === 4 && (last(s) === HEAD_DIM || s[1] === 12)))
    return 'attention (scores, softmax, mix, head split/merge)';
  if (matMul || inputs.some((s) => s.length === 2 && s[0]! >= D && s[1]! >= D)) {
    const w = inputs.find((s) => s.length === 2 && (s[0] === D || s[0] === HIDDEN));
    if (w && w[0] === D && w[1] === D) return 'linear: attention q, k, v, out (768 → 768)';
    if (w && w[0] === D && w[1] === 3 * D) return 'linear: attention q, k, v (768 → 2304)';
    if (w && w[0] === D && w[1] === HIDDEN) return 'linear: MLP up (768 → 3072)';
    if (w && w[0] === HIDDEN) return 'linear: MLP down (3072 → 768)';
    return 'linear: other products';
  }
  if (shapes.some((s) => last(s) === HIDDEN)) return 'MLP activation and bias (3072 wide)';
  if (/Gather/.test(name)) return 'embeddings';
  if (shapes.some((s) => last(s) === D)) return 'norms, residual adds, biases (768 wide)';
  return 'other (masks, positions, reshapes)';
}

// ---------------------------------------------------------------------------------------------
// The parent.

/** The model folder: made by transformers when a Python is given, else by savePretrained. */
async function ensureModel(): Promise<string> {
  if (existsSync(join(DIR, 'model.safetensors'))) {
    return 'reused';
  }
  if (PYTHON) {
    const r = spawnSync(PYTHON, ['bench/reference/decode_gpt2.py', 'save', DIR], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`decode_gpt2.py save failed (${PYTHON})`);
    return 'made by transformers';
  }
  await import('@tensorflow/tfjs-backend-cpu');
  const tf = await import('@tensorflow/tfjs-core');
  const lib = await import('tfjs-blocks');
  const node = await import('tfjs-blocks/node');
  await tf.setBackend('cpu');
  const config = lib.gpt2Config({
    vocabSize: VOCAB,
    maxLength: 1024,
    dModel: D,
    numLayers: 12,
    numHeads: 12,
  });
  const params = lib.initDecoderLm(config, 0);
  await node.savePretrained(DIR, { kind: 'decoder-lm', modelType: 'gpt2', config, params });
  tf.dispose(params as unknown as import('@tensorflow/tfjs-core').TensorContainer);
  return 'written by savePretrained (initDecoderLm weights: no TORCH2_PYTHON)';
}

/** Runs one child; its last stdout line is JSON. */
function child<T>(contender: Contender, profile = false): T | string {
  const common = ['--dir', DIR, '--prompt', String(PROMPT), '--new', String(NEW)];
  const threads = WASM_THREADS > 0 ? ['--wasm-threads', String(WASM_THREADS)] : [];
  const r =
    contender === 'torch'
      ? spawnSync(
          PYTHON!,
          [
            'bench/reference/decode_gpt2.py',
            'run',
            DIR,
            ...common.slice(2),
            '--prefill',
            String(PREFILL),
          ],
          { encoding: 'utf8', timeout: 900_000 },
        )
      : spawnSync(
          process.execPath,
          [
            ...process.execArgv,
            '--expose-gc',
            process.argv[1]!,
            profile ? '--child-profile' : '--child',
            contender,
            ...common,
            '--prefill',
            String(PREFILL),
            ...threads,
          ],
          { encoding: 'utf8', timeout: 900_000, maxBuffer: 1 << 26 },
        );
  const lines = (r.stdout ?? '').trim().split('\n');
  if (r.status !== 0) {
    const why = (r.stderr ?? '').trim().split('\n').slice(-3).join(' / ') || `status ${r.status}`;
    return `failed: ${why}`;
  }
  const out = JSON.parse(lines[lines.length - 1]!);
  if (contender === 'torch') {
    return {
      ids: out.ids,
      decodeTokensPerS: out.decode_tokens_per_s,
      prefillS: out.prefill_s,
      rssBaseMb: out.rss_base_mb,
      rssLoadedMb: out.rss_loaded_mb,
      rssEndMb: out.rss_end_mb,
      peakRssMb: out.peak_rss_mb,
      torch: `torch ${out.torch}, transformers ${out.transformers}, ${out.threads} threads`,
    } as T;
  }
  return out as T;
}

async function parent(): Promise<void> {
  const requested = flag('contenders', ALL.join(',')).split(',') as Contender[];
  for (const c of requested) if (!ALL.includes(c)) throw new Error(`unknown contender ${c}`);
  const contenders = requested.filter((c) => c !== 'torch' || PYTHON);
  const torchNote = PYTHON
    ? ''
    : 'PyTorch not run: set TORCH2_PYTHON to a Python with torch 2 and transformers.';
  const folder = await ensureModel();
  const cpu = cpuInfo();
  const loadStart = loadAverage();
  const revision = commitLine(); // what is measured: taken before the runs
  console.log(`model ${DIR}: ${folder}; ${cpu.model} (${cpu.flags}); load ${loadStart}`);
  const results: Record<string, (Measured | string)[]> = {};
  for (let run = 0; run < RUNS; run++) {
    // Rotate the order each round, so no contender always runs first.
    const order = contenders.map((_, i) => contenders[(i + run) % contenders.length]!);
    for (const c of order) {
      const r = child<Measured>(c);
      results[c] ??= [];
      results[c][run] = r;
      console.log(
        `run ${run + 1} ${c}: ${typeof r === 'string' ? r : `${r.decodeTokensPerS.toFixed(2)} tokens/s, prefill ${r.prefillS.toFixed(2)} s, RSS ${r.rssEndMb.toFixed(0)} MB (peak ${r.peakRssMb.toFixed(0)})`}`,
      );
    }
  }
  const profiles: (StepProfile & { contender: string })[] = [];
  if (!has('no-profile')) {
    for (const c of ['float32', 'int8'] as const) {
      if (!contenders.includes(c)) continue;
      const p = child<StepProfile & { contender: string }>(c, true);
      if (typeof p === 'string') console.log(`profile ${c}: ${p}`);
      else {
        profiles.push(p);
        console.log(`profile ${c}: ${JSON.stringify(p)}`);
      }
    }
  }
  // The raw measurements, for a re-render or a closer look.
  writeFileSync(
    join(DIR, '..', 'decode-results.json'),
    JSON.stringify({ contenders, results, profiles }, null, 1),
  );
  const loadEnd = loadAverage();
  console.log(`load average at end: ${loadEnd}`);
  const body = report(contenders, results, profiles, {
    cpu,
    folder,
    loadStart,
    loadEnd,
    torchNote,
    revision,
  });
  console.log(body);
  reportUnlessDryRun('decode', 'GPT-2 small decode, prefill and memory against PyTorch', body);
}

// ---------------------------------------------------------------------------------------------
// The report.

/** float32 bytes of GPT-2 small's weights (124,439,808 parameters, tied head). */
const WEIGHT_MB = (124_439_808 * 4) / 1e6;

const GOALS = {
  decodeFloat: 0.5,
  decodeInt8: 1.0,
  prefill: 0.3,
  memoryFloat: 1.3,
  memoryInt8: 0.4,
};

function report(
  contenders: Contender[],
  results: Record<string, (Measured | string)[]>,
  profiles: (StepProfile & { contender: string })[],
  host: {
    cpu: { model: string; flags: string };
    folder: string;
    loadStart: string;
    loadEnd: string;
    torchNote: string;
    revision: string;
  },
): string {
  const ok = (r: Measured | string | undefined): r is Measured => typeof r === 'object';
  const torchRuns = results.torch ?? [];
  const runs = Array.from({ length: RUNS }, (_, i) => i);
  const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
  /** Per-run values and the ratio to PyTorch in the same run. */
  const cells = (c: Contender, value: (m: Measured) => number, higherIsBetter: boolean) =>
    runs.map((i) => {
      const m = results[c]?.[i];
      if (!ok(m)) return typeof m === 'string' ? 'failed' : '–';
      const t = torchRuns[i];
      if (!ok(t) || c === 'torch') return fmt(value(m));
      const ratio = higherIsBetter ? value(m) / value(t) : value(t) / value(m);
      return `${fmt(value(m))} (${ratio.toFixed(2)}×)`;
    });
  const ratioMedian = (c: Contender, value: (m: Measured) => number, higher: boolean) => {
    const rs = runs.flatMap((i) => {
      const m = results[c]?.[i];
      const t = torchRuns[i];
      if (!ok(m) || !ok(t)) return [];
      return [higher ? value(m) / value(t) : value(t) / value(m)];
    });
    return rs.length ? median(rs) : Number.NaN;
  };
  const medianOf = (c: Contender, value: (m: Measured) => number) => {
    const vs = (results[c] ?? []).filter(ok).map(value);
    return vs.length ? median(vs) : Number.NaN;
  };
  const runHeads = runs.map((i) => `run ${i + 1}`);
  const decodeRows = contenders.map(
    (c) => `| ${LABEL[c]} | ${cells(c, (m) => m.decodeTokensPerS, true).join(' | ')} |`,
  );
  const prefillRows = contenders.map(
    (c) => `| ${LABEL[c]} | ${cells(c, (m) => m.prefillS, false).join(' | ')} |`,
  );
  const memoryRows = contenders.map((c) => {
    const m = (results[c] ?? []).filter(ok);
    if (!m.length) return `| ${LABEL[c]} | – | – | – | – | – | – |`;
    const end = median(m.map((x) => x.rssEndMb));
    const base = median(m.map((x) => x.rssBaseMb));
    const heap = m[0]!.wasmHeapMb;
    return `| ${LABEL[c]} | ${fmt(base, 0)} | ${fmt(median(m.map((x) => x.rssLoadedMb)), 0)} | ${fmt(end, 0)} (${(end / WEIGHT_MB).toFixed(2)}×) | ${fmt(end - base, 0)} (${((end - base) / WEIGHT_MB).toFixed(2)}×) | ${fmt(median(m.map((x) => x.peakRssMb)), 0)} | ${heap === undefined ? '–' : `${fmt(heap, 0)} / ${fmt(m[0]!.tensorMb ?? Number.NaN, 1)}`} |`;
  });
  // Greedy ids: tfjs-blocks float32 against PyTorch (and the others against float32).
  const firstOk = (c: Contender) => (results[c] ?? []).find(ok);
  const agree = (a: number[], b: number[]) => {
    let n = 0;
    while (n < a.length && n < b.length && a[n] === b[n]) n++;
    return n;
  };
  const idLines: string[] = [];
  const f32 = firstOk('float32');
  for (const c of ['torch', 'plain', 'int8', 'int4'] as const) {
    const other = firstOk(c);
    if (!f32 || !other) continue;
    const n = agree(f32.ids, other.ids);
    idLines.push(
      `- ${LABEL[c]} vs tfjs-blocks float32: ${n === f32.ids.length && n === other.ids.length ? `identical (${n} ids)` : `the first ${n} of ${f32.ids.length} ids agree`}.`,
    );
  }
  // Goals.
  const decodeF = ratioMedian('float32', (m) => m.decodeTokensPerS, true);
  const decodeQ = ratioMedian('int8', (m) => m.decodeTokensPerS, true);
  const prefillF = ratioMedian('float32', (m) => m.prefillS, false);
  const prefillCached = ratioMedian('float32-cached', (m) => m.prefillS, false);
  const memCached = medianOf('float32-cached', (m) => m.rssEndMb) / WEIGHT_MB;
  const memF = medianOf('float32', (m) => m.rssEndMb) / WEIGHT_MB;
  const memQ = medianOf('int8', (m) => m.rssEndMb) / medianOf('float32', (m) => m.rssEndMb);
  const verdict = (x: number, goal: number, atMost = false) =>
    Number.isNaN(x) ? 'not measured' : (atMost ? x <= goal : x >= goal) ? '**met**' : '**not met**';
  const hostLine = `${host.cpu.model}, ${host.cpu.flags}`;
  const goals = [
    `- Decode, float32 ≥ ${GOALS.decodeFloat}× PyTorch: ${fmt(decodeF)}× (median of the per-run ratios), ${verdict(decodeF, GOALS.decodeFloat)} on ${hostLine}.`,
    `- Decode, int8 ≥ ${GOALS.decodeInt8}× PyTorch float32: ${fmt(decodeQ)}×, ${verdict(decodeQ, GOALS.decodeInt8)}.`,
    `- Prefill of ${PREFILL} tokens, float32 ≥ ${GOALS.prefill}× PyTorch: ${fmt(prefillF)}×, ${verdict(prefillF, GOALS.prefill)}; with \`packedWeights: 'cached'\`: ${fmt(prefillCached)}×, ${verdict(prefillCached, GOALS.prefill)} (for ${fmt(memCached)}× the weights resident at the end).`,
    `- Resident memory, float32 ≤ ${GOALS.memoryFloat}× the weights: ${fmt(memF)}× (RSS at the end, Node and the wasm module included), ${verdict(memF, GOALS.memoryFloat, true)}.`,
    `- Resident memory, int8 ≤ ${GOALS.memoryInt8}× float32's: ${fmt(memQ)}×, ${verdict(memQ, GOALS.memoryInt8, true)}.`,
    '- Training (d 256 / 4 layers / vocab 512, batch 8 × 128) ≥ 0.3× PyTorch: see the training section (`npm run bench:train`, config "issue-20").',
    '- Speculative decoding ≥ 1.5× greedy: see the speculative-decoding section.',
  ];
  const profileText = profiles.flatMap((p) => {
    const rows = Object.entries(p.groups)
      .sort(([, a], [, b]) => b.ms - a.ms)
      .map(
        ([g, v]) =>
          `| ${g} | ${v.kernels} | ${v.ms.toFixed(1)} | ${((100 * v.ms) / p.kernelMs).toFixed(0)}% |`,
      );
    const js = p.profiledStepMs - p.kernelMs;
    return [
      '',
      `**${LABEL[p.contender as Contender]}**: ${p.stepMs.toFixed(1)} ms per token (median of 8, not profiled); a profiled step took ${p.profiledStepMs.toFixed(1)} ms, its kernels ${p.kernelMs.toFixed(1)} ms.`,
      '',
      '| part | kernels | ms | % of Σ kernels |',
      '|---|---|---|---|',
      ...rows,
      js > 0
        ? `| JS between kernels (profiled step − Σ kernels; profiling's bookkeeping included) | – | ${js.toFixed(1)} | – |`
        : '| JS between kernels | – | not measurable at this load | – |',
      '',
      'Costliest kernels (name, input shapes → output shapes: ms in all, count):',
      '',
      ...p.top.map((t) => `- \`${t.kernel}\`: ${t.ms.toFixed(1)} ms, ×${t.count}`),
    ];
  });
  const torchRun = firstOk('torch') as (Measured & { torch?: string }) | undefined;
  return [
    `Random-weight GPT-2 small (124M parameters, tied head; ${fmt(WEIGHT_MB, 0)} MB of float32 weights), \`${DIR}\` (${host.folder}),`,
    `loaded with \`loadPretrained(folderSource(dir))\` on wasm${WASM_THREADS > 0 ? ` (every tfjs contender on the threaded build, \`useThreadedWasm({ threads: ${WASM_THREADS} })\`)` : ''} with \`enableWasmFastKernels()\`; int8 / int4 are`,
    '`loadPretrained(source, { quantize: { bits, groupSize: 32, kernelsOnly: false } })` (quantized while loading, on the',
    'cpu backend, then run on wasm; every matrix, the token table and so the tied head included). Plain tfjs is bench/baseline-gpt.ts `createPlainGpt2Decoder` (the checkpoint read with',
    '`readSafetensorsFile`, plain ops, `tf.concat` KV cache, head on the last position) on stock wasm kernels.',
    `PyTorch: bench/reference/decode_gpt2.py, \`torch.set_num_threads(2)\`, \`generate(do_sample=False)\`${torchRun?.torch ? ` (${torchRun.torch})` : ''}.`,
    `Each contender runs in a child process of its own, once per run, the runs rotating the order. Decode: greedy, batch 1,`,
    `a ${PROMPT}-token prompt, tokens/s over ${NEW} new tokens (first to last token). Prefill: a ${PREFILL}-token prompt to its`,
    'first token, seconds. One untimed warm-up of each first. Cells: value (× PyTorch in the same run).',
    host.torchNote,
    '',
    `Host: ${host.cpu.model} (${host.cpu.flags}; wasm SIMD is 128-bit), Node ${process.version}.`,
    `Command: \`npm run bench:decode${argv.length ? ` -- ${argv.join(' ')}` : ''}\`, commit ${host.revision}.`,
    `Load average (1/5/15 min) at start ${host.loadStart}, at end ${host.loadEnd}.`,
    Number.parseFloat(host.loadStart) > availableParallelism()
      ? `**Provisional:** the load average exceeded the ${availableParallelism()} cores: every contender (PyTorch's threads most) ran slowed by other jobs; rerun on a quiet machine before reading the ratios or the goals.`
      : '',
    '',
    `Greedy decode, tokens/s:`,
    '',
    `| contender | ${runHeads.join(' | ')} |`,
    `|---|${runs.map(() => '---|').join('')}`,
    ...decodeRows,
    '',
    `Prefill of ${PREFILL} tokens, seconds:`,
    '',
    `| contender | ${runHeads.join(' | ')} |`,
    `|---|${runs.map(() => '---|').join('')}`,
    ...prefillRows,
    '',
    'Resident memory (MB, median over runs): RSS before loading (Node, tfjs, the wasm module), after loading,',
    'at the end (after the decode and the prefill; × the float32 weight bytes), the end minus the start, the peak',
    '(`maxRSS`), and the wasm heap / bytes of live tensors at the end.',
    '',
    '| contender | RSS start | after load | at the end (× weights) | end − start (× weights) | peak | wasm heap / tensors |',
    '|---|---|---|---|---|---|---|',
    ...memoryRows,
    '',
    'Greedy ids (the first run of each):',
    '',
    ...idLines,
    '',
    'Goals of issue 20 (median of the per-run ratios):',
    '',
    ...goals,
    ...(profiles.length
      ? [
          '',
          `Profile of a cached decode step (the 3rd to 5th new tokens after the ${PROMPT}-token prompt, averaged), \`tf.profile\`'s`,
          'kernel list (wall time of each kernel on wasm), grouped by the shapes each part of GPT-2 works on;',
          '"JS between kernels" is the profiled step\'s wall time minus its kernels\' (argument checks, tensor',
          'bookkeeping, and anything not run as a tfjs kernel).',
          ...profileText,
        ]
      : []),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
const childAt = argv.findIndex((a) => a === '--child' || a === '--child-profile');
if (childAt >= 0) {
  await tfjsChild(argv[childAt + 1] as Contender, argv[childAt] === '--child-profile');
} else {
  await parent();
}
