import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import { serializeSafetensors } from '../../src/interop/safetensors';
import {
  type LoadDependencies,
  type LoadPretrainedOptions,
  loadPretrainedWith,
} from '../../src/pretrained/load';
import type { PretrainedSource } from '../../src/pretrained/source';
import type { TokenizerFiles } from '../../src/tokenizers/tokenizer-files';
import { memorySource } from '../helpers/pretrained-source';
import { rejectionOf } from '../helpers/rejections';
import { toyCheckpoint, toyFamily } from '../helpers/toy-family';

const configJson = { model_type: 'toy', vocab_size: 3, hidden_size: 2, num_hidden_layers: 1 };

const dependencies: LoadDependencies<TokenizerFiles> = {
  familyFor(fn, json) {
    const type = (json as { model_type?: unknown }).model_type;
    if (type !== 'toy') {
      throw new TfjsBlocksError(fn, 'config.json: model_type', '"toy"', String(type));
    }
    return toyFamily as never;
  },
  loadTokenizer: (files) => files,
  generationConfig: (read) => ({ maxNewTokens: read.integer('max_new_tokens', 20) }),
};

function folder(): Record<string, Uint8Array | string | object> {
  const tensors = toyCheckpoint({ rows: 3, cols: 2, layers: 1 });
  const weights = serializeSafetensors(tensors, { format: 'pt' });
  tf.dispose(Object.values(tensors));
  return { 'config.json': configJson, 'model.safetensors': weights };
}

const load = (source: PretrainedSource, options?: LoadPretrainedOptions) =>
  loadPretrainedWith('loadPretrained', source, options, dependencies);

async function failure(source: PretrainedSource, options?: LoadPretrainedOptions) {
  const before = tf.memory().numTensors;
  const error = await rejectionOf(load(source, options));
  expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
  return error;
}

describe('loadPretrained (plumbing, over a test-only family)', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('returns the config, params and kind; no tokenizer or generation files give undefined', async () => {
    const before = tf.memory().numTensors;
    const loaded = await load(memorySource(folder()));
    expect(tf.memory().numTensors - before).toBe(4);
    expect(loaded.kind).toBe('decoder-lm');
    expect(loaded.modelType).toBe('toy');
    expect(loaded.config).toEqual({ rows: 3, cols: 2, layers: 1 });
    expect(loaded.tokenizer).toBeUndefined();
    expect(loaded.generationConfig).toBeUndefined();
    tf.dispose(loaded.params as unknown as tf.TensorContainer);
  });

  it('reads generation_config.json and the tokenizer files, both chat-template forms', async () => {
    const files = {
      ...folder(),
      'generation_config.json': { max_new_tokens: 7 },
      'tokenizer.json': { model: { type: 'BPE' } },
      'tokenizer_config.json': { chat_template: '{{ x }}' },
      'chat_template.jinja': '{{ messages }}',
      'special_tokens_map.json': { eos_token: '</s>' },
    };
    const loaded = await load(memorySource(files));
    tf.dispose(loaded.params as unknown as tf.TensorContainer);
    expect(loaded.generationConfig).toEqual({ maxNewTokens: 7 });
    expect(loaded.tokenizer).toEqual({
      tokenizerJson: { model: { type: 'BPE' } },
      tokenizerConfig: { chat_template: '{{ x }}' },
      chatTemplate: '{{ messages }}',
      specialTokensMap: { eos_token: '</s>' },
    });
  });

  it('fetches files below a base URL with the global fetch', async () => {
    const inner = memorySource(folder());
    const seen: string[] = [];
    vi.stubGlobal('fetch', (url: string, init?: Parameters<typeof inner>[1]) => {
      seen.push(url);
      return inner(url.replace('https://hub.example/m/', ''), init);
    });
    const loaded = await load('https://hub.example/m');
    tf.dispose(loaded.params as unknown as tf.TensorContainer);
    expect(seen[0]).toBe('https://hub.example/m/config.json');
  });

  describe('bad folders and options: typed errors naming the file and field, nothing left behind', () => {
    it('an unknown model_type', async () => {
      const e = await failure(memorySource({ ...folder(), 'config.json': { model_type: 'x' } }));
      expect(e.argument).toBe('config.json: model_type');
    });

    it('a bad config value', async () => {
      const e = await failure(
        memorySource({ ...folder(), 'config.json': { ...configJson, hidden_size: 0 } }),
      );
      expect(e.argument).toBe('config.json: hidden_size');
    });

    it('a config that does not fit the weights', async () => {
      const e = await failure(
        memorySource({ ...folder(), 'config.json': { ...configJson, hidden_size: 4 } }),
      );
      expect(e.argument).toBe('model.safetensors: tensor "embed.weight".shape');
    });

    it('malformed or missing JSON files', async () => {
      const e = await failure(memorySource({ ...folder(), 'config.json': '{"model_type": "toy"' }));
      expect(e.argument).toBe('config.json');
      expect(e.expected).toBe('valid JSON');
      const e2 = await failure(memorySource({ ...folder(), 'tokenizer.json': '{' }));
      expect(e2.argument).toBe('tokenizer.json');
      const e3 = await failure(memorySource({ ...folder(), 'generation_config.json': '[' }));
      expect(e3.argument).toBe('generation_config.json');
      const e4 = await failure(memorySource({ ...folder(), 'config.json': [1] }));
      expect(e4.argument).toBe('config.json');
      const files = folder();
      delete files['config.json'];
      const e5 = await failure(memorySource(files));
      expect(e5.argument).toBe('config.json');
      expect(e5.actual).toMatch(/404/);
    });

    it('a bad generation_config.json value', async () => {
      const e = await failure(
        memorySource({ ...folder(), 'generation_config.json': { max_new_tokens: -1 } }),
      );
      expect(e.argument).toBe('generation_config.json: max_new_tokens');
    });

    it('bad options and sources', async () => {
      const source = memorySource(folder());
      expect((await failure(source, { dtype: 'float16' as 'float32' })).argument).toBe(
        'options.dtype',
      );
      expect((await failure(source, { onProgress: 3 as never })).argument).toBe(
        'options.onProgress',
      );
      expect((await failure(source, { signal: {} as AbortSignal })).argument).toBe(
        'options.signal',
      );
      expect((await failure(source, { tokenizer: true } as never)).argument).toMatch(/tokenizer/);
      expect((await failure(3 as never)).argument).toBe('source');
      expect((await failure('')).argument).toBe('source');
    });

    it('an aborted signal rejects with its reason before reading', async () => {
      const source = memorySource(folder());
      const controller = new AbortController();
      controller.abort(new Error('cancelled'));
      await expect(load(source, { signal: controller.signal })).rejects.toThrow('cancelled');
      expect(source.requests).toEqual([]);
    });
  });
});
