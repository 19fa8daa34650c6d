import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import { initLora, type LoraAdapter, loraTensors } from '../../src/fine-tuning/lora';
import { adapterFiles, loadAdapter } from '../../src/fine-tuning/peft-adapter';
import { parseSafetensors, serializeSafetensors } from '../../src/interop/safetensors';
import { initDecoderLm, llamaConfig } from '../../src/models/decoder-lm';
import { folderSource } from '../../src/node/pretrained-node';
import { type LoadedPretrained, loadPretrained } from '../../src/pretrained/load';
import { memorySource } from '../helpers/pretrained-source';
import { thrownBy, thrownWithoutLeak } from '../helpers/rejections';

const FIXTURES = join(__dirname, '..', 'fixtures', 'peft');
const WEIGHTS = 'adapter_model.safetensors';
const CONFIG = 'adapter_config.json';
const Q0 = 'base_model.model.model.layers.0.self_attn.q_proj';

let llama: LoadedPretrained;
beforeAll(async () => {
  llama = await loadPretrained(folderSource(join(FIXTURES, 'base-llama')));
});
afterAll(() => tf.dispose(llama.params as unknown as tf.TensorContainer));

/** The llama-list fixture's files, with `config` fields and `tensors` changed (undefined removes). */
function folder(
  config: Record<string, unknown> = {},
  tensors: (t: Record<string, tf.Tensor>) => Record<string, tf.Tensor | undefined> = () => ({}),
) {
  const dir = join(FIXTURES, 'llama-list', 'adapter');
  const json = { ...JSON.parse(readFileSync(join(dir, CONFIG), 'utf8')), ...config };
  const parsed = parseSafetensors(readFileSync(join(dir, WEIGHTS)));
  const changed = tensors(parsed.tensors);
  const all: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries({ ...parsed.tensors, ...changed })) if (v) all[k] = v;
  const bytes = serializeSafetensors(all);
  tf.dispose([...Object.values(parsed.tensors), ...Object.values(changed).filter((t) => t)]);
  return { [CONFIG]: JSON.stringify(json), [WEIGHTS]: bytes } as Record<
    string,
    string | Uint8Array
  >;
}

/** The TfjsBlocksError a rejected load gives, checking that it left no tensor behind. */
async function rejection(load: () => Promise<unknown>): Promise<TfjsBlocksError> {
  const before = tf.memory().numTensors;
  let error: unknown;
  try {
    await load();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(TfjsBlocksError);
  expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
  return error as TfjsBlocksError;
}

describe('loadAdapter: bad folders are typed errors naming the file and key', () => {
  it('an adapter for a base of other widths names the factor and its shape', async () => {
    const config = llamaConfig({
      vocabSize: 64,
      maxLength: 64,
      dModel: 48,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      hidden: 48,
    });
    const other = {
      kind: 'decoder-lm' as const,
      modelType: 'llama',
      config,
      params: initDecoderLm(config, 0),
    };
    const e = await rejection(() =>
      loadAdapter(folderSource(join(FIXTURES, 'llama-list', 'adapter')), other),
    );
    expect(e.argument).toBe(`${WEIGHTS}: tensor "${Q0}.lora_A.weight".shape`);
    expect(e.expected).toMatch(/\[4, 48\]/);
    expect(e.actual).toBe('[4, 32]');
    tf.dispose(other.params as unknown as tf.TensorContainer);
  });

  it('a key naming a module the base does not have', async () => {
    const key = 'base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight';
    const files = folder({}, () => ({ [key]: tf.zeros([4, 32]) }));
    const e = await rejection(() => loadAdapter(memorySource(files), llama));
    expect(e.argument).toBe(`${WEIGHTS}: tensor "${key}"`);
    expect(e.expected).toMatch(/linear module of the base/);
  });

  it("a factor of a module the config's target_modules does not select", async () => {
    const key = 'base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight';
    const files = folder({}, () => ({ [key]: tf.zeros([4, 32]) }));
    const e = await rejection(() => loadAdapter(memorySource(files), llama));
    expect(e.argument).toBe(`${WEIGHTS}: tensor "${key}"`);
    expect(e.expected).toMatch(/target_modules selects/);
  });

  it('a key that is neither a factor nor a saved module', async () => {
    const files = folder({}, () => ({ 'base_model.model.model.norm.weight': tf.ones([32]) }));
    const e = await rejection(() => loadAdapter(memorySource(files), llama));
    expect(e.argument).toBe(`${WEIGHTS}: tensor "base_model.model.model.norm.weight"`);
  });

  it('a missing factor', async () => {
    const files = folder({}, () => ({ [`${Q0}.lora_B.weight`]: undefined }));
    const e = await rejection(() => loadAdapter(memorySource(files), llama));
    expect(e.argument).toBe(`${WEIGHTS}: tensor "${Q0}.lora_B.weight"`);
    expect(e.actual).toBe('missing');
  });

  it('a rank that differs from r', async () => {
    const e = await rejection(() => loadAdapter(memorySource(folder({ r: 2 })), llama));
    expect(e.argument).toBe(`${WEIGHTS}: tensor "${Q0}.lora_A.weight".shape`);
  });

  it('target_modules matching nothing on the base', async () => {
    const files = folder({ target_modules: ['c_attn'] });
    const e = await rejection(() => loadAdapter(memorySource(files), llama));
    expect(e.argument).toBe(`${CONFIG}: target_modules`);
    expect(e.actual).toMatch(/matches nothing/);
  });

  it('modules_to_save naming no module', async () => {
    const e = await rejection(() =>
      loadAdapter(memorySource(folder({ modules_to_save: ['nope_head'] })), llama),
    );
    expect(e.argument).toBe(`${CONFIG}: modules_to_save`);
  });

  it('an unsupported config field (DoRA), before the weights are fetched', async () => {
    const source = memorySource(folder({ use_dora: true }));
    const e = await rejection(() => loadAdapter(source, llama));
    expect(e.argument).toBe(`${CONFIG}: use_dora`);
    expect(source.requests.map((r) => r.file)).toEqual([CONFIG]);
  });

  it('a pickle adapter_model.bin only: says to use safetensors', async () => {
    const files = folder();
    const e = await rejection(() =>
      loadAdapter(
        memorySource({ [CONFIG]: files[CONFIG]!, 'adapter_model.bin': new Uint8Array([0x80, 2]) }),
        llama,
      ),
    );
    expect(e.argument).toBe(WEIGHTS);
    expect(e.actual).toBe('only adapter_model.bin');
    expect(e.expected).toMatch(/safetensors/);
  });

  it('no weights file, no config file', async () => {
    const e = await rejection(() =>
      loadAdapter(memorySource({ [CONFIG]: folder()[CONFIG]! }), llama),
    );
    expect(e.argument).toBe(WEIGHTS);
    expect(e.actual).toMatch(/404/);
    const f = await rejection(() => loadAdapter(memorySource({}), llama));
    expect(f.argument).toBe(CONFIG);
  });

  it('a malformed weights file names it', async () => {
    const files = { ...folder(), [WEIGHTS]: new Uint8Array([1, 2, 3]) };
    const e = await rejection(() => loadAdapter(memorySource(files), llama));
    expect(e.argument).toBe(WEIGHTS);
  });

  it('bad source, model and options', async () => {
    expect((await rejection(() => loadAdapter(7 as never, llama))).argument).toBe('source');
    expect(
      (await rejection(() => loadAdapter(memorySource(folder()), null as never))).argument,
    ).toBe('model');
    expect(
      (await rejection(() => loadAdapter(memorySource(folder()), llama, { sigal: 1 } as never)))
        .argument,
    ).toMatch(/options/);
  });

  it('an aborted load rejects with the reason and leaves nothing', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    const before = tf.memory().numTensors;
    await expect(
      loadAdapter(memorySource(folder()), llama, { signal: controller.signal }),
    ).rejects.toBe(reason);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a load that succeeds adds exactly the adapter tensors', async () => {
    const before = tf.memory().numTensors;
    const adapter = await loadAdapter(memorySource(folder()), llama);
    const mine = Object.values(loraTensors(adapter));
    expect(tf.memory().numTensors - before).toBe(mine.length);
    expect(adapter.config).toEqual({
      r: 4,
      alpha: 16,
      dropout: 0,
      targetModules: expect.any(Array),
      useRsLora: false,
      modulesToSave: [],
    });
    tf.dispose(mine);
  });
});

describe('adapterFiles: adapters PEFT could not store the same are typed errors', () => {
  let adapter: LoraAdapter;
  beforeAll(() => {
    adapter = initLora(llama, { r: 2, alpha: 4, targetModules: ['q_proj'] }, 0);
  });
  afterAll(() => tf.dispose(Object.values(loraTensors(adapter))));
  const q0 = 'model.layers.0.self_attn.q_proj';

  it('modules other than what the config selects', () => {
    const { [q0]: _dropped, ...rest } = adapter.modules;
    const e = thrownWithoutLeak(() => adapterFiles(llama, { ...adapter, modules: rest }));
    expect(e.argument).toBe('adapter.modules');
    expect(e.actual).toMatch(/no 'model.layers.0.self_attn.q_proj'/);
    const more = { ...adapter, config: { ...adapter.config, targetModules: ['q_proj', 'v_proj'] } };
    expect(thrownWithoutLeak(() => adapterFiles(llama, more)).argument).toBe('adapter.modules');
  });

  it('a scale the config does not give', () => {
    const m = adapter.modules[q0]!;
    const e = thrownWithoutLeak(() =>
      adapterFiles(llama, {
        ...adapter,
        modules: { ...adapter.modules, [q0]: { ...m, scale: 3 } },
      }),
    );
    expect(e.argument).toBe(`adapter.modules["${q0}"].scale`);
  });

  it('factors of another rank or a disposed factor', () => {
    const m = adapter.modules[q0]!;
    const a = tf.zeros([32, 3]) as tf.Tensor2D;
    const e = thrownWithoutLeak(() =>
      adapterFiles(llama, { ...adapter, modules: { ...adapter.modules, [q0]: { ...m, a } } }),
    );
    expect(e.argument).toBe(`adapter.modules["${q0}"]`);
    a.dispose();
    const f = thrownWithoutLeak(() =>
      adapterFiles(llama, { ...adapter, modules: { ...adapter.modules, [q0]: { ...m, a } } }),
    );
    expect(f.argument).toBe(`adapter.modules["${q0}"]`);
  });

  it('saved modules other than the config says', () => {
    const saved = { ...adapter, modulesToSave: { lm_head: {} } };
    expect(thrownWithoutLeak(() => adapterFiles(llama, saved)).argument).toBe(
      'adapter.modulesToSave',
    );
  });

  it('no adapter, bad options', () => {
    expect(thrownWithoutLeak(() => adapterFiles(llama, null as never)).argument).toBe('adapter');
    expect(
      thrownWithoutLeak(() => adapterFiles(llama, adapter, { baseModelNameOrPath: '' })).argument,
    ).toBe('options.baseModelNameOrPath');
    expect(thrownBy(() => adapterFiles(llama, adapter, { base: 'x' } as never)).argument).toMatch(
      /options/,
    );
  });

  it('writes base_model_name_or_path and task_type when given', () => {
    const files = adapterFiles(llama, adapter, {
      baseModelNameOrPath: 'HuggingFaceTB/SmolLM2-135M',
      taskType: 'CAUSAL_LM',
    });
    const json = JSON.parse(new TextDecoder().decode(files[0]!.bytes));
    expect(json.base_model_name_or_path).toBe('HuggingFaceTB/SmolLM2-135M');
    expect(json.fan_in_fan_out).toBe(false);
  });
});
