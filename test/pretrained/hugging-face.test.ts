import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  configJsonReader,
  decoderLm,
  fromHuggingFace,
  generate,
  gpt2Config,
  type HuggingFaceFamily,
  llamaConfig,
  PRETRAINED_FAMILIES,
  toHuggingFace,
} from '../../src/index';
import { readSafetensorsFile } from '../../src/node/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { flattenParams } from '../helpers/params';
import { describeRejections, thrownWithoutLeak } from '../helpers/rejections';

const dir = fileURLToPath(new URL('../fixtures/huggingface/', import.meta.url));
const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8'));
const s = expected.sizes;
const configs = {
  gpt2: gpt2Config({
    vocabSize: s.vocab,
    maxLength: s.maxLength,
    dModel: s.dModel,
    numLayers: s.layers,
    numHeads: s.heads,
  }),
  llama: llamaConfig({
    vocabSize: s.vocab,
    maxLength: s.maxLength,
    dModel: s.dModel,
    numLayers: s.layers,
    numHeads: s.heads,
    numKvHeads: s.kvHeads,
    hidden: s.hidden,
  }),
} as const;

describeEachBackend('Hugging Face checkpoints', () => {
  for (const family of ['gpt2', 'llama'] as const) {
    it(`${family}: logits within 1e-4 of the reference, greedy generation identical, export gives back the same tensors`, async () => {
      const stateDict = (await readSafetensorsFile(`${dir}${family}.safetensors`)).tensors;
      const config = configs[family];
      const params = fromHuggingFace(family, config, stateDict);
      const c = expected.cases[family];
      const ids = tf.tensor2d([c.prompt], undefined, 'int32');
      const logits = decoderLm(config, params, ids);
      const scale = Math.max(...c.logits.map(Math.abs));
      expectClose(logits, c.logits, { rtol: 0, atol: 1e-4 * scale });
      const [greedy] = await generate({ kind: 'decoderLm', config, params }, [c.prompt], {
        maxNewTokens: 6,
        temperature: 0,
      });
      expect(greedy).toEqual(c.greedy);
      const exported = toHuggingFace(family, config, params);
      expect(Object.keys(exported).sort()).toEqual(
        Object.keys(stateDict)
          .filter((k) => family === 'llama' || k !== 'lm_head.weight')
          .sort(),
      );
      for (const [name, t] of Object.entries(exported))
        expectClose(t, stateDict[name]!, { rtol: 0, atol: 0 });
      tf.dispose([
        ids,
        logits,
        Object.values(exported),
        Object.values(stateDict),
        Object.values(flattenParams(params)),
      ]);
    });
  }
});

describeRejections('fromHuggingFace rejects mismatched checkpoints, loading nothing', () => {
  const config = configs.llama;
  return [
    [
      'a missing tensor',
      () => fromHuggingFace('llama', config, {}),
      /stateDict\["model.embed_tokens.weight"\] must be a tensor of shape \[40, 16\]; got nothing/,
    ],
    [
      'a tensor of the wrong shape',
      () => {
        fromHuggingFace('gpt2', configs.gpt2, { 'transformer.wte.weight': tf.zeros([40, 8]) });
      },
      /stateDict\["transformer.wte.weight"\] must be shape \[40, 16\]; got shape \[40, 8\]/,
    ],
  ];
});

it('a failed load leaves no tensor behind', () => {
  const wte = tf.zeros([40, 16]);
  const before = tf.memory().numTensors;
  expect(() => fromHuggingFace('gpt2', configs.gpt2, { 'transformer.wte.weight': wte })).toThrow(
    /transformer.wpe.weight/,
  );
  expect(tf.memory().numTensors).toBe(before);
  wte.dispose();
});

describe('fromHuggingFace rejects checkpoints the config does not describe', () => {
  const gpt2Path = `${dir}gpt2.safetensors`;

  it('extra tensors (a deeper checkpoint) are an error listing them, unless ignoreExtraTensors', async () => {
    const stateDict = (await readSafetensorsFile(gpt2Path)).tensors;
    const deeper = { ...stateDict };
    for (const name of Object.keys(stateDict).filter((n) => n.startsWith('transformer.h.1.'))) {
      deeper[name.replace('.h.1.', '.h.2.')] = stateDict[name]!;
    }
    const e = thrownWithoutLeak(() => fromHuggingFace('gpt2', configs.gpt2, deeper));
    expect(e.argument).toBe('stateDict');
    expect(e.actual).toMatch(/^12 more: "transformer\.h\.2\.attn\.c_attn\.bias", .*, and 4 more$/);
    const params = fromHuggingFace('gpt2', configs.gpt2, deeper, { ignoreExtraTensors: true });
    expect(params.blocks).toHaveLength(2);
    tf.dispose(Object.values(flattenParams(params)));
    tf.dispose(Object.values(stateDict));
  });

  it("known buffers (GPT-2's h.N.attn.bias, a tied lm_head) are not extra", async () => {
    const stateDict = (await readSafetensorsFile(`${dir}gpt2.safetensors`)).tensors;
    const mask = tf.ones([1, 1, s.maxLength, s.maxLength]);
    const withBuffers = {
      ...stateDict,
      'transformer.h.0.attn.bias': mask,
      'transformer.h.1.attn.masked_bias': mask,
      'lm_head.weight': stateDict['transformer.wte.weight']!,
    };
    const params = fromHuggingFace('gpt2', configs.gpt2, withBuffers);
    tf.dispose([mask, Object.values(flattenParams(params)), Object.values(stateDict)]);
  });

  it('a weight of another dtype is named (int32 weights used to fail only in the forward pass)', async () => {
    const stateDict = (await readSafetensorsFile(`${dir}llama.safetensors`)).tensors;
    const ints = tf.zeros([s.vocab, s.dModel], 'int32');
    const e = thrownWithoutLeak(() =>
      fromHuggingFace('llama', configs.llama, { ...stateDict, 'model.embed_tokens.weight': ints }),
    );
    expect(e.argument).toBe('stateDict["model.embed_tokens.weight"]');
    expect(e.expected).toMatch(/^a float32 tensor/);
    expect(e.actual).toBe(`a int32 tensor of shape [${s.vocab}, ${s.dModel}]`);
    const notATensor = thrownWithoutLeak(() =>
      fromHuggingFace('llama', configs.llama, { ...stateDict, 'model.norm.weight': [1] as never }),
    );
    expect(notATensor.argument).toBe('stateDict["model.norm.weight"]');
    tf.dispose([ints, Object.values(stateDict)]);
  });

  it('a head size that is not whole, an unknown family, null inputs and unknown options', () => {
    const llama = configs.llama;
    const odd = { ...llama, block: { ...llama.block, numHeads: 6, numKvHeads: 2 } };
    const cases: [() => unknown, string][] = [
      [() => fromHuggingFace('llama', odd, {}), 'config.block.numHeads'],
      [
        () => fromHuggingFace('llama', { ...llama, block: { ...llama.block, numKvHeads: 3 } }, {}),
        'config.block.numKvHeads',
      ],
      [() => fromHuggingFace('bert' as never, llama, {}), 'family'],
      [() => fromHuggingFace('falcon' as never, llama, {}), 'family'],
      [() => fromHuggingFace('llama', null as never, {}), 'config'],
      [() => fromHuggingFace('llama', llama, null as never), 'stateDict'],
      [
        () => fromHuggingFace('llama', llama, {}, { ignoreExtraTensor: true } as never),
        'options.ignoreExtraTensor',
      ],
      [() => toHuggingFace('llama', odd, {} as never), 'config.block.numHeads'],
      [() => toHuggingFace('gpt-2' as never, configs.gpt2, {} as never), 'family'],
      [() => toHuggingFace('llama', llama, null as never), 'params'],
      [() => toHuggingFace('gpt2', configs.gpt2, {} as never), 'params.tokenEmbedding.table'],
      // Llama's names for a learned-position config would load as another model.
      [() => toHuggingFace('llama', configs.gpt2, {} as never), 'config.positions'],
    ];
    for (const [call, argument] of cases) {
      expect(thrownWithoutLeak(call).argument, argument).toBe(argument);
    }
    const message = thrownWithoutLeak(cases[0]![0]).message;
    expect(message).not.toMatch(/2\.666/);
  });

  it('toHuggingFace names a missing q/k/v piece before making any tensor', async () => {
    const stateDict = (await readSafetensorsFile(`${dir}gpt2.safetensors`)).tensors;
    const params = fromHuggingFace('gpt2', configs.gpt2, stateDict);
    const attention = params.blocks[1]!.attention as unknown as Record<string, unknown>;
    const key = attention.key;
    delete attention.key;
    const e = thrownWithoutLeak(() => toHuggingFace('gpt2', configs.gpt2, params));
    expect(e.argument).toBe('params.blocks.1.attention.key.kernel');
    attention.key = key;
    tf.dispose([Object.values(flattenParams(params)), Object.values(stateDict)]);
  });
});

describe('fromHuggingFace / toHuggingFace take every decoder family of the registry', () => {
  // A compiler-checked list of HuggingFaceFamily: a new member must be added here.
  const typed: Record<HuggingFaceFamily, true> = {
    gpt2: true,
    llama: true,
    mistral: true,
    qwen2: true,
    phi3: true,
    gemma: true,
  };

  it('HuggingFaceFamily is exactly the model types of the decoder families in PRETRAINED_FAMILIES', () => {
    const decoders = PRETRAINED_FAMILIES.filter((f) => f.kind === 'decoder-lm').flatMap(
      (f) => f.modelTypes,
    );
    expect(Object.keys(typed).sort()).toEqual([...decoders].sort());
  });

  it('gemma and mistral fixtures round-trip through toHuggingFace and fromHuggingFace', async () => {
    for (const name of ['gemma', 'mistral'] as const) {
      const folder = fileURLToPath(new URL(`../fixtures/pretrained/${name}/`, import.meta.url));
      const json = JSON.parse(readFileSync(`${folder}config.json`, 'utf8'));
      const family = PRETRAINED_FAMILIES.find((f) => f.modelTypes.includes(name))!;
      const config = family.fromConfigJson(configJsonReader('test', json)) as never;
      const { tensors } = await readSafetensorsFile(`${folder}model.safetensors`);
      const before = tf.memory().numTensors;
      const params = fromHuggingFace(name, config, tensors);
      const saved = toHuggingFace(name, config, params);
      for (const [tensorName, t] of Object.entries(tensors)) {
        expect(saved[tensorName]?.dataSync(), tensorName).toEqual(t.dataSync());
      }
      tf.dispose([Object.values(flattenParams(params)), Object.values(saved)]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(Object.values(tensors));
    }
  });
});
