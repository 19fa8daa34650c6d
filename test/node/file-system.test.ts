import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import { setSaveStepHookForTesting } from '../../src/node/file-system';
import {
  MODEL_JSON_FILE,
  NodeFileSystem,
  nodeFileSystem,
  registerNodeFileSystemRouter,
  WEIGHTS_FILE,
} from '../../src/node/index';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-blocks-node-io-'));
});
afterEach(async () => {
  setSaveStepHookForTesting(undefined);
  await rm(dir, { recursive: true, force: true });
});

/** A two-layer model whose weights are `offset + i / 1000` in order: easy to tell saves apart. */
function makeModel(offset = 0): tfl.LayersModel {
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 8, inputShape: [5], activation: 'relu' }),
      tfl.layers.dense({ units: 3 }),
    ],
  });
  let next = 0;
  const values = model.getWeights().map((w) =>
    tf.tidy(() => {
      const start = offset + next / 1000;
      next += w.size;
      return tf.reshape(tf.linspace(start, start + (w.size - 1) / 1000, w.size), w.shape);
    }),
  );
  model.setWeights(values);
  tf.dispose(values);
  return model;
}

function weightsOf(model: tfl.LayersModel): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

/** What tfjs-node's `file://` handler writes: model.json, then weights.bin, plain writes. */
async function saveLikeTfjsNode(model: tfl.LayersModel, target: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        userDefinedMetadata: artifacts.userDefinedMetadata,
      };
      await writeFile(join(target, 'model.json'), JSON.stringify(modelJson), 'utf8');
      await writeFile(
        join(target, 'weights.bin'),
        Buffer.from(artifacts.weightData as ArrayBuffer),
        'binary',
      );
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}

describe('nodeFileSystem round trip', () => {
  it('saves model.json + weights.bin in the tfjs layout and loads the same model back', async () => {
    const model = makeModel();
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    model.setUserDefinedMetadata({ run: 'test', step: 7 });
    const x = tf.randomNormal([4, 5]);
    const result = await model.save(nodeFileSystem(join(dir, 'nested', 'model')), {
      includeOptimizer: true,
    });
    // Measured after the save: saving creates the optimizer's step counter.
    const before = tf.memory().numTensors;
    const loaded = await tfl.loadLayersModel(nodeFileSystem(join(dir, 'nested', 'model')));

    const target = join(dir, 'nested', 'model');
    expect((await readdir(target)).sort()).toEqual([MODEL_JSON_FILE, WEIGHTS_FILE]);
    const modelJson = JSON.parse(await readFile(join(target, MODEL_JSON_FILE), 'utf8'));
    expect(Object.keys(modelJson).sort()).toEqual(
      [
        'convertedBy',
        'format',
        'generatedBy',
        'modelTopology',
        'trainingConfig',
        'userDefinedMetadata',
        'weightsManifest',
      ].sort(),
    );
    expect(modelJson.weightsManifest).toHaveLength(1);
    expect(modelJson.weightsManifest[0].paths).toEqual([WEIGHTS_FILE]);
    expect(modelJson.weightsManifest[0].weights.map((s: { name: string }) => s.name)).toEqual([
      ...model.weights.map((w) => w.originalName),
      'iter',
    ]);
    expect(modelJson.format).toBe('layers-model');
    expect(modelJson.userDefinedMetadata).toEqual({ run: 'test', step: 7 });
    expect(modelJson.trainingConfig.loss).toBe('mean_squared_error');
    // The model's 75 floats, then SGD's iteration counter (includeOptimizer).
    const bytes = (5 * 8 + 8 + 8 * 3 + 3 + 1) * 4;
    expect((await stat(join(target, WEIGHTS_FILE))).size).toBe(bytes);
    expect(result.modelArtifactsInfo.weightDataBytes).toBe(bytes);

    expect(weightsOf(loaded)).toEqual(weightsOf(model));
    expect(loaded.getUserDefinedMetadata()).toEqual({ run: 'test', step: 7 });
    const [a, b] = [model.predict(x), loaded.predict(x)] as tf.Tensor[];
    expect(Array.from(b!.dataSync())).toEqual(Array.from(a!.dataSync()));
    tf.dispose([a!, b!]);
    // tfjs-layers compiles a loaded model with an optimizer it does not mark
    // as owned, so model.dispose() leaves the optimizer's step counter.
    loaded.optimizer.dispose();
    loaded.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    x.dispose();
  });

  it('leaves no tensors behind across repeated save/load cycles', async () => {
    const model = makeModel();
    const handler = nodeFileSystem(dir);
    await model.save(handler);
    (await tfl.loadLayersModel(handler)).dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await model.save(handler);
      (await tfl.loadLayersModel(handler)).dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('overwrites an earlier save and leaves only the two files', async () => {
    const first = makeModel(0);
    const second = makeModel(5);
    await first.save(nodeFileSystem(dir));
    await second.save(nodeFileSystem(dir));
    const loaded = await tfl.loadLayersModel(nodeFileSystem(dir));
    expect(weightsOf(loaded)).toEqual(weightsOf(second));
    expect((await readdir(dir)).sort()).toEqual([MODEL_JSON_FILE, WEIGHTS_FILE]);
    for (const m of [first, second, loaded]) m.dispose();
  });

  it('loads a directory written the way tfjs-node file:// writes it, by directory or by model.json', async () => {
    const model = makeModel(1);
    await saveLikeTfjsNode(model, dir);
    const byDir = await tfl.loadLayersModel(nodeFileSystem(dir));
    const byFile = await tfl.loadLayersModel(nodeFileSystem(join(dir, 'model.json')));
    expect(weightsOf(byDir)).toEqual(weightsOf(model));
    expect(weightsOf(byFile)).toEqual(weightsOf(model));
    // And saving over it keeps it tfjs-node readable: same file names.
    await makeModel(2).save(nodeFileSystem(dir));
    expect((await readdir(dir)).sort()).toEqual([MODEL_JSON_FILE, WEIGHTS_FILE]);
    for (const m of [model, byDir, byFile]) m.dispose();
  });

  it('loads sharded tfjs-converter style manifests (several groups and files)', async () => {
    const model = makeModel(3);
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const data = new Uint8Array(artifacts.weightData as ArrayBuffer);
        const specs = artifacts.weightSpecs!;
        // Kernel and bias of layer 1 in group 1 (split over two files), layer 2 in group 2.
        const split = (5 * 8 + 8) * 4;
        const manifest = [
          { paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: specs.slice(0, 2) },
          { paths: ['group2-shard1of1.bin'], weights: specs.slice(2) },
        ];
        await writeFile(join(dir, 'group1-shard1of2.bin'), data.subarray(0, 100));
        await writeFile(join(dir, 'group1-shard2of2.bin'), data.subarray(100, split));
        await writeFile(join(dir, 'group2-shard1of1.bin'), data.subarray(split));
        const json = { modelTopology: artifacts.modelTopology, weightsManifest: manifest };
        await writeFile(join(dir, 'model.json'), JSON.stringify(json));
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
      }),
    );
    const loaded = await tfl.loadLayersModel(nodeFileSystem(dir));
    expect(weightsOf(loaded)).toEqual(weightsOf(model));
    model.dispose();
    loaded.dispose();
  });
});

describe('registerNodeFileSystemRouter', () => {
  it('routes node:// URLs to the handler, and registering twice is harmless', async () => {
    registerNodeFileSystemRouter();
    registerNodeFileSystemRouter();
    const model = makeModel(4);
    await model.save(`node://${dir}`);
    const loaded = await tfl.loadLayersModel(`node://${dir}`);
    expect(weightsOf(loaded)).toEqual(weightsOf(model));
    expect(tf.io.getSaveHandlers(`node://${dir}`)).toHaveLength(1);
    model.dispose();
    loaded.dispose();
  });

  it('rejects a scheme that is not a URL prefix', () => {
    expect(() => registerNodeFileSystemRouter('node')).toThrow(TfjsBlocksError);
    expect(() => registerNodeFileSystemRouter('node')).toThrow(/scheme must be a URL prefix/);
  });
});

describe('nodeFileSystem errors', () => {
  async function loadError(path: string): Promise<TfjsBlocksError> {
    const error = await nodeFileSystem(path)
      .load()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TfjsBlocksError);
    return error as TfjsBlocksError;
  }

  it('names a missing directory', async () => {
    const e = await loadError(join(dir, 'nope'));
    expect(e.message).toMatch(/NodeFileSystem\.load: path must be an existing model directory/);
    expect(e.message).toContain(join(dir, 'nope'));
  });

  it('names a directory without model.json', async () => {
    const e = await loadError(dir);
    expect(e.message).toMatch(
      /must be a directory containing model\.json; got a directory without/,
    );
  });

  it('names a missing weights file', async () => {
    const model = makeModel();
    await model.save(nodeFileSystem(dir));
    await rm(join(dir, WEIGHTS_FILE));
    const e = await loadError(dir);
    expect(e.argument).toBe('weightsManifest[0].paths[0]');
    expect(e.message).toMatch(/weights\.bin', which does not exist/);
    model.dispose();
  });

  it('names a short (or long) weights file with the byte counts', async () => {
    const model = makeModel();
    await model.save(nodeFileSystem(dir));
    const bytes = (5 * 8 + 8 + 8 * 3 + 3) * 4;
    await truncate(join(dir, WEIGHTS_FILE), bytes - 4);
    const e = await loadError(dir);
    expect(e.message).toMatch(
      new RegExp(`must be ${bytes} bytes of weights for its 4 tensors; got ${bytes - 4} bytes`),
    );
    model.dispose();
  });

  it('names unparseable JSON and a bad manifest', async () => {
    await writeFile(join(dir, MODEL_JSON_FILE), '{"modelTopology": ');
    expect((await loadError(dir)).message).toMatch(/model\.json must be valid JSON/);
    await writeFile(join(dir, MODEL_JSON_FILE), '{"modelTopology": {}, "weightsManifest": {}}');
    expect((await loadError(dir)).message).toMatch(/weightsManifest must be an array of/);
  });

  it('refuses weight paths that leave the model directory', async () => {
    const json = { modelTopology: {}, weightsManifest: [{ paths: ['../x.bin'], weights: [] }] };
    await writeFile(join(dir, MODEL_JSON_FILE), JSON.stringify(json));
    expect((await loadError(dir)).message).toMatch(/must be a path inside the model directory/);
  });

  it('refuses to save onto a file, or a binary topology', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    await expect(nodeFileSystem(file).save({ modelTopology: {} })).rejects.toThrow(
      /NodeFileSystem\.save: path must be a directory or a path that does not exist yet; got a file/,
    );
    await expect(nodeFileSystem(dir).save({ modelTopology: new ArrayBuffer(4) })).rejects.toThrow(
      TfjsBlocksError,
    );
  });

  it('refuses an empty path', () => {
    expect(() => new NodeFileSystem('')).toThrow(/nodeFileSystem: path must be a non-empty string/);
  });
});

describe('nodeFileSystem atomicity', () => {
  it('ignores temp files of a killed save and removes them on the next save', async () => {
    const model = makeModel(1);
    await model.save(nodeFileSystem(dir));
    await writeFile(join(dir, `${WEIGHTS_FILE}.tmp-12345-0badc0de`), 'partial');
    await writeFile(join(dir, `${MODEL_JSON_FILE}.tmp-12345-deadbeef`), '{"partial');
    await writeFile(join(dir, 'notes.txt'), 'mine');
    const loaded = await tfl.loadLayersModel(nodeFileSystem(dir));
    expect(weightsOf(loaded)).toEqual(weightsOf(model));
    await model.save(nodeFileSystem(dir));
    expect((await readdir(dir)).sort()).toEqual([MODEL_JSON_FILE, 'notes.txt', WEIGHTS_FILE]);
    model.dispose();
    loaded.dispose();
  });

  // A save is four renames; stopping after each one (as a crash would) must
  // leave either the old save or the new one, never old topology + new weights.
  for (const [stopAfter, expectNew] of [
    ['previous-weights-linked', false],
    ['model-json-repointed', false],
    ['weights-committed', false],
    ['model-json-committed', true],
  ] as const) {
    it(`a save stopped after ${stopAfter} leaves the ${expectNew ? 'new' : 'previous'} save loadable`, async () => {
      const oldModel = makeModel(0);
      const newModel = makeModel(9);
      await oldModel.save(nodeFileSystem(dir));
      setSaveStepHookForTesting((step) => {
        if (step === stopAfter) throw new Error(`crash after ${step}`);
      });
      await expect(newModel.save(nodeFileSystem(dir))).rejects.toThrow(/crash after/);
      setSaveStepHookForTesting(undefined);

      const loaded = await tfl.loadLayersModel(nodeFileSystem(dir));
      expect(weightsOf(loaded)).toEqual(weightsOf(expectNew ? newModel : oldModel));
      loaded.dispose();

      // The next save recovers from whatever state the crash left.
      await newModel.save(nodeFileSystem(dir));
      const again = await tfl.loadLayersModel(nodeFileSystem(dir));
      expect(weightsOf(again)).toEqual(weightsOf(newModel));
      expect((await readdir(dir)).sort()).toEqual([MODEL_JSON_FILE, WEIGHTS_FILE]);
      for (const m of [oldModel, newModel, again]) m.dispose();
    });
  }

  it('also works with durable: false', async () => {
    const model = makeModel(2);
    await model.save(nodeFileSystem(dir, { durable: false }));
    const loaded = await tfl.loadLayersModel(nodeFileSystem(dir, { durable: false }));
    expect(weightsOf(loaded)).toEqual(weightsOf(model));
    model.dispose();
    loaded.dispose();
  });
});

describe('nodeFileSystem with hostile directories and manifests', () => {
  async function loadError(path: string): Promise<TfjsBlocksError> {
    const error = await nodeFileSystem(path)
      .load()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TfjsBlocksError);
    return error as TfjsBlocksError;
  }

  /** Saves a model into `dir/model`, then rewrites its manifest with `edit`. */
  async function savedWith(
    edit: (group: { paths: string[]; weights: unknown[] }) => void,
  ): Promise<string> {
    const modelDir = join(dir, 'model');
    const model = makeModel();
    await model.save(nodeFileSystem(modelDir));
    model.dispose();
    const json = JSON.parse(await readFile(join(modelDir, MODEL_JSON_FILE), 'utf8'));
    edit(json.weightsManifest[0]);
    await writeFile(join(modelDir, MODEL_JSON_FILE), JSON.stringify(json));
    return modelDir;
  }

  it('refuses a symlink inside the directory that points outside it', async () => {
    const modelDir = await savedWith(() => {});
    await rename(join(modelDir, WEIGHTS_FILE), join(dir, 'outside.bin'));
    await symlink(join(dir, 'outside.bin'), join(modelDir, WEIGHTS_FILE));
    const e = await loadError(modelDir);
    expect(e.argument).toBe('weightsManifest[0].paths[0]');
    expect(e.expected).toBe('a path inside the model directory');
    expect(e.actual).toContain('outside.bin');
  });

  it('follows a symlink that stays inside, and reaches a model directory through a symlink', async () => {
    const modelDir = await savedWith((group) => {
      group.paths = ['link.bin'];
    });
    await symlink(WEIGHTS_FILE, join(modelDir, 'link.bin'));
    await symlink(modelDir, join(dir, 'alias'));
    const loaded = await tfl.loadLayersModel(nodeFileSystem(join(dir, 'alias')));
    expect(loaded.getWeights()).toHaveLength(4);
    loaded.dispose();
  });

  it('loads a legitimate file named ..weights.bin', async () => {
    const modelDir = await savedWith((group) => {
      group.paths = ['..weights.bin'];
    });
    await rename(join(modelDir, WEIGHTS_FILE), join(modelDir, '..weights.bin'));
    const loaded = await tfl.loadLayersModel(nodeFileSystem(modelDir));
    const model = makeModel();
    expect(weightsOf(loaded)).toEqual(weightsOf(model));
    model.dispose();
    loaded.dispose();
  });

  const badManifests: [string, (group: { paths: string[]; weights: unknown[] }) => void, string][] =
    [
      ['a null weight spec', (g) => (g.weights[0] = null), 'weights[0]'],
      [
        'a negative shape',
        (g) => ((g.weights[1] as { shape: number[] }).shape = [-8]),
        'weights[1].shape',
      ],
      [
        'an inherited key as dtype',
        (g) => ((g.weights[0] as { dtype: string }).dtype = 'constructor'),
        'weights[0].dtype',
      ],
      [
        'a spec with no name',
        (g) => delete (g.weights[0] as { name?: string }).name,
        'weights[0].name',
      ],
    ];
  for (const [label, edit, argument] of badManifests) {
    it(`names ${label}`, async () => {
      const e = await loadError(await savedWith(edit));
      expect(e.argument).toBe(`${MODEL_JSON_FILE} weightsManifest[0].${argument}`);
    });
  }

  it('names an empty weights path and one that is a directory (used to be EISDIR)', async () => {
    const empty = await loadError(await savedWith((g) => (g.paths = [''])));
    expect(empty.argument).toBe('weightsManifest[0].paths[0]');
    expect(empty.expected).toBe('a file name');
    await rm(join(dir, 'model'), { recursive: true });
    const modelDir = await savedWith((g) => (g.paths = ['sub']));
    await mkdir(join(modelDir, 'sub'));
    const sub = await loadError(modelDir);
    expect(sub.argument).toBe('weightsManifest[0].paths[0]');
    expect(sub.expected).toBe('a weights file');
  });

  it('rejects unknown options, naming the closest one, and a non-boolean durable', () => {
    let e = (() => {
      try {
        nodeFileSystem(dir, { durabel: false } as never);
      } catch (error) {
        return error as TfjsBlocksError;
      }
    })();
    expect(e).toBeInstanceOf(TfjsBlocksError);
    expect(e!.argument).toBe('options.durabel');
    expect(e!.expected).toMatch(/did you mean 'durable'/);
    e = (() => {
      try {
        new NodeFileSystem(dir, { durable: 'no' as never });
      } catch (error) {
        return error as TfjsBlocksError;
      }
    })();
    expect(e!.argument).toBe('options.durable');
  });
});
