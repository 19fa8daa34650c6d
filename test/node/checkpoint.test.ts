import { watch } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import {
  adamw,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  saveOptimizerState,
  type TensorMap,
} from '../../src/index';
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from '../../src/node/checkpoint';
import { readSafetensorsFile } from '../../src/node/safetensors-node';
import {
  type ChildRun,
  killAfterOutput,
  runScriptToCompletion,
  startScript,
} from '../helpers/child-process';

const CHILD = fileURLToPath(new URL('./checkpoint-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD_PARAM_ELEMENTS = 8 << 20;
const TEMP = /\.tmp-\d+-[0-9a-f]{8}$/;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-blocks-ckpt-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('saveCheckpoint / loadCheckpoint', () => {
  it('round-trips nested params, optimizer state, step, rng and metadata; all tensors new', async () => {
    const start = tf.memory().numTensors;
    const params = {
      blocks: [{ mlp: { kernel: tf.tensor2d([[1, 2]]), bias: tf.tensor1d([3]) } }],
      embed: tf.tensor1d([4, 5], 'int32'),
      scale: 0.5,
    };
    const optimizer = adamw({ learningRate: 0.1 });
    const flat = { 'blocks.0.mlp.kernel': params.blocks[0]!.mlp.kernel };
    const state = optimizer.init(flat);
    const rng = { seed: 7, calls: [1, 2] };
    await saveCheckpoint(dir, {
      params,
      optimizerState: state,
      step: 3,
      rng,
      metadata: { lr: 0.1 },
    });
    const before = tf.memory().numTensors;
    const back = await loadCheckpoint<typeof params>(dir);
    expect(back.step).toBe(3);
    expect(back.rng).toEqual(rng);
    expect(back.metadata).toEqual({ lr: 0.1 });
    expect(back.params.scale).toBe(0.5);
    expect(back.params.blocks[0]!.mlp.kernel.arraySync()).toEqual([[1, 2]]);
    expect(back.params.embed.dtype).toBe('int32');
    expect(back.params.embed.arraySync()).toEqual([4, 5]);
    expect(back.params.blocks[0]!.mlp.kernel).not.toBe(params.blocks[0]!.mlp.kernel);
    expect(saveOptimizerState(back.optimizerState).skeleton).toEqual(
      saveOptimizerState(state).skeleton,
    );
    // Exactly the params and the state's tensors were made, nothing else.
    const stateTensors = Object.keys(saveOptimizerState(state).tensors).length;
    expect(tf.memory().numTensors - before).toBe(3 + stateTensors);
    // Params are stored by dotted path: what a PyTorch state dict would call them.
    const file = await readSafetensorsFile(join(dir, 'step-3', 'params.safetensors'));
    expect(Object.keys(file.tensors).sort()).toEqual([
      'blocks.0.mlp.bias',
      'blocks.0.mlp.kernel',
      'embed',
    ]);
    expect(file.metadata).toEqual({ format: 'pt' });
    tf.dispose([params as never, state as never, back as never, file.tensors]);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('keeps the last N, points latest at the newest, loads any kept step', async () => {
    const w = tf.scalar(0);
    for (const step of [1, 2, 3, 4]) {
      const p = { w: tf.scalar(step) };
      await saveCheckpoint(dir, { params: p, step }, { keepLast: 2 });
      tf.dispose(p.w);
    }
    expect(await listCheckpoints(dir)).toEqual([3, 4]);
    expect((await readFile(join(dir, 'latest'), 'utf8')).trim()).toBe('step-4');
    const latest = await loadCheckpoint<{ w: tf.Scalar }>(dir);
    const third = await loadCheckpoint<{ w: tf.Scalar }>(dir, { step: 3 });
    expect([latest.step, latest.params.w.dataSync()[0], third.params.w.dataSync()[0]]).toEqual([
      4, 4, 3,
    ]);
    expect(latest.optimizerState).toBeUndefined();
    // Re-saving a step replaces it.
    const p = { w: tf.scalar(40) };
    await saveCheckpoint(dir, { params: p, step: 4 });
    const again = await loadCheckpoint<{ w: tf.Scalar }>(dir);
    expect(again.params.w.dataSync()[0]).toBe(40);
    expect((await readdir(dir)).sort()).toEqual(['latest', 'step-3', 'step-4']);
    tf.dispose([w, p.w, latest.params.w, third.params.w, again.params.w]);
  });

  it('falls back to the newest complete step when latest is missing or stale', async () => {
    const p = { w: tf.scalar(1) };
    await saveCheckpoint(dir, { params: p, step: 1 });
    await saveCheckpoint(dir, { params: p, step: 2 });
    await writeFile(join(dir, 'latest'), 'step-9\n');
    const back = await loadCheckpoint(dir);
    expect(back.step).toBe(2);
    tf.dispose([p.w, back.params as never]);
  });

  it('rejects bad input with TfjsBlocksError', async () => {
    await expect(loadCheckpoint(dir)).rejects.toThrow(/a directory holding a checkpoint/);
    await expect(loadCheckpoint(dir, { step: 5 })).rejects.toThrow(TfjsBlocksError);
    await expect(saveCheckpoint(dir, { params: {}, step: -1 })).rejects.toThrow(
      /checkpoint.step must be a non-negative integer/,
    );
    await expect(saveCheckpoint(dir, { params: { f: () => 1 }, step: 1 })).rejects.toThrow(
      /params.f must be/,
    );
    await expect(saveCheckpoint(dir, { params: {}, step: 1 }, { keepLast: 0 })).rejects.toThrow(
      /keepLast/,
    );
    const clash = { a: { b: tf.scalar(1) }, 'a.b': tf.scalar(2) };
    await expect(saveCheckpoint(dir, { params: clash, step: 1 })).rejects.toThrow(
      /unique dotted path/,
    );
    tf.dispose([clash.a.b, clash['a.b']]);
    expect(await listCheckpoints(dir)).toEqual([]);
  });
});

function startSave(value: number): ChildRun {
  return startScript(CHILD, [dir, String(value)], ROOT);
}

async function saveToCompletion(value: number): Promise<void> {
  await runScriptToCompletion(CHILD, [dir, String(value)], ROOT);
}

/** Kills the child with SIGKILL once a temp step directory holds a params file being written. */
function killMidWrite(run: ChildRun): Promise<boolean> {
  return new Promise((done) => {
    let fired = false;
    const check = async () => {
      if (fired) return;
      for (const entry of await readdir(dir).catch(() => [] as string[])) {
        if (!TEMP.test(entry)) continue;
        const inside = await readdir(join(dir, entry)).catch(() => [] as string[]);
        if (!fired && inside.some((n) => /^params\.safetensors\.tmp-/.test(n))) {
          fired = true;
          run.child.kill('SIGKILL');
          watcher.close();
          clearInterval(poll);
          done(true);
        }
      }
    };
    const watcher = watch(dir, () => void check());
    const poll = setInterval(() => void check(), 1);
    run.exit.then(() => {
      watcher.close();
      clearInterval(poll);
      if (!fired) done(false);
    });
  });
}

async function loadedValue(): Promise<{
  step: number;
  kernel: number;
  moment: number;
  same: boolean;
}> {
  const back = await loadCheckpoint<
    { big: { kernel: tf.Tensor }; bias: tf.Tensor },
    [{ count: number; mu: TensorMap }]
  >(dir);
  const k = back.params.big.kernel.dataSync();
  const mu = back.optimizerState![0].mu['big.kernel']!.dataSync();
  const first = k[0]!;
  const same =
    k.length === CHILD_PARAM_ELEMENTS &&
    k[k.length - 1] === first &&
    mu[mu.length - 1] === first &&
    back.optimizerState![0].count === first &&
    (back.rng as { seed: number }).seed === first;
  const result = { step: back.step, kernel: first, moment: mu[0]!, same };
  tf.dispose([back.params as never, back.optimizerState as never]);
  return result;
}

describe('saveCheckpoint killed with SIGKILL', () => {
  it('killed while writing params, leaves the previous checkpoint whole and loadable', async () => {
    await saveToCompletion(1);
    const run = startSave(2);
    const killed = await killMidWrite(run);
    expect(killed, `the save finished before it could be killed:\n${run.output()}`).toBe(true);
    expect(await run.exit).toBe('SIGKILL');
    expect((await readdir(dir)).some((n) => TEMP.test(n))).toBe(true);
    expect(await listCheckpoints(dir)).toEqual([1]);
    expect(await loadedValue()).toEqual({ step: 1, kernel: 1, moment: 1, same: true });
    // The next save lands and sweeps the killed save's temp directory away.
    await saveToCompletion(3);
    expect((await readdir(dir)).sort()).toEqual(['latest', 'step-1', 'step-3']);
    expect(await loadedValue()).toEqual({ step: 3, kernel: 3, moment: 3, same: true });
  });

  it('killed at random moments, always leaves a whole checkpoint: the previous or the new', async () => {
    await saveToCompletion(1);
    const seen = new Set<string>();
    let previous = 1;
    for (const delayMs of [0, 60, 120, 200, 300]) {
      const next = previous + 1;
      const run = startSave(next);
      const result = await killAfterOutput(run, 'saving', delayMs);
      const loaded = await loadedValue();
      expect(loaded.same, `after a kill ${delayMs} ms in`).toBe(true);
      expect([previous, next], `after a kill ${delayMs} ms in`).toContain(loaded.step);
      seen.add(`${result}:${loaded.step === next ? 'new' : 'previous'}`);
      previous = loaded.step;
    }
    console.log(`checkpoint kill outcomes: ${[...seen].join(', ')}`);
  });
});

describe('resuming from a checkpoint', () => {
  // A tiny regression model: y = tanh(x W1 + b1) W2, fixed data, on cpu.
  const x = () =>
    tf.tensor2d([
      [0.5, -1, 2],
      [1.5, 0.25, -0.75],
      [-1, 1, 0.5],
      [0.3, -0.2, 0.1],
    ]);
  const y = () => tf.tensor2d([[1], [-0.5], [0.25], [0]]);
  const init = () => ({
    hidden: {
      kernel: tf.tensor2d([
        [0.1, -0.2],
        [0.3, 0.05],
        [-0.15, 0.2],
      ]),
      bias: tf.tensor1d([0.01, -0.02]),
    },
    out: { kernel: tf.tensor2d([[0.4], [-0.3]]) },
  });
  type Params = ReturnType<typeof init>;
  const flatten = (p: Params): TensorMap => ({
    'hidden.kernel': p.hidden.kernel,
    'hidden.bias': p.hidden.bias,
    'out.kernel': p.out.kernel,
  });
  const unflatten = (f: TensorMap): Params => ({
    hidden: { kernel: f['hidden.kernel'] as tf.Tensor2D, bias: f['hidden.bias'] as tf.Tensor1D },
    out: { kernel: f['out.kernel'] as tf.Tensor2D },
  });
  const optimizer = chain(clipByGlobalNorm(1), adamw({ learningRate: 0.05, weightDecay: 0.01 }));

  /** Runs steps `from`..`to` (1-based), returning the losses and the final params and state. */
  function train(params: Params, state: unknown, from: number, to: number) {
    const inputs = x();
    const targets = y();
    const names = Object.keys(flatten(params));
    let flat = flatten(params);
    const losses: number[] = [];
    for (let step = from; step <= to; step++) {
      const { value, grads } = tf.tidy(() => {
        const f = (...xs: tf.Tensor[]) => {
          const p = unflatten(Object.fromEntries(names.map((n, i) => [n, xs[i]!])));
          const h = tf.tanh(tf.add(tf.matMul(inputs, p.hidden.kernel), p.hidden.bias));
          return tf.mean(tf.square(tf.sub(tf.matMul(h, p.out.kernel), targets))) as tf.Scalar;
        };
        const { value, grads } = tf.valueAndGrads(f)(names.map((n) => flat[n]!));
        return { value, grads: Object.fromEntries(names.map((n, i) => [n, grads[i]!])) };
      });
      losses.push(value.dataSync()[0]!);
      const { updates, state: next } = optimizer.update(grads, state as never, flat);
      const updated = applyUpdates(flat, updates);
      tf.dispose([value, grads, updates, state as never, flat]);
      flat = updated;
      state = next;
    }
    tf.dispose([inputs, targets]);
    return { losses, params: unflatten(flat), state };
  }

  it('steps 6..10 after resuming at step 5 give exactly the uninterrupted losses (cpu)', async () => {
    expect(tf.getBackend()).toBe('cpu');
    const start = init();
    const full = train(start, optimizer.init(flatten(start)), 1, 10);
    tf.dispose([full.params as never, full.state as never]);

    const again = init();
    const firstHalf = train(again, optimizer.init(flatten(again)), 1, 5);
    await saveCheckpoint(dir, {
      params: firstHalf.params,
      optimizerState: firstHalf.state,
      step: 5,
      rng: { seed: 1 },
    });
    tf.dispose([firstHalf.params as never, firstHalf.state as never]);

    const before = tf.memory().numTensors;
    const resumed = await loadCheckpoint<Params>(dir);
    expect(resumed.step).toBe(5);
    const secondHalf = train(resumed.params, resumed.optimizerState, 6, 10);
    tf.dispose([secondHalf.params as never, secondHalf.state as never]);
    expect(tf.memory().numTensors).toBe(before);

    expect(firstHalf.losses).toEqual(full.losses.slice(0, 5));
    expect(secondHalf.losses).toEqual(full.losses.slice(5));
    expect(full.losses[9]!).toBeLessThan(full.losses[0]!);
  });
});
