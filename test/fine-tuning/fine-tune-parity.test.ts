// fineTune against PyTorch + PEFT (test/reference/fine_tune_loop.py): three
// AdamW steps of LoRA on the tiny GPT-2 of test/fixtures/lora/gpt2, two
// micro-batches of two examples per step, masked labels. Same examples in
// the same order, same initial A and B: the losses and the trained adapter
// agree within 1e-4 relative.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { SequenceExample } from '../../src/fine-tuning/examples';
import { examplesAt, fineTune } from '../../src/fine-tuning/fine-tune';
import { initLora, type LoraAdapter, loraTensors } from '../../src/fine-tuning/lora';
import { folderSource } from '../../src/node/pretrained-node';
import { adamw } from '../../src/optim/optimizers/adam';
import { loadPretrained } from '../../src/pretrained/load';
import { unflattenParams } from '../../src/tree/flatten';
import { treeLeaves } from '../../src/tree/leaves';

type Trajectory = {
  config: { r: number; lora_alpha: number; target_modules: string[] };
  steps: number;
  batch_size: number;
  accumulate: number;
  learning_rate: number;
  weight_decay: number;
  examples: SequenceExample[];
  initial: Record<string, { shape: number[]; values: number[] }>;
  losses: number[];
  final: Record<string, number[]>;
};

const fixture = (path: string) => new URL(`../fixtures/${path}`, import.meta.url).pathname;

/** PEFT's lora_A [r, in] / lora_B [out, r] of a module as our a [in, r] / b parts [r, out_i]. */
function toOurs(adapter: LoraAdapter, peft: (key: string) => tf.Tensor): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, m] of Object.entries(adapter.modules)) {
    out[`modules.${name}.a`] = tf.transpose(peft(`base_model.model.${name}.lora_A.default.weight`));
    const parts = tf.split(
      tf.transpose(peft(`base_model.model.${name}.lora_B.default.weight`)),
      m.b.length,
      1,
    );
    parts.forEach((p, j) => {
      out[`modules.${name}.b.${j}`] = p;
    });
  }
  return out;
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

describe('fineTune parity with PyTorch + PEFT', () => {
  it('gives the losses and the trained LoRA tensors of AdamW with gradient accumulation within 1e-4', async () => {
    const t = JSON.parse(
      readFileSync(fixture('fine-tuning/lora-trajectory.json'), 'utf8'),
    ) as Trajectory;
    const model = await loadPretrained(folderSource(fixture('lora/gpt2/')));
    if (model.kind !== 'decoder-lm') throw new Error('a decoder fixture');
    const fresh = initLora(
      model,
      { r: t.config.r, alpha: t.config.lora_alpha, targetModules: t.config.target_modules },
      0,
    );
    const initial = tf.tidy(() =>
      toOurs(fresh, (key) => {
        const { shape, values } = t.initial[key]!;
        return tf.tensor(values, shape);
      }),
    );
    expect(Object.keys(initial).sort()).toEqual(Object.keys(loraTensors(fresh)).sort());
    const adapter = unflattenParams(fresh, initial);
    tf.dispose(treeLeaves(fresh));

    // Lay the examples out so that fineTune's seeded stream draws them in PyTorch's order.
    const n = t.examples.length;
    const order = examplesAt(
      Array.from({ length: n }, (_, i) => i),
      0,
      0,
      n,
    );
    const train: SequenceExample[] = new Array(n);
    order.forEach((slot, p) => {
      train[slot] = t.examples[p]!;
    });

    const result = await fineTune({
      model,
      adapter,
      data: { train },
      optimizer: adamw({
        learningRate: t.learning_rate,
        weightDecay: t.weight_decay,
        b1: 0.9,
        b2: 0.999,
        epsilon: 1e-8,
      }),
      steps: t.steps,
      batchSize: t.batch_size,
      accumulate: t.accumulate,
    });
    const losses = result.history.map((h) => h.loss);
    expect(maxRel(losses, t.losses)).toBeLessThan(1e-4);
    const expected = tf.tidy(() =>
      toOurs(fresh, (key) => tf.tensor(t.final[key]!, t.initial[key]!.shape)),
    );
    const trained = loraTensors(result.trained);
    const worst = Math.max(
      ...Object.keys(expected).map((name) =>
        maxRel(trained[name]!.dataSync(), expected[name]!.dataSync()),
      ),
    );
    expect(worst).toBeLessThan(1e-4);
    tf.dispose([
      ...Object.values(expected),
      ...Object.values(trained),
      ...Object.values(initial),
      ...treeLeaves(model.params),
    ]);
  });
});
