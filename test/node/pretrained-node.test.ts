import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  flattenParams,
  gpt2Config,
  initDecoderLm,
  loadPretrained,
  type PretrainedModel,
} from '../../src/index';
import { folderSource, savePretrained } from '../../src/node/index';
import { savePretrainedWith } from '../../src/node/pretrained-node';
import { rejectionOf } from '../helpers/rejections';
import { toyFamily } from '../helpers/toy-family';

const config = gpt2Config({ vocabSize: 40, maxLength: 16, dModel: 16, numLayers: 2, numHeads: 4 });
const model = (): PretrainedModel => ({
  kind: 'decoder-lm',
  modelType: 'gpt2',
  config,
  params: initDecoderLm(config, 3),
});
const freeParams = (m: { params: unknown }) => tf.dispose(Object.values(flattenParams(m.params)));

async function expectEqualParams(a: unknown, b: unknown) {
  const fa = flattenParams(a);
  const fb = flattenParams(b);
  expect(Object.keys(fb).sort()).toEqual(Object.keys(fa).sort());
  for (const [k, t] of Object.entries(fa)) expect(await fb[k]!.data()).toEqual(await t.data());
}

describe('savePretrained / folderSource', () => {
  const base = mkdtempSync(join(tmpdir(), 'tfjs-blocks-pretrained-'));

  it('round trip: save, then load from the folder, gives equal params; sharded too', async () => {
    const m = model();
    for (const [name, maxShardSize] of [
      ['one', undefined],
      ['sharded', 5000],
    ] as const) {
      const dir = join(base, name);
      const before = tf.memory().numTensors;
      await savePretrained(dir, m, undefined, maxShardSize ? { maxShardSize } : {});
      expect(tf.memory().numTensors).toBe(before);
      const files = readdirSync(dir).sort();
      if (maxShardSize) {
        expect(files).toContain('model.safetensors.index.json');
        expect(
          files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length,
        ).toBeGreaterThan(1);
      } else {
        expect(files).toEqual(['config.json', 'model.safetensors']);
      }
      const loaded = await loadPretrained(folderSource(dir));
      await expectEqualParams(m.params, loaded.params);
      freeParams(loaded);
    }
    // No temp folder is left beside the folders.
    expect(readdirSync(base).sort()).toEqual(['one', 'sharded']);
    freeParams(m);
  });

  it('replaces a model folder whole; refuses a folder with other files, untouched', async () => {
    const m = model();
    const dir = join(base, 'replace');
    await savePretrained(dir, m, undefined, { maxShardSize: 5000 });
    await savePretrained(dir, m);
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    const other = join(base, 'other');
    await mkdir(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    const e = await rejectionOf(savePretrained(other, m));
    expect(e.argument).toBe('dir');
    expect(readdirSync(other)).toEqual(['notes.txt']);
    freeParams(m);
  });

  it('a failure mid-write leaves no folder and no temp folder', async () => {
    let calls = 0;
    const failing = {
      ...toyFamily,
      tensors: (c: never) =>
        toyFamily.tensors(c).map((rule) => ({
          ...rule,
          save: (ts: tf.Tensor[]) => {
            // Checks pass; the write of the second weight file fails.
            if (++calls > 4) throw new Error('disk full');
            return rule.save(ts);
          },
        })),
    };
    const toyConfig = { rows: 3, cols: 2, layers: 1 };
    const params = {
      tokenEmbedding: { table: tf.zeros([3, 2]) },
      blocks: [{ proj: { kernel: tf.zeros([3, 2]) }, a: tf.zeros([2]), b: tf.zeros([2]) }],
    };
    const dir = join(base, 'crash');
    const before = tf.memory().numTensors;
    await expect(
      savePretrainedWith(
        'savePretrained',
        dir,
        {
          kind: 'decoder-lm',
          modelType: 'toy',
          config: toyConfig as never,
          params: params as never,
        },
        undefined,
        { maxShardSize: 8 },
        { familyFor: () => failing as never, toGenerationConfigJson: () => ({}) },
      ),
    ).rejects.toThrow('disk full');
    expect(tf.memory().numTensors).toBe(before);
    expect(readdirSync(base).filter((n) => n.startsWith('crash'))).toEqual([]);
    tf.dispose(Object.values(flattenParams(params)));
  });

  it('bad input fails before the disk is touched', async () => {
    const m = model();
    const dir = join(base, 'never');
    const e = await rejectionOf(savePretrained(dir, { ...m, modelType: 'nope' }));
    expect(e.argument).toBe('config.json: model_type');
    expect((await rejectionOf(savePretrained('', m))).argument).toBe('dir');
    expect(readdirSync(base)).not.toContain('never');
    freeParams(m);
  });

  it('folderSource: a missing file is absent (404), names outside the folder are refused', async () => {
    const dir = join(base, 'src');
    await mkdir(dir);
    writeFileSync(join(dir, 'config.json'), '{"model_type": "gpt2"}');
    const source = folderSource(dir);
    expect((await source('missing.json')).status).toBe(404);
    const ranged = await source('config.json', { headers: { Range: 'bytes=0-4' } });
    expect(ranged.status).toBe(206);
    expect(new TextDecoder().decode(await ranged.arrayBuffer())).toBe('{"mod');
    expect(ranged.headers?.get('Content-Range')).toBe('bytes 0-4/22');
    const whole = await source('config.json');
    expect(new TextDecoder().decode(await whole.arrayBuffer())).toBe(
      readFileSync(join(dir, 'config.json'), 'utf8'),
    );
    expect((await rejectionOf(source('../src/config.json'))).argument).toBe('file');
    expect(() => folderSource('')).toThrow(/dir/);
    const e = await rejectionOf(loadPretrained(folderSource(dir)));
    expect(e.argument).toBe('model.safetensors');
  });
});
