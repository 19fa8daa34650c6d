// The bad-input list, through the public loadPretrained on a real
// family's checkpoint (the GPT-2 folder transformers wrote, and the same
// weights sharded by pretrainedFiles): each failure is a TfjsBlocksError whose
// argument names the file and the field or tensor, and leaves no tensor
// behind. test/pretrained/weights.test.ts covers the streaming layer alone.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import {
  type LoadPretrainedOptions,
  loadPretrained,
  parseSafetensors,
  pretrainedFiles,
  serializeSafetensors,
} from '../../src/index';
import type { PretrainedFetch } from '../../src/pretrained/source';
import { type MemorySourceOptions, memorySource } from '../helpers/pretrained-source';
import { rejectionOf } from '../helpers/rejections';
import { FIXTURES } from '../helpers/saved-folders';

type Files = Record<string, Uint8Array | string | object>;
const dir = `${FIXTURES}pretrained/gpt2/`;
const configJson = JSON.parse(readFileSync(`${dir}config.json`, 'utf8'));
const weights = new Uint8Array(readFileSync(`${dir}model.safetensors`));

/** The folder as transformers wrote it. */
const folder = (): Files => ({ 'config.json': configJson, 'model.safetensors': weights });

/** The same model sharded by pretrainedFiles (maxShardSize 40 kB: 3 shards). */
async function shardedFolder(): Promise<Files> {
  const model = await loadPretrained(memorySource(folder(), { chunk: 1 << 16 }));
  const { tokenizer: _, ...rest } = model;
  const files = pretrainedFiles(rest, undefined, { maxShardSize: 40_000 });
  tf.dispose(model.params as unknown as tf.TensorContainer);
  return Object.fromEntries(files.map((f) => [f.name, f.bytes]));
}

/** A safetensors file with its tensors edited. */
function edited(bytes: Uint8Array, edit: (t: Record<string, tf.Tensor>) => void): Uint8Array {
  const { tensors } = parseSafetensors(bytes);
  try {
    edit(tensors);
    return serializeSafetensors(tensors, { format: 'pt' });
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/** The shard that holds `name`, from the index. */
function shardOf(files: Files, name: string): string {
  const index = JSON.parse(
    new TextDecoder().decode(files['model.safetensors.index.json'] as Uint8Array),
  );
  return index.weight_map[name];
}

/** The error loadPretrained rejects with; asserts that no tensor was left behind. */
async function failure(
  source: PretrainedFetch,
  options?: LoadPretrainedOptions,
): Promise<TfjsBlocksError> {
  const before = tf.memory().numTensors;
  const error = await rejectionOf(loadPretrained(source, options));
  expect(error).toBeInstanceOf(TfjsBlocksError);
  expect(error.functionName).toBe('loadPretrained');
  expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
  return error;
}

const serve = (files: Files, options: MemorySourceOptions = {}) =>
  memorySource(files, { chunk: 4096, ...options });

/** The byte where the data of `name` starts in the fixture's model.safetensors. */
function dataOffset(name: string): number {
  const n = Number(new DataView(weights.buffer, weights.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(weights.subarray(8, 8 + n)));
  return 8 + n + header[name].data_offsets[0];
}

describe('loadPretrained: bad folders of a real family are typed errors, nothing left behind', () => {
  it('the folder itself loads (the cases below differ from it in one thing)', async () => {
    const before = tf.memory().numTensors;
    const model = await loadPretrained(serve(folder()));
    expect(model.modelType).toBe('gpt2');
    tf.dispose(model.params as unknown as tf.TensorContainer);
    const sharded = await loadPretrained(serve(await shardedFolder()));
    tf.dispose(sharded.params as unknown as tf.TensorContainer);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an unknown model_type', async () => {
    const e = await failure(
      serve({ ...folder(), 'config.json': { ...configJson, model_type: 'mamba' } }),
    );
    expect(e.argument).toBe('config.json: model_type');
    expect(e.actual).toMatch(/mamba/);
  });

  it('config.json values the family does not implement', async () => {
    for (const [field, value] of [
      ['activation_function', 'quick_gelu'],
      ['scale_attn_by_inverse_layer_idx', true],
      ['add_cross_attention', true],
      ['n_embd', 0],
    ] as const) {
      const e = await failure(
        serve({ ...folder(), 'config.json': { ...configJson, [field]: value } }),
      );
      expect(e.argument, field).toBe(`config.json: ${field}`);
    }
  });

  it('a missing shard', async () => {
    const files = await shardedFolder();
    const shard = shardOf(files, 'transformer.h.1.mlp.c_fc.weight');
    delete files[shard];
    const e = await failure(serve(files));
    expect(e.argument).toBe(shard);
    expect(e.actual).toMatch(/404/);
  });

  it('a shard with a missing tensor', async () => {
    const files = await shardedFolder();
    const name = 'transformer.h.0.ln_1.bias';
    const shard = shardOf(files, name);
    files[shard] = edited(files[shard] as Uint8Array, (t) => {
      tf.dispose(t[name]!);
      delete t[name];
    });
    const e = await failure(serve(files));
    expect(e.argument).toBe(`${shard}: tensor "${name}"`);
    expect(e.actual).toMatch(/missing/);
  });

  it('a shard with a mis-shaped tensor, before any tensor data is read', async () => {
    const files = await shardedFolder();
    const name = 'transformer.wpe.weight';
    const shard = shardOf(files, name);
    files[shard] = edited(files[shard] as Uint8Array, (t) => {
      tf.dispose(t[name]!);
      t[name] = tf.zeros([63, 32]);
    });
    const source = serve(files);
    const e = await failure(source);
    expect(e.argument).toBe(`${shard}: tensor "${name}".shape`);
    expect(source.requests.every((r) => r.range !== undefined || r.file.endsWith('.json'))).toBe(
      true,
    );
  });

  it('extra tensors: unknown ones are refused, known buffers skipped', async () => {
    const withExtra = edited(weights, (t) => {
      t['transformer.h.0.attn.extra'] = tf.zeros([2]);
    });
    const e = await failure(serve({ ...folder(), 'model.safetensors': withExtra }));
    expect(e.argument).toBe('model.safetensors: tensor "transformer.h.0.attn.extra"');
    expect(e.actual).toBe('an unknown tensor');
    const withBuffer = edited(weights, (t) => {
      t['transformer.h.0.attn.bias'] = tf.ones([1, 1, 4, 4]);
    });
    const model = await loadPretrained(serve({ ...folder(), 'model.safetensors': withBuffer }));
    tf.dispose(model.params as unknown as tf.TensorContainer);
  });

  it('a tensor name given twice in a header', async () => {
    const n = Number(new DataView(weights.buffer, weights.byteOffset).getBigUint64(0, true));
    const text = new TextDecoder().decode(weights.subarray(8, 8 + n));
    const name = 'transformer.ln_f.bias';
    const entry = JSON.stringify(JSON.parse(text)[name]);
    // The same entry twice: the offsets still cover the buffer exactly.
    const doubled = new TextEncoder().encode(`${text.trimEnd().slice(0, -1)},"${name}":${entry}}`);
    const bytes = new Uint8Array(8 + doubled.byteLength + weights.byteLength - 8 - n);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(doubled.byteLength), true);
    bytes.set(doubled, 8);
    bytes.set(weights.subarray(8 + n), 8 + doubled.byteLength);
    const e = await failure(serve({ ...folder(), 'model.safetensors': bytes }));
    expect(e.argument).toBe(`model.safetensors: tensor "${name}"`);
    expect(e.actual).toBe('given twice');
  });

  it('a download cut mid-tensor names the tensor; a shard cut names the shard’s tensor', async () => {
    const name = 'transformer.h.1.attn.c_attn.weight';
    const cut = dataOffset(name) + 100;
    const e = await failure(serve(folder(), { truncate: { 'model.safetensors': cut } }));
    expect(e.argument).toBe(`model.safetensors: tensor "${name}"`);
    expect(e.actual).toMatch(/ended after \d+ bytes \(truncated download\)/);
    const files = await shardedFolder();
    const shard = shardOf(files, 'transformer.h.1.mlp.c_fc.weight');
    const size = (files[shard] as Uint8Array).byteLength;
    const e2 = await failure(serve(files, { truncate: { [shard]: size - 1 } }));
    expect(e2.argument).toMatch(new RegExp(`^${shard}: tensor "`));
    expect(e2.actual).toMatch(/truncated download/);
  });

  it('a Content-Length shorter than the header promises', async () => {
    const inner = serve(folder());
    const source: PretrainedFetch = async (file, init) => {
      const response = await inner(file, init);
      if (file !== 'model.safetensors' || init?.headers?.Range !== undefined) return response;
      const headers = new Headers({ 'Content-Length': String(weights.byteLength - 4096) });
      return new Response(response.body, { status: 200, headers });
    };
    const e = await failure(source);
    expect(e.argument).toBe('model.safetensors');
    expect(e.actual).toBe(`Content-Length ${weights.byteLength - 4096} (truncated download)`);
  });

  it('an abort mid-shard rejects with its reason and frees what was made', async () => {
    const files = await shardedFolder();
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    const before = tf.memory().numTensors;
    const seen = new Set<string>();
    const promise = loadPretrained(serve(files), {
      signal: controller.signal,
      onProgress: ({ file, loadedBytes }) => {
        seen.add(file);
        // Abort after the first tensors of the second shard have arrived.
        if (seen.size === 2 && loadedBytes > 0) controller.abort(reason);
      },
    });
    await expect(promise).rejects.toBe(reason);
    expect(seen.size).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
  });
});
