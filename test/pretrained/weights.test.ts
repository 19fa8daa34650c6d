import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import { serializeSafetensors } from '../../src/interop/safetensors';
import { copyRule } from '../../src/pretrained/families/rules';
import { loadWeights, type PretrainedProgress } from '../../src/pretrained/weights';
import { type MemorySourceOptions, memorySource } from '../helpers/pretrained-source';
import { rejectionOf } from '../helpers/rejections';
import { rawSafetensors, type ToyConfig, toyCheckpoint, toyFamily } from '../helpers/toy-family';

const config: ToyConfig = { rows: 3, cols: 2, layers: 2 };

type ToyParams = {
  tokenEmbedding: { table: tf.Tensor };
  blocks: { proj: { kernel: tf.Tensor }; a: tf.Tensor; b: tf.Tensor }[];
};

/** The checkpoint's bytes: one file, or shards split by layer; plus a GPT-2-style buffer. */
function folder(sharded = false, edit?: (t: Record<string, tf.Tensor>) => void) {
  const tensors = toyCheckpoint(config);
  tensors['layers.0.attn.bias'] = tf.ones([1, 1]);
  edit?.(tensors);
  try {
    if (!sharded) return { 'model.safetensors': serializeSafetensors(tensors, { format: 'pt' }) };
    const shardOf = (name: string) => (name.startsWith('layers.1') ? 2 : 1);
    const files: Record<string, Uint8Array | object> = {};
    const weightMap: Record<string, string> = {};
    for (const k of [1, 2]) {
      const file = `model-0000${k}-of-00002.safetensors`;
      const mine = Object.fromEntries(Object.entries(tensors).filter(([n]) => shardOf(n) === k));
      files[file] = serializeSafetensors(mine, { format: 'pt' });
      for (const n of Object.keys(mine)) weightMap[n] = file;
    }
    files['model.safetensors.index.json'] = { metadata: { total_size: 0 }, weight_map: weightMap };
    return files;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

async function load(
  files: Record<string, Uint8Array | string | object>,
  options: MemorySourceOptions = {},
  extra: Parameters<typeof loadWeights>[4] = {},
) {
  return loadWeights<ToyConfig, ToyParams>(
    'loadPretrained',
    memorySource(files, options),
    toyFamily,
    config,
    extra,
  );
}

async function expectLoaded(params: ToyParams) {
  const reference = toyCheckpoint(config);
  expect(await params.tokenEmbedding.table.array()).toEqual(
    await reference['embed.weight']!.array(),
  );
  expect(Array.isArray(params.blocks)).toBe(true);
  expect(params.blocks).toHaveLength(2);
  for (const i of [0, 1]) {
    const kernel = tf.transpose(reference[`layers.${i}.proj.weight`]!);
    expect(await params.blocks[i]!.proj.kernel.array()).toEqual(await kernel.array());
    const [a, b] = tf.split(reference[`layers.${i}.fused.weight`]!, 2);
    expect(await params.blocks[i]!.a.array()).toEqual(await a!.array());
    expect(await params.blocks[i]!.b.array()).toEqual(await b!.array());
    tf.dispose([kernel, a!, b!]);
  }
  tf.dispose(Object.values(reference));
}

/** The error a bad folder rejects with; asserts that nothing was left behind. */
async function failure(
  files: Record<string, Uint8Array | string | object>,
  options: MemorySourceOptions = {},
): Promise<TfjsBlocksError> {
  const before = tf.memory().numTensors;
  const error = await rejectionOf(load(files, options));
  expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
  return error;
}

describe('loadWeights', () => {
  it('streams one file through the rules and adds exactly the params (buffers skipped)', async () => {
    const files = folder();
    const before = tf.memory().numTensors;
    const params = await load(files);
    // 1 table + per layer a kernel and the two halves of the fused tensor.
    expect(tf.memory().numTensors - before).toBe(1 + 2 * 3);
    await expectLoaded(params);
    tf.dispose(params as unknown as tf.TensorContainer);
  });

  it('keeps the decoded tensor for a rule that copies unchanged (no copy, no Identity kernel)', async () => {
    // The same rules, the table's marked `unchanged` with a load that must not run.
    const unchangedFamily: typeof toyFamily = {
      ...toyFamily,
      tensors: (c) =>
        toyFamily.tensors(c).map((rule) =>
          rule.name === 'embed.weight'
            ? {
                ...rule,
                unchanged: true,
                load: () => {
                  throw new Error('load ran for an unchanged rule');
                },
              }
            : rule,
        ),
    };
    const files = folder();
    const before = tf.memory().numTensors;
    let params: ToyParams | undefined;
    const profile = await tf.profile(async () => {
      params = await loadWeights<ToyConfig, ToyParams>(
        'loadPretrained',
        memorySource(files),
        unchangedFamily,
        config,
        {},
      );
    });
    expect(profile.kernels.map((k) => k.name)).not.toContain('Identity');
    expect(tf.memory().numTensors - before).toBe(1 + 2 * 3);
    await expectLoaded(params!);
    tf.dispose(params as unknown as tf.TensorContainer);
  });

  it('copyRule is marked unchanged, so the loader keeps what it decodes', () => {
    const rule = copyRule('x.weight', [2], ['x']);
    expect(rule.unchanged).toBe(true);
    const t = tf.ones([2]);
    const [copy] = rule.load(t);
    expect(copy).not.toBe(t); // fromHuggingFace's callers keep their tensors: load still copies
    tf.dispose([t, copy!]);
  });

  it('works when the source ignores Range and sends no Content-Length, in any chunking', async () => {
    for (const options of [
      { ranges: false },
      { ranges: false, contentLength: false, chunk: 1 },
      { chunk: 4096 },
    ]) {
      const params = await load(folder(), options);
      await expectLoaded(params);
      tf.dispose(params as unknown as tf.TensorContainer);
    }
  });

  it('reads headers with a ranged request first, then each file once', async () => {
    const source = memorySource(folder(true));
    const params = await loadWeights<ToyConfig, ToyParams>('f', source, toyFamily, config, {});
    tf.dispose(params as unknown as tf.TensorContainer);
    expect(source.requests.map((r) => `${r.file}${r.range ? ' ranged' : ''}`)).toEqual([
      'model.safetensors.index.json',
      'model-00001-of-00002.safetensors ranged',
      'model-00002-of-00002.safetensors ranged',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
    ]);
  });

  it('loads a sharded checkpoint', async () => {
    const params = await load(folder(true));
    await expectLoaded(params);
    tf.dispose(params as unknown as tf.TensorContainer);
  });

  it('widens float16 and bfloat16 weights to float32', async () => {
    const c: ToyConfig = { rows: 1, cols: 1, layers: 0 };
    for (const [dtype, bits, value] of [
      ['F16', 0x3c00, 1],
      ['BF16', 0xc040, -3],
    ] as const) {
      const data = new Uint8Array(new Uint16Array([bits]).buffer);
      const files = {
        'model.safetensors': rawSafetensors([{ name: 'embed.weight', dtype, shape: [1, 1], data }]),
      };
      const params = await loadWeights<ToyConfig, ToyParams>(
        'f',
        memorySource(files),
        toyFamily,
        c,
        {},
      );
      expect(params.tokenEmbedding.table.dtype).toBe('float32');
      expect(await params.tokenEmbedding.table.array()).toEqual([[value]]);
      tf.dispose(params as unknown as tf.TensorContainer);
    }
  });

  it('reports progress up to the total', async () => {
    const seen: PretrainedProgress[] = [];
    const params = await load(folder(true), {}, { onProgress: (p) => seen.push(p) });
    tf.dispose(params as unknown as tf.TensorContainer);
    const last = seen[seen.length - 1]!;
    expect(last.loadedBytes).toBe(last.totalBytes);
    expect(seen.every((p, i) => i === 0 || p.loadedBytes >= seen[i - 1]!.loadedBytes)).toBe(true);
    expect(new Set(seen.map((p) => p.file))).toEqual(
      new Set(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']),
    );
  });

  it('rejects with the abort reason and frees what it made', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const before = tf.memory().numTensors;
    const promise = load(
      folder(true),
      {},
      {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.file.includes('00002')) controller.abort(reason);
        },
      },
    );
    await expect(promise).rejects.toBe(reason);
    expect(tf.memory().numTensors).toBe(before);
  });

  describe('bad folders: typed errors naming the file and tensor, nothing left behind', () => {
    it('no weights file', async () => {
      const e = await failure({});
      expect(e.argument).toBe('model.safetensors');
      expect(e.actual).toMatch(/404/);
    });

    it('a missing shard', async () => {
      const files = folder(true);
      delete files['model-00002-of-00002.safetensors'];
      const e = await failure(files);
      expect(e.argument).toBe('model-00002-of-00002.safetensors');
      expect(e.expected).toMatch(/shard named in model.safetensors.index.json/);
    });

    it('a bad shard fails before any tensor data is requested', async () => {
      const files = folder(true, (t) => {
        tf.dispose(t['layers.1.proj.weight']!);
        t['layers.1.proj.weight'] = tf.zeros([5, 5]);
      });
      const source = memorySource(files);
      const e = await rejectionOf(loadWeights('f', source, toyFamily, config, {}));
      expect(e.argument).toBe(
        'model-00002-of-00002.safetensors: tensor "layers.1.proj.weight".shape',
      );
      expect(e.expected).toBe('[2, 3] (from config.json)');
      expect(source.requests.every((r) => r.range !== undefined || r.file.endsWith('.json'))).toBe(
        true,
      );
    });

    it('a tensor missing from the file', async () => {
      const e = await failure(
        folder(false, (t) => {
          tf.dispose(t['layers.1.fused.weight']!);
          delete t['layers.1.fused.weight'];
        }),
      );
      expect(e.argument).toBe('model.safetensors: tensor "layers.1.fused.weight"');
      expect(e.actual).toMatch(/missing/);
    });

    it('a tensor missing from a shard that the index places there', async () => {
      const files = folder(true);
      const index = files['model.safetensors.index.json'] as { weight_map: Record<string, string> };
      index.weight_map['layers.1.fused.weight'] = 'model-00001-of-00002.safetensors';
      const e = await failure(files);
      expect(e.argument).toMatch(
        /^model-0000[12]-of-00002.safetensors: tensor "layers.1.fused.weight"$/,
      );
    });

    it('an extra tensor in a file and in the index', async () => {
      const e = await failure(folder(false, (t) => (t['lm_head.weight'] = tf.zeros([2]))));
      expect(e.argument).toBe('model.safetensors: tensor "lm_head.weight"');
      expect(e.actual).toBe('an unknown tensor');
      const files = folder(true);
      (
        files['model.safetensors.index.json'] as { weight_map: Record<string, string> }
      ).weight_map.extra = 'model-00001-of-00002.safetensors';
      const e2 = await failure(files);
      expect(e2.argument).toBe('model.safetensors.index.json: weight_map["extra"]');
    });

    it('a tensor the index lacks', async () => {
      const files = folder(true);
      delete (files['model.safetensors.index.json'] as { weight_map: Record<string, string> })
        .weight_map['embed.weight'];
      const e = await failure(files);
      expect(e.argument).toBe('model.safetensors.index.json: weight_map["embed.weight"]');
    });

    it('a shard name outside the folder, a bad weight_map, malformed index JSON', async () => {
      const files = folder(true);
      (files['model.safetensors.index.json'] as { weight_map: Record<string, string> }).weight_map[
        'embed.weight'
      ] = '../secret.safetensors';
      expect((await failure(files)).argument).toBe(
        'model.safetensors.index.json: weight_map["embed.weight"]',
      );
      expect((await failure({ 'model.safetensors.index.json': { weight_map: 3 } })).argument).toBe(
        'model.safetensors.index.json: weight_map',
      );
      const e = await failure({ 'model.safetensors.index.json': '{"weight_map": ' });
      expect(e.argument).toBe('model.safetensors.index.json');
      expect(e.expected).toBe('valid JSON');
    });

    it('a non-float weight and a malformed header', async () => {
      const c = { rows: 1, cols: 1, layers: 0 };
      const files = {
        'model.safetensors': rawSafetensors([
          { name: 'embed.weight', dtype: 'I32', shape: [1, 1], data: new Uint8Array(4) },
        ]),
      };
      const before = tf.memory().numTensors;
      const e = await rejectionOf(loadWeights('f', memorySource(files), toyFamily, c, {}));
      expect(e.argument).toBe('model.safetensors: tensor "embed.weight".dtype');
      const bad = rawSafetensors([
        { name: 'embed.weight', dtype: 'F32', shape: [1, 2], data: new Uint8Array(4) },
      ]);
      const e2 = await rejectionOf(
        loadWeights('f', memorySource({ 'model.safetensors': bad }), toyFamily, c, {}),
      );
      expect(e2.argument).toBe('model.safetensors: tensor "embed.weight".data_offsets');
      expect(tf.memory().numTensors).toBe(before);
    });

    it('a truncated download: body shorter than Content-Length, or Content-Length short', async () => {
      const files = folder();
      const size = (files['model.safetensors'] as Uint8Array).byteLength;
      const e = await failure(files, { truncate: { 'model.safetensors': size - 10 } });
      expect(e.argument).toBe('model.safetensors: tensor "layers.1.fused.weight"');
      expect(e.actual).toMatch(/truncated download/);
      // A file cut short on the server: the header promises more than the file holds.
      const cut = (files['model.safetensors'] as Uint8Array).subarray(0, size - 10);
      const e2 = await failure({ 'model.safetensors': cut });
      expect(e2.argument).toMatch(/^model.safetensors: /);
      expect(e2.actual).toMatch(/truncated/);
      const e3 = await failure({ 'model.safetensors': cut }, { ranges: false });
      expect(e3.argument).toMatch(/^model.safetensors/);
      const e4 = await failure(
        { 'model.safetensors': cut },
        { ranges: false, contentLength: false },
      );
      expect(e4.actual).toMatch(/truncated download/);
      const e5 = await failure({ 'model.safetensors': new Uint8Array(5) });
      expect(e5.argument).toBe('model.safetensors: buffer');
    });

    it('HTTP errors name the file and the status', async () => {
      const e = await failure(folder(), { status: { 'model.safetensors': 500 } });
      expect(e.argument).toBe('model.safetensors');
      expect(e.actual).toBe('HTTP status 500');
      const e2 = await failure(folder(true), { status: { 'model.safetensors.index.json': 403 } });
      expect(e2.argument).toBe('model.safetensors.index.json');
    });

    it('is a TfjsBlocksError from the caller', async () => {
      const e = await failure({});
      expect(e).toBeInstanceOf(TfjsBlocksError);
      expect(e.functionName).toBe('loadPretrained');
    });
  });
});
