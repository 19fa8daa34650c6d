import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoraAdapter } from '../../src/fine-tuning/lora';
import { loraTensors, mergeLora, withLora } from '../../src/fine-tuning/lora';
import { loraModuleTable } from '../../src/fine-tuning/lora-modules';
import { adapterFiles, loadAdapter } from '../../src/fine-tuning/peft-adapter';
import { adapterToPeft } from '../../src/fine-tuning/peft-tensors';
import { parseSafetensors } from '../../src/interop/safetensors';
import { softmaxCrossEntropy } from '../../src/losses/softmax-cross-entropy';
import { decoderLm } from '../../src/models/decoder-lm';
import { folderSource } from '../../src/node/pretrained-node';
import { getParamPath } from '../../src/pretrained/families/rules';
import { type LoadedPretrained, loadPretrained } from '../../src/pretrained/load';
import { memorySource } from '../helpers/pretrained-source';

const FIXTURES = join(__dirname, '..', 'fixtures', 'peft');
const CASES = ['gpt2', 'llama-list', 'llama-regex', 'llama-rslora', 'llama-save'] as const;

type Expected = {
  family: 'gpt2' | 'llama';
  ids: number[][];
  logits: number[][][];
  mergedLogits: number[][][];
  loss: number;
  gradients: Record<string, number[][]>;
  savedKeys: Record<string, number[]>;
};

const expected = (name: string): Expected =>
  JSON.parse(readFileSync(join(FIXTURES, name, 'expected.json'), 'utf8'));

/** max |a − b| / max |b|. */
function relative(a: tf.Tensor, b: number[] | number[][] | number[][][]): number {
  return tf.tidy(() => {
    const ref = tf.tensor(b);
    return tf.max(tf.abs(tf.sub(a, ref))).dataSync()[0]! / tf.max(tf.abs(ref)).dataSync()[0]!;
  });
}

const bases: Record<string, LoadedPretrained> = {};

beforeAll(async () => {
  for (const family of ['gpt2', 'llama']) {
    bases[family] = await loadPretrained(folderSource(join(FIXTURES, `base-${family}`)));
  }
});

afterAll(() => {
  for (const base of Object.values(bases)) tf.dispose(Object.values(base.params));
});

function decoder(base: LoadedPretrained) {
  if (base.kind !== 'decoder-lm') throw new Error('a decoder fixture');
  return base;
}

/** Mean next-token cross-entropy, PEFT's loss in the reference. */
function nextTokenLoss(logits: tf.Tensor, ids: number[][]): tf.Scalar {
  const labels = tf.tensor2d(
    ids.map((row) => [...row.slice(1), -100]),
    undefined,
    'int32',
  );
  return softmaxCrossEntropy(logits, labels) as tf.Scalar;
}

describe('loadAdapter: PEFT → us (logits, gradients, merged logits)', () => {
  for (const name of CASES) {
    it(name, async () => {
      const e = expected(name);
      const base = decoder(bases[e.family]!);
      const before = tf.memory().numTensors;
      const adapter = await loadAdapter(folderSource(join(FIXTURES, name, 'adapter')), base);
      const ids = tf.tensor2d(e.ids, undefined, 'int32');

      const logits = decoderLm(base.config, withLora(base.params, adapter), ids);
      expect(relative(logits, e.logits)).toBeLessThan(1e-4);

      const trainable = loraTensors(adapter);
      const names = Object.keys(trainable).filter((n) => n.startsWith('modules.'));
      const gradsOf = tf.grads((...xs: tf.Tensor[]) => {
        const swapped = rebuild(adapter, names, xs);
        return nextTokenLoss(decoderLm(base.config, withLora(base.params, swapped), ids), e.ids);
      });
      const gs = gradsOf(names.map((n) => trainable[n]!));
      const gradAdapter = rebuild(adapter, names, gs);
      const table = loraModuleTable('test', base);
      const peftGrads = adapterToPeft('test', base, table, { ...gradAdapter, modulesToSave: {} });
      expect(Object.keys(peftGrads).sort()).toEqual(Object.keys(e.gradients).sort());
      for (const [key, g] of Object.entries(peftGrads)) {
        expect([key, relative(g, e.gradients[key]!) < 1e-4]).toEqual([key, true]);
      }

      const merged = mergeLora(base.params, adapter);
      const mergedLogits = decoderLm(base.config, merged.params, ids);
      expect(relative(mergedLogits, e.mergedLogits)).toBeLessThan(1e-4);

      const newKernels = Object.values(adapter.modules).flatMap((m) =>
        m.paths.map(
          (p) => (getParamPath(merged.params, [...p.split('.'), 'kernel']) as tf.Tensor) ?? null,
        ),
      );
      tf.dispose([logits, ids, mergedLogits, ...gs, ...Object.values(peftGrads), ...newKernels]);
      tf.dispose(Object.values(loraTensors(adapter)));
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

/** `adapter` with the tensors at `names` (loraTensors' names) replaced by `xs`. */
function rebuild(adapter: LoraAdapter, names: string[], xs: tf.Tensor[]): LoraAdapter {
  const modules: LoraAdapter['modules'] = {};
  for (const [module, m] of Object.entries(adapter.modules)) {
    const at = (n: string) => xs[names.indexOf(n)] as tf.Tensor2D;
    modules[module] = {
      ...m,
      a: at(`modules.${module}.a`),
      b: m.b.map((_, i) => at(`modules.${module}.b.${i}`)),
    };
  }
  return { ...adapter, modules };
}

describe('adapterFiles: us → PEFT', () => {
  for (const name of CASES) {
    it(`${name}: writes the bytes PEFT's file holds, and loadAdapter reads them back`, async () => {
      const e = expected(name);
      const base = decoder(bases[e.family]!);
      const before = tf.memory().numTensors;
      const adapter = await loadAdapter(folderSource(join(FIXTURES, name, 'adapter')), base);
      const made = tf.memory().numTensors;
      const files = adapterFiles(base, adapter);
      expect(tf.memory().numTensors).toBe(made);
      expect(files.map((f) => f.name)).toEqual([
        'adapter_config.json',
        'adapter_model.safetensors',
      ]);
      const ours = parseSafetensors(files[1]!.bytes);
      const peft = parseSafetensors(
        readFileSync(join(FIXTURES, name, 'adapter', 'adapter_model.safetensors')),
      );
      expect(Object.keys(ours.tensors).sort()).toEqual(Object.keys(peft.tensors).sort());
      for (const key of Object.keys(peft.tensors)) {
        expect(ours.tensors[key]!.shape).toEqual(peft.tensors[key]!.shape);
        expect(Array.from(ours.tensors[key]!.dataSync())).toEqual(
          Array.from(peft.tensors[key]!.dataSync()),
        );
      }
      expect(ours.metadata.format).toBe('pt');
      const again = await loadAdapter(
        memorySource({ [files[0]!.name]: files[0]!.bytes, [files[1]!.name]: files[1]!.bytes }),
        base,
      );
      expect(Object.keys(again.modules)).toEqual(Object.keys(adapter.modules));
      tf.dispose([...Object.values(ours.tensors), ...Object.values(peft.tensors)]);
      tf.dispose(Object.values(loraTensors(adapter)));
      tf.dispose(Object.values(loraTensors(again)));
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
