// Mistral (issue 18): a tiny MistralForCausalLM(MistralConfig(sliding_window=4))
// saved by transformers (test/reference/pretrained_mistral.py) loads through
// mistralFamily and gives HF's logits on a left-padded batch of prompts longer
// than the window, and HF's greedy tokens past the window.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  configJsonReader,
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderLm,
  familyForConfigJson,
  generate,
  mistralFamily,
} from '../../../src/index';
import { readSafetensorsFile } from '../../../src/node/index';
import { setParamPath } from '../../../src/pretrained/families/rules';
import { describeEachBackend } from '../../helpers/backends';
import { thrownWithoutLeak } from '../../helpers/rejections';

const dir = fileURLToPath(new URL('../../fixtures/pretrained/mistral/', import.meta.url));
const configJson = JSON.parse(readFileSync(`${dir}config.json`, 'utf8'));
const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8')) as {
  window: number;
  prompts: number[][];
  logits: number[][][];
  greedy: number[][];
  greedyWithoutWindow: number[][];
};

/** The fixture's params, through mistralFamily's tensor rules. */
async function loadParams(config: DecoderLmConfig): Promise<DecoderLmParams> {
  const { tensors } = await readSafetensorsFile(`${dir}model.safetensors`);
  const rules = mistralFamily.tensors(config);
  expect(rules.map((r) => r.name).sort()).toEqual(Object.keys(tensors).sort());
  const root: Record<string, unknown> = {};
  tf.tidy(() => {
    for (const rule of rules) {
      expect(tensors[rule.name]!.shape).toEqual(rule.shape);
      rule.load(tensors[rule.name]!).forEach((t, i) => {
        setParamPath(root, rule.paths[i]!, tf.keep(t));
      });
    }
  });
  tf.dispose(Object.values(tensors));
  return root as unknown as DecoderLmParams;
}

/** Max |a - b| / max |b| over the real positions of each prompt. */
function relativeError(logits: tf.Tensor3D, width: number): number {
  const values = logits.arraySync();
  let diff = 0;
  let scale = 0;
  expected.prompts.forEach((prompt, b) => {
    const rows = values[b]!.slice(width - prompt.length);
    rows.forEach((row, t) => {
      row.forEach((v, j) => {
        const ref = expected.logits[b]![t]![j]!;
        diff = Math.max(diff, Math.abs(v - ref));
        scale = Math.max(scale, Math.abs(ref));
      });
    });
  });
  return diff / scale;
}

describeEachBackend('Mistral from a transformers folder', () => {
  it('config.json reads to a sliding-window Llama-style config', () => {
    const config = mistralFamily.fromConfigJson(configJsonReader('t', configJson));
    expect(config.block.slidingWindow).toBe(expected.window);
    expect(config.positions).toBe('rope');
    expect(config.block.attentionBias).toBe(false);
    expect(config.block.numKvHeads).toBe(2);
    expect(familyForConfigJson('t', configJson)).toBe(mistralFamily);
  });

  it('logits of a left-padded batch longer than the window: within 1e-4 of HF; greedy past the window identical', async () => {
    const config = mistralFamily.fromConfigJson(configJsonReader('t', configJson));
    const params = await loadParams(config);
    const width = Math.max(...expected.prompts.map((p) => p.length));
    const valid = expected.prompts.map((p) => [
      ...new Array<boolean>(width - p.length).fill(false),
      ...p.map(() => true),
    ]);
    const ids = expected.prompts.map((p) => [...new Array<number>(width - p.length).fill(0), ...p]);
    const logits = tf.tidy(() =>
      decoderLm(config, params, tf.tensor2d(ids, undefined, 'int32'), {
        paddingMask: tf.tensor(valid.flat(), [ids.length, width], 'bool'),
      }),
    );
    const error = relativeError(logits, width);
    expect(error).toBeLessThan(1e-4);
    logits.dispose();
    const model = { kind: 'decoderLm' as const, config, params };
    const before = tf.memory().numTensors;
    const greedy = await generate(model, expected.prompts, { maxNewTokens: 12, temperature: 0 });
    expect(greedy).toEqual(expected.greedy);
    expect(tf.memory().numTensors).toBe(before);
    // The same weights without the window give HF's windowless continuation.
    const { slidingWindow: _w, ...unwindowed } = config.block;
    const without = await generate(
      { ...model, config: { ...config, block: unwindowed } },
      expected.prompts,
      {
        maxNewTokens: 12,
        temperature: 0,
      },
    );
    expect(without).toEqual(expected.greedyWithoutWindow);
    tf.dispose(params as unknown as tf.TensorContainer);
  });
});

describe('mistralFamily config.json', () => {
  const base = { ...configJson };
  const read = (json: Record<string, unknown>) =>
    mistralFamily.fromConfigJson(configJsonReader('loadPretrained', json));

  it('sliding_window null is no window; absent is transformers default, 4096', () => {
    expect(read({ ...base, sliding_window: null }).block.slidingWindow).toBeUndefined();
    const { sliding_window: _s, ...absent } = base;
    expect(read(absent).block.slidingWindow).toBe(4096);
  });

  it('toConfigJson reads back to the same config, window or none', () => {
    for (const json of [base, { ...base, sliding_window: null }]) {
      const config = read(json);
      const written = mistralFamily.toConfigJson(config);
      expect(written.model_type).toBe('mistral');
      expect(written.architectures).toEqual(['MistralForCausalLM']);
      expect(written.sliding_window).toBe(json.sliding_window);
      expect(read(written)).toEqual(config);
    }
  });

  it('unsupported values are errors naming the file and field', () => {
    for (const [json, argument] of [
      [{ ...base, sliding_window: 0 }, 'config.json: sliding_window'],
      [{ ...base, sliding_window: 2.5 }, 'config.json: sliding_window'],
      [{ ...base, head_dim: 0 }, 'config.json: head_dim'],
      [{ ...base, hidden_act: 'mish' }, 'config.json: hidden_act'],
      [
        { ...base, rope_parameters: { rope_type: 'yarn', rope_theta: 1e4, factor: 2 } },
        'config.json: rope_parameters.rope_type',
      ],
    ] as const) {
      const error = thrownWithoutLeak(() => read(json));
      expect(error.functionName).toBe('loadPretrained');
      expect(error.argument).toBe(argument);
    }
  });

  it('toConfigJson refuses biases Mistral does not have', () => {
    const config = read(base);
    expect(
      thrownWithoutLeak(() =>
        mistralFamily.toConfigJson({ ...config, block: { ...config.block, attentionBias: true } }),
      ).argument,
    ).toBe('config.block.attentionBias');
    expect(
      thrownWithoutLeak(() =>
        mistralFamily.toConfigJson({
          ...config,
          block: {
            ...config.block,
            feedForward: { ...config.block.feedForward, useBias: true },
          },
        }),
      ).argument,
    ).toBe('config.block.feedForward.useBias');
  });
});
