import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import {
  adamw,
  chain,
  clipByGlobalNorm,
  createOptimizer,
  type NamedTensor,
  type OptimizerRecipe,
  TransformOptimizer,
} from '../../src/index';
import { nodeFileSystem } from '../../src/node/index';
import { runScriptToCompletion } from '../helpers/child-process';
import { expectClose } from '../helpers/close';
import { rejectionOf } from '../helpers/rejections';
import { buildModel, data, FIT, RECIPE } from './resume-fixture';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-blocks-resume-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const lossesOf = (h: tfl.History) => h.history.loss as number[];
const names = (m: tfl.LayersModel) => m.trainableWeights.map((w) => w.name);

/** A custom chain with a schedule: code, not data. */
const customChain = () =>
  chain(clipByGlobalNorm(1), adamw({ learningRate: (step) => 0.02 / (1 + 0.1 * step) }));

/**
 * Trains a model FIT epochs, saves it (with its optimizer) into a new
 * directory, trains FIT epochs more and returns those losses: the
 * uninterrupted run a resumed one must match.
 */
async function trainSaveContinue(optimizer: TransformOptimizer) {
  const { x, y } = data();
  const model = buildModel();
  model.compile({ optimizer, loss: 'meanSquaredError' });
  await model.fit(x, y, FIT);
  const dir = tempDir();
  await model.save(nodeFileSystem(dir), { includeOptimizer: true });
  const continued = lossesOf(await model.fit(x, y, FIT));
  return { model, dir, continued, x, y };
}

describe('TransformOptimizer survives save, reload and resume', () => {
  it('a recipe is registered and reloads through nodeFileSystem; same-process training continues exactly', async () => {
    const { model, dir, continued, x, y } = await trainSaveContinue(new TransformOptimizer(RECIPE));
    const loaded = await tfl.loadLayersModel(nodeFileSystem(dir));
    expect(loaded.optimizer).toBeInstanceOf(TransformOptimizer);
    expect((loaded.optimizer as TransformOptimizer).recipe).toEqual(RECIPE);
    expect(loaded.optimizer.iterations).toBe(12);
    // tfjs-layers renamed the reloaded variables (…_2): the state must follow them anyway.
    expect(names(loaded)).not.toEqual(names(model));
    expect(names(loaded)[0]).toMatch(/tokens\.table_\d+$/);
    const resumed = lossesOf(await loaded.fit(x, y, FIT));
    expectClose(resumed, continued, { rtol: 1e-6, atol: 1e-7 });
    tf.dispose([x, y]);
    model.dispose();
    loaded.dispose();
  });

  it('training resumed in a new process gives the losses of the uninterrupted run', async () => {
    const { model, dir, continued, x, y } = await trainSaveContinue(new TransformOptimizer(RECIPE));
    const output = await runScriptToCompletion('test/optim/resume-child.ts', [dir], process.cwd());
    const line = output.split('\n').find((l) => l.startsWith('LOSSES '));
    expect(line, output).toBeDefined();
    const child = JSON.parse(line!.slice('LOSSES '.length)) as {
      iterations: number;
      losses: number[];
    };
    expect(child.iterations).toBe(24);
    expectClose(child.losses, continued, { rtol: 1e-6, atol: 1e-7 });
    tf.dispose([x, y]);
    model.dispose();
  }, 120_000);

  it('a custom chain reloads with its state but no code: a typed error, then compile + setWeights continues exactly', async () => {
    const { model, dir, continued, x, y } = await trainSaveContinue(
      new TransformOptimizer(customChain()),
    );
    const orphan = await tfl.loadLayersModel(nodeFileSystem(dir));
    const error = await rejectionOf(() => orphan.fit(x, y, FIT));
    expect(error.argument).toBe('transform');
    expect(error.message).toMatch(/compile again with new TransformOptimizer/);
    (orphan.optimizer as TransformOptimizer).dispose();
    orphan.dispose();

    // The recipe of docs/optimizers.md for a custom chain.
    const loaded = await tfl.loadLayersModel(nodeFileSystem(dir));
    const restored = loaded.optimizer as TransformOptimizer;
    loaded.compile({ optimizer: new TransformOptimizer(customChain()), loss: 'meanSquaredError' });
    await loaded.optimizer.setWeights(await restored.getWeights());
    restored.dispose();
    expect(loaded.optimizer.iterations).toBe(12);
    const resumed = lossesOf(await loaded.fit(x, y, FIT));
    expectClose(resumed, continued, { rtol: 1e-6, atol: 1e-7 });
    tf.dispose([x, y]);
    model.dispose();
    loaded.dispose();
  });

  it('setWeights of saved weights into a new model in the same process (renamed variables) continues exactly', async () => {
    const { x, y } = data();
    const model = buildModel();
    model.compile({ optimizer: new TransformOptimizer(customChain()), loss: 'meanSquaredError' });
    await model.fit(x, y, FIT);
    const saved = (await model.optimizer.getWeights()).map((w) => ({
      name: w.name,
      tensor: tf.clone(w.tensor),
    }));
    const fresh = buildModel();
    fresh.setWeights(model.getWeights());
    const continued = lossesOf(await model.fit(x, y, FIT));
    fresh.compile({ optimizer: new TransformOptimizer(customChain()), loss: 'meanSquaredError' });
    await fresh.optimizer.setWeights(saved);
    const resumed = lossesOf(await fresh.fit(x, y, FIT));
    expectClose(resumed, continued, { rtol: 1e-6, atol: 1e-7 });
    tf.dispose([x, y, saved.map((w) => w.tensor)]);
    model.dispose();
    fresh.dispose();
  });

  it('gradients the state cannot place (neither by name nor by position) are a typed error', async () => {
    const a = tf.variable(tf.zeros([2]), true, 'tfopt_a');
    const b = tf.variable(tf.zeros([3]), true, 'tfopt_b');
    const c = tf.variable(tf.zeros([2]), true, 'tfopt_c');
    const opt = new TransformOptimizer(adamw({ learningRate: 0.1, weightDecay: 0 }));
    tf.tidy(() => opt.applyGradients({ tfopt_a: tf.ones([2]), tfopt_b: tf.ones([3]) }));
    const error = await rejectionOf(() =>
      tf.tidy(() => opt.applyGradients({ tfopt_c: tf.ones([2]) })),
    );
    expect([error.functionName, error.argument]).toEqual([
      'TransformOptimizer.applyGradients',
      'variableGradients["tfopt_c"]',
    ]);
    opt.dispose();
    tf.dispose([a, b, c]);
  });

  it("getWeights returns the optimizer's own tensors: model.save leaks nothing, a stale entry is a typed error", async () => {
    const { x, y } = data();
    const model = buildModel();
    model.compile({ optimizer: new TransformOptimizer(RECIPE), loss: 'meanSquaredError' });
    await model.fit(x, y, { ...FIT, epochs: 1 });
    const stale = await model.optimizer.getWeights();
    const before = tf.memory().numTensors;
    const dir = tempDir();
    for (let i = 0; i < 3; i++) await model.save(nodeFileSystem(dir), { includeOptimizer: true });
    await model.fit(x, y, { ...FIT, epochs: 1 });
    // 2 per getWeights (step count, skeleton) until the next step frees them; none after.
    expect(tf.memory().numTensors).toBe(before - 2);
    const other = new TransformOptimizer(RECIPE);
    const error = await rejectionOf(() => other.setWeights(stale as NamedTensor[]));
    expect(error.argument).toMatch(/^weightValues\["/);
    expect(error.actual).toBe('a disposed tensor');
    other.dispose();
    tf.dispose([x, y]);
    model.dispose();
  });
});

describe('TransformOptimizer rejects bad recipes, configs and weights', () => {
  it('an unknown recipe key, with the closest name', async () => {
    const error = await rejectionOf(
      () => new TransformOptimizer({ optimizer: 'adamw', option: {} } as never),
    );
    expect(error.argument).toBe('recipe.option');
    expect(error.message).toMatch(/did you mean 'options'/);
  });

  it('an unknown optimizer name', async () => {
    const error = await rejectionOf(() => new TransformOptimizer({ optimizer: 'adamW' } as never));
    expect(error.argument).toBe('recipe.optimizer');
  });

  it('a function in the options (not saveable)', async () => {
    const error = await rejectionOf(
      () => new TransformOptimizer({ optimizer: 'adamw', options: { learningRate: () => 0.1 } }),
    );
    expect(error.argument).toBe('recipe.options.learningRate');
    expect(error.actual).toBe('a function');
  });

  it('a non-positive clip norm', async () => {
    const error = await rejectionOf(
      () => new TransformOptimizer({ optimizer: 'sgd', clipByGlobalNorm: 0 }),
    );
    expect(error.argument).toBe('recipe.clipByGlobalNorm');
  });

  it('neither a transformation nor a recipe', async () => {
    const error = await rejectionOf(() => new TransformOptimizer(null as never));
    expect(error.argument).toBe('transform');
  });

  it('setWeights of something other than getWeights()', async () => {
    const opt = new TransformOptimizer(RECIPE);
    expect((await rejectionOf(() => opt.setWeights([]))).argument).toBe('weightValues');
    expect((await rejectionOf(() => opt.setWeights([{ name: 'iter' }] as never))).argument).toBe(
      'weightValues["iter"]',
    );
    opt.dispose();
  });

  it('getConfig survives tfjs-layers key conversion: a mask map with underscores reloads unchanged', () => {
    const recipe = {
      optimizer: 'adamw' as const,
      options: { mask: { dense_Dense9_kernel: true, dense_Dense9_bias: false } },
    };
    const opt = new TransformOptimizer(recipe);
    const config = JSON.parse(JSON.stringify(opt.getConfig()));
    expect(JSON.stringify(config)).not.toMatch(/_/);
    const back = TransformOptimizer.fromConfig(TransformOptimizer, config) as TransformOptimizer;
    expect(back.recipe).toEqual(recipe);
    opt.dispose();
    back.dispose();
  });
});

describe('a recipe saved before eps was renamed epsilon still loads', () => {
  it('fromConfig maps options.eps to options.epsilon, and getConfig writes the new name', () => {
    const old = { recipe: '{"optimizer":"adam","options":{"learningRate":0.01,"eps":0.001}}' };
    const back = TransformOptimizer.fromConfig(TransformOptimizer, old) as TransformOptimizer;
    expect(back.recipe).toEqual({
      optimizer: 'adam',
      options: { learningRate: 0.01, epsilon: 0.001 },
    });
    expect(back.getConfig().recipe).toMatch(/"epsilon":0\.001/);
    back.dispose();
  });

  it('an old eps next to a new epsilon is not taken: the optimizer names it', async () => {
    const both = { recipe: '{"optimizer":"adam","options":{"eps":0.1,"epsilon":0.001}}' };
    const error = await rejectionOf(() => TransformOptimizer.fromConfig(TransformOptimizer, both));
    expect(error.argument).toBe('options.eps');
    expect(error.expected).toContain("did you mean 'epsilon'?");
  });

  it('a saved model whose recipe says eps reloads and trains as one saved with epsilon', async () => {
    const recipe: OptimizerRecipe = {
      optimizer: 'adam',
      options: { learningRate: 0.02, epsilon: 0.1 },
    };
    const { model, dir, continued, x, y } = await trainSaveContinue(new TransformOptimizer(recipe));
    // The same files, written as before the rename: the recipe says eps.
    const oldDir = tempDir();
    for (const file of readdirSync(dir)) {
      const bytes = readFileSync(join(dir, file));
      const text = bytes.toString().replace(/epsilon/g, 'eps');
      writeFileSync(join(oldDir, file), file.endsWith('.json') ? text : bytes);
    }
    expect(readFileSync(join(oldDir, 'model.json'), 'utf8')).toMatch(/\\"eps\\":0\.1/);
    const loaded = await tfl.loadLayersModel(nodeFileSystem(oldDir));
    expect((loaded.optimizer as TransformOptimizer).recipe).toEqual(recipe);
    const resumed = lossesOf(await loaded.fit(x, y, FIT));
    expectClose(resumed, continued, { rtol: 1e-6, atol: 1e-7 });
    tf.dispose([x, y]);
    model.dispose();
    loaded.dispose();
  });
});

describe('StatefulOptimizer.save is a snapshot the caller owns', () => {
  it('save, step, load(saved) continues exactly and leaks nothing', () => {
    const w = tf.variable(tf.tensor1d([1, -2, 3]));
    const opt = createOptimizer(adamw({ learningRate: 0.1 }), { w });
    const grad = (i: number) => ({ w: tf.tensor1d([Math.sin(i), 0.5, -Math.cos(i)]) });
    for (let i = 0; i < 3; i++) tf.tidy(() => opt.step(grad(i)));
    const baseline = tf.memory().numTensors;
    const saved = opt.save();
    const wAt3 = tf.clone(w);
    for (let i = 3; i < 6; i++) tf.tidy(() => opt.step(grad(i)));
    const after6 = tf.clone(w);
    w.assign(wAt3);
    opt.load(saved); // used to throw "Tensor is disposed"
    expect(opt.iterations).toBe(3);
    for (let i = 3; i < 6; i++) tf.tidy(() => opt.step(grad(i)));
    expectClose(w, after6, { rtol: 0, atol: 0 });
    tf.dispose([wAt3, after6, Object.values(saved.tensors)]);
    expect(tf.memory().numTensors).toBe(baseline);
    opt.dispose();
    w.dispose();
  });

  it('load rejects an unknown key, a bad step count and disposed tensors', async () => {
    const w = tf.variable(tf.zeros([2]));
    const opt = createOptimizer(adamw(), { w });
    const saved = opt.save();
    const unknown = await rejectionOf(() => opt.load({ ...saved, step: 3 } as never));
    expect(unknown.argument).toBe('saved.step');
    const noCount = await rejectionOf(() => opt.load({ ...saved, iterations: undefined } as never));
    expect(noCount.argument).toBe('saved.iterations');
    tf.dispose(Object.values(saved.tensors));
    const disposed = await rejectionOf(() => opt.load(saved));
    expect(disposed.argument).toMatch(/^saved\.tensors\["/);
    opt.dispose();
    w.dispose();
  });

  it('createOptimizer rejects a value that is not a tf.Variable', async () => {
    const t = tf.zeros([2]);
    const error = await rejectionOf(() => createOptimizer(adamw(), { w: t as tf.Variable }));
    expect(error.argument).toBe('variables.w');
    t.dispose();
  });
});

describe('docs/optimizers.md', () => {
  it('the "Save, reload and resume" block runs as written and resumes at the saved step', async () => {
    const doc = readFileSync('docs/optimizers.md', 'utf8');
    const section = doc.slice(doc.indexOf('### Save, reload and resume'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code).toBeDefined();
    // Only the package name changes: the block runs against the sources, unbuilt.
    const local = code!
      .replace("from 'tfjs-blocks/node'", "from '../src/node/index'")
      .replace("from 'tfjs-blocks'", "from '../src/index'");
    mkdirSync('scratch', { recursive: true });
    const file = join('scratch', `optimizers-resume-${process.pid}.ts`);
    writeFileSync(file, local);
    try {
      const output = await runScriptToCompletion(file, [], process.cwd());
      expect(output).toMatch(/resumed at step 10, loss \d/);
    } finally {
      rmSync(file, { force: true });
    }
  }, 120_000);
});
