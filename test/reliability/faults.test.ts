// Fault injection.
// (a) Non-finite gradients injected mid-run into training wrapped in
//     applyIfFinite: the step is skipped and counted, the params do not move,
//     and training goes on lowering the loss; on cpu and wasm.
// (b) kill -9 during the soak's periodic checkpoint (scripts/soak.ts as a
//     child process): loadCheckpoint gives the last complete step, bit for
//     bit, and the next save takes over the killed soak's stale lock.
//     Kills during a checkpoint of a large model and during a model save
//     are covered by test/node/checkpoint.test.ts and
//     test/node/kill.test.ts and are not repeated here.
import { watch } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type ApplyIfFiniteState,
  adamw,
  applyIfFinite,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  flattenParams,
  type GradientTransformation,
  type TensorMap,
  warmupCosineDecaySchedule,
} from '../../src/index';
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from '../../src/node/index';
import { describeEachBackend } from '../helpers/backends';
import { type ChildRun, startScript } from '../helpers/child-process';

// ---- (a) NaN / Infinity gradients into applyIfFinite.

const STEPS = 12;
const schedule = () =>
  warmupCosineDecaySchedule({ peakValue: 0.05, warmupSteps: 3, decaySteps: 12 });
const OPTIMIZERS: Array<[string, () => GradientTransformation<unknown>]> = [
  [
    'applyIfFinite(chain(clipByGlobalNorm(1), adamw(schedule)))',
    () =>
      applyIfFinite(
        chain(clipByGlobalNorm(1), adamw({ learningRate: schedule(), weightDecay: 0.01 })),
      ),
  ],
  [
    'chain(clipByGlobalNorm(1), applyIfFinite(adamw(schedule)))',
    () =>
      chain(
        clipByGlobalNorm(1),
        applyIfFinite(adamw({ learningRate: schedule(), weightDecay: 0.01 })),
      ),
  ],
];

/** The applyIfFinite state inside an optimizer state (it may sit in a chain's array). */
function finiteState(state: unknown): ApplyIfFiniteState<unknown> {
  const find = (node: unknown): ApplyIfFiniteState<unknown> | undefined => {
    if (node === null || typeof node !== 'object' || node instanceof tf.Tensor) return undefined;
    if ('totalNotFinite' in node) return node as ApplyIfFiniteState<unknown>;
    for (const v of Object.values(node)) {
      const found = find(v);
      if (found) return found;
    }
    return undefined;
  };
  const found = find(state);
  if (!found) throw new Error('no applyIfFinite state');
  return found;
}

/** A tiny regression: y = tanh(x W1 + b1) W2 on fixed data (full batch, so a step depends on the params only). */
const data = () => ({
  x: tf.tensor2d([
    [0.5, -1, 2],
    [1.5, 0.25, -0.75],
    [-1, 1, 0.5],
    [0.3, -0.2, 0.1],
  ]),
  y: tf.tensor2d([[1], [-0.5], [0.25], [0]]),
});
const initParams = (): TensorMap => ({
  w1: tf.tensor2d([
    [0.1, -0.2],
    [0.3, 0.05],
    [-0.15, 0.2],
  ]),
  b1: tf.tensor1d([0.01, -0.02]),
  w2: tf.tensor2d([[0.4], [-0.3]]),
});

interface Run {
  losses: number[];
  params: Record<string, number[]>;
  /** Per step: params unchanged by it, and the applyIfFinite counters after it. */
  steps: Array<{
    unchanged: boolean;
    notFiniteCount: number;
    totalNotFinite: number;
    lastFinite: boolean;
  }>;
}

/** Trains `steps` steps; at the steps in `inject`, one entry of w1's gradient becomes that value. */
function train(
  make: () => GradientTransformation<unknown>,
  steps: number,
  inject: Record<number, number> = {},
): Run {
  const { x, y } = data();
  const optimizer = make();
  let params = initParams();
  let state = optimizer.init(params);
  const names = Object.keys(params);
  const losses: number[] = [];
  const record: Run['steps'] = [];
  for (let step = 1; step <= steps; step++) {
    const { value, grads } = tf.tidy(() => {
      const f = (...xs: tf.Tensor[]) => {
        const [w1, b1, w2] = xs as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D];
        const h = tf.tanh(tf.add(tf.matMul(x, w1), b1));
        return tf.mean(tf.square(tf.sub(tf.matMul(h as tf.Tensor2D, w2), y))) as tf.Scalar;
      };
      const { value, grads } = tf.valueAndGrads(f)(names.map((n) => params[n]!));
      const map: TensorMap = Object.fromEntries(names.map((n, i) => [n, grads[i]!]));
      const bad = inject[step];
      if (bad !== undefined) {
        // Poison one entry, as an overflow in the backward pass would.
        const g = map.w1!.arraySync() as number[][];
        g[1]![0] = bad;
        map.w1 = tf.tensor2d(g);
      }
      return { value, grads: map };
    });
    losses.push(value.dataSync()[0]!);
    const before = names.map((n) => Array.from(params[n]!.dataSync()));
    const { updates, state: next } = optimizer.update(grads, state, params);
    const updated = applyUpdates(params, updates);
    tf.dispose([value, grads, updates, state as tf.TensorContainer, params]);
    params = updated;
    state = next;
    const s = finiteState(state);
    record.push({
      unchanged: names.every((n, i) => tf.util.arraysEqual(params[n]!.dataSync(), before[i]!)),
      notFiniteCount: s.notFiniteCount,
      totalNotFinite: s.totalNotFinite,
      lastFinite: s.lastFinite,
    });
  }
  const result: Run = {
    losses,
    params: Object.fromEntries(names.map((n) => [n, Array.from(params[n]!.dataSync())])),
    steps: record,
  };
  tf.dispose([x, y, params, state as tf.TensorContainer]);
  return result;
}

describeEachBackend('fault injection: non-finite gradients into applyIfFinite', () => {
  for (const [name, make] of OPTIMIZERS) {
    it(`${name}: a NaN gradient at step 5 of 12 is skipped, counted, leaves the params, and training goes on`, () => {
      const tensorsBefore = tf.memory().numTensors;
      const run = train(make, STEPS, { 5: Number.NaN });
      expect(run.steps[4]).toEqual({
        unchanged: true,
        notFiniteCount: 1,
        totalNotFinite: 1,
        lastFinite: false,
      });
      expect(run.steps[5]).toEqual({
        unchanged: false,
        notFiniteCount: 0,
        totalNotFinite: 1,
        lastFinite: true,
      });
      // The only other step that moves nothing is step 1: the warm-up starts at learning rate 0.
      expect(run.steps.flatMap((s, i) => (s.unchanged ? [i + 1] : []))).toEqual([1, 5]);
      expect(run.losses.every(Number.isFinite)).toBe(true);
      for (const values of Object.values(run.params))
        expect(values.every(Number.isFinite)).toBe(true);
      // The loss keeps falling after the skipped step.
      expect(run.losses[11]!).toBeLessThan(run.losses[4]!);
      expect(run.losses[4]!).toBeLessThan(run.losses[0]!);
      // The skip left no trace at all: the wrapped state (schedule count,
      // Adam moments) did not advance, so 12 steps with one skipped end
      // exactly where 11 clean steps do.
      expect(run.params).toEqual(train(make, STEPS - 1).params);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    });

    it(`${name}: NaN then +Infinity at steps 5 and 6 count 2 in a row, then reset`, () => {
      const run = train(make, STEPS, { 5: Number.NaN, 6: Number.POSITIVE_INFINITY });
      expect(run.steps.map((s) => s.notFiniteCount)).toEqual([0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0]);
      expect(run.steps.at(-1)!.totalNotFinite).toBe(2);
      expect(run.steps[4]!.unchanged && run.steps[5]!.unchanged).toBe(true);
      expect(run.losses[11]!).toBeLessThan(run.losses[4]!);
      expect(run.params).toEqual(train(make, STEPS - 2).params);
    });
  }
});

// ---- (b) kill -9 during the soak's periodic checkpoint.

const SOAK = fileURLToPath(new URL('../../scripts/soak.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TEMP = /\.tmp-\d+-[0-9a-f]{8}$/;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-blocks-soak-kill-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Once the child has saved `saved` checkpoints, SIGKILLs it the moment a
 * temp entry (the next checkpoint being written) appears in `checkpoints`.
 */
function killDuringNextCheckpoint(run: ChildRun, checkpoints: string, saved: number) {
  return new Promise<boolean>((done) => {
    let fired = false;
    let watcher: ReturnType<typeof watch> | undefined;
    const stop = () => {
      watcher?.close();
      clearInterval(poll);
    };
    const check = async () => {
      if (fired) return;
      if ((run.output().match(/checkpoint step \d+ saved/g) ?? []).length < saved) return;
      watcher ??= watch(checkpoints, () => void check());
      const entries = await readdir(checkpoints).catch(() => [] as string[]);
      if (!fired && entries.some((e) => TEMP.test(e))) {
        fired = true;
        run.child.kill('SIGKILL');
        stop();
        done(true);
      }
    };
    const poll = setInterval(() => void check(), 1);
    run.exit.then(() => {
      stop();
      if (!fired) done(false);
    });
  });
}

describe('fault injection: kill -9 during the soak’s periodic checkpoint', () => {
  it('loadCheckpoint gives the last complete step, with the params it held', async () => {
    const checkpoints = join(dir, 'checkpoints');
    const run = startScript(
      SOAK,
      [
        '--backend',
        'wasm',
        '--steps',
        '200',
        '--checkpoint-every',
        '3',
        '--generate-every',
        '1000',
        '--warmup',
        '1',
        '--max-rss-growth',
        'none',
        '--out',
        dir,
      ],
      ROOT,
    );
    // Two whole checkpoints first, so keepLast's deletion has run too.
    const killed = await killDuringNextCheckpoint(run, checkpoints, 2);
    expect(killed, `the soak ended before it could be killed:\n${run.output()}`).toBe(true);
    expect(await run.exit).toBe('SIGKILL');

    // What the soak printed before each save: step -> checksum of its params.
    const printed = new Map(
      [...run.output().matchAll(/checkpointing step (\d+) checksum (\S+)/g)].map((m) => [
        Number(m[1]),
        Number(m[2]),
      ]),
    );
    const saved = [...run.output().matchAll(/checkpoint step (\d+) saved/g)].map((m) =>
      Number(m[1]),
    );
    const lastSaved = saved.at(-1)!;
    const inProgress = Math.max(...printed.keys());
    expect(inProgress).toBe(lastSaved + 3);
    // A step directory still under its temp name: the kill landed before its rename.
    const midWrite = (await readdir(checkpoints)).some((e) => /^step-\d+\.tmp-/.test(e));
    const complete = await listCheckpoints(checkpoints);

    const before = tf.memory().numTensors;
    const back = await loadCheckpoint(checkpoints);
    // A complete checkpoint: the last one saved, or the one being written if
    // the kill landed after its rename (then `latest` may still name the
    // previous one, which is also whole).
    expect(complete).toContain(back.step);
    expect([lastSaved, inProgress]).toContain(back.step);
    if (midWrite) expect(back.step).toBe(lastSaved);
    // Bit for bit what the soak held at that step (sum in the soak's order).
    const flat = flattenParams(back.params);
    let sum = 0;
    for (const name of Object.keys(flat).sort()) for (const v of flat[name]!.dataSync()) sum += v;
    expect(sum).toBe(printed.get(back.step));
    // The optimizer state came back too, at the same step count.
    const counts: number[] = [];
    const walk = (node: unknown) => {
      if (node instanceof tf.Tensor || node === null || typeof node !== 'object') return;
      for (const [k, v] of Object.entries(node)) {
        if (k === 'count' && typeof v === 'number') counts.push(v);
        else walk(v);
      }
    };
    walk(back.optimizerState);
    expect(counts.length).toBeGreaterThan(0);
    expect(new Set(counts)).toEqual(new Set([back.step]));
    tf.dispose([back.params as tf.TensorContainer, back.optimizerState as tf.TensorContainer]);
    expect(tf.memory().numTensors).toBe(before);
    // The killed soak's lock is still there (its pid is gone): the next save
    // takes it over, lands, and sweeps the killed save's temp entries away.
    expect(await readdir(checkpoints)).toContain('lock');
    const w = tf.scalar(0);
    await saveCheckpoint(checkpoints, { params: { w }, step: inProgress + 1000 });
    tf.dispose(w);
    expect((await readdir(checkpoints)).filter((e) => TEMP.test(e) || e === 'lock')).toEqual([]);
    console.log(
      `soak killed during the step-${inProgress} checkpoint (${midWrite ? 'mid-write: temp directory left' : 'after its rename'}); ` +
        `complete on disk: ${complete.join(', ')}; loaded step ${back.step}`,
    );
  });
});
