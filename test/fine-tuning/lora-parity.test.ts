// LoRA forward and adapter gradients against PyTorch + PEFT
// (test/reference/lora_core.py: real GPT2LMHeadModel / LlamaForCausalLM,
// get_peft_model, B set non-zero). The PEFT tensors are mapped onto our
// adapter by hand here: lora_A.weight [r, in] is a transposed, lora_B.weight
// [out, r] is b transposed (split by columns over q/k/v for GPT-2's c_attn).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initLora, type LoraAdapter, loraTensors, withLora } from '../../src/fine-tuning/lora';
import { type DecoderLmParams, decoderLm } from '../../src/models/decoder-lm';
import { folderSource } from '../../src/node/pretrained-node';
import { loadPretrained } from '../../src/pretrained/load';
import { treeLeaves } from '../../src/tree/leaves';

type Expected = {
  config: {
    r: number;
    lora_alpha: number;
    use_rslora: boolean;
    target_modules: string[];
    modules_to_save: string[] | null;
  };
  prompt: number[];
  logits: number[];
  logits_shape: number[];
  loss_weights: number[];
  tensors: Record<string, { shape: number[]; values: number[] }>;
  grads: Record<string, number[]>;
};

const dir = (name: string) => new URL(`../fixtures/lora/${name}/`, import.meta.url).pathname;

/** Our saved-module param paths ↔ the PEFT name of the copy (`…modules_to_save.default.weight`). */
const SAVED: Record<string, Record<string, string>> = {
  'transformer.ln_f': { 'finalNorm.gamma': 'weight', 'finalNorm.beta': 'bias' },
};

/** For each of our adapter tensor names, the PEFT name and how to read it ([r, in] → [in, r], …). */
function peftNames(
  adapter: LoraAdapter,
): Array<{ ours: string[]; peft: string; kind: 'a' | 'b' | 'copy' }> {
  const out: Array<{ ours: string[]; peft: string; kind: 'a' | 'b' | 'copy' }> = [];
  for (const [name, m] of Object.entries(adapter.modules)) {
    out.push({
      ours: [`modules.${name}.a`],
      peft: `base_model.model.${name}.lora_A.default.weight`,
      kind: 'a',
    });
    out.push({
      ours: m.b.map((_, j) => `modules.${name}.b.${j}`),
      peft: `base_model.model.${name}.lora_B.default.weight`,
      kind: 'b',
    });
  }
  for (const [name, tensors] of Object.entries(adapter.modulesToSave)) {
    for (const path of Object.keys(tensors)) {
      out.push({
        ours: [`modulesToSave.${name}.${path}`],
        peft: `base_model.model.${name}.modules_to_save.default.${SAVED[name]![path]}`,
        kind: 'copy',
      });
    }
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

describe.each(['gpt2', 'llama'])('LoRA parity with PEFT: %s', (name) => {
  it('gives PEFT logits and lora_A / lora_B / modules_to_save gradients within 1e-4', async () => {
    const expected = JSON.parse(readFileSync(`${dir(name)}expected.json`, 'utf8')) as Expected;
    const model = await loadPretrained(folderSource(dir(name)));
    if (model.kind !== 'decoder-lm') throw new Error('a decoder fixture');
    const { config, params } = model;
    const c = expected.config;
    const fresh = initLora(
      model,
      {
        r: c.r,
        alpha: c.lora_alpha,
        useRsLora: c.use_rslora,
        targetModules: c.target_modules,
        modulesToSave: c.modules_to_save ?? [],
      },
      0,
    );
    // PEFT's trainable tensors onto our names.
    const mapping = peftNames(fresh);
    expect(mapping.map((m) => m.peft).sort()).toEqual(Object.keys(expected.tensors).sort());
    const values = tf.tidy(() => {
      const byName: Record<string, tf.Tensor> = {};
      for (const { ours, peft, kind } of mapping) {
        const t = expected.tensors[peft]!;
        const torch = tf.tensor(t.values, t.shape);
        if (kind === 'copy') byName[ours[0]!] = torch;
        else if (kind === 'a') byName[ours[0]!] = tf.transpose(torch);
        else {
          const parts = tf.split(tf.transpose(torch), ours.length, 1);
          ours.forEach((n, j) => {
            byName[n] = parts[j]!;
          });
        }
      }
      return byName;
    });
    const names = Object.keys(loraTensors(fresh));
    const adapter: LoraAdapter = {
      ...fresh,
      modules: Object.fromEntries(
        Object.entries(fresh.modules).map(([n, m]) => [
          n,
          {
            ...m,
            a: values[`modules.${n}.a`] as tf.Tensor2D,
            b: m.b.map((_, j) => values[`modules.${n}.b.${j}`] as tf.Tensor2D),
          },
        ]),
      ),
      modulesToSave: Object.fromEntries(
        Object.entries(fresh.modulesToSave).map(([n, ts]) => [
          n,
          Object.fromEntries(Object.keys(ts).map((p) => [p, values[`modulesToSave.${n}.${p}`]!])),
        ]),
      ),
    };
    tf.dispose(treeLeaves(fresh));

    const ids = tf.tensor2d([expected.prompt], undefined, 'int32');
    const logits = decoderLm(config, withLora(params, adapter), ids);
    expect(logits.shape).toEqual(expected.logits_shape);
    const logitsRel = maxRel(logits.dataSync(), expected.logits);
    expect(logitsRel).toBeLessThan(1e-4);

    const weights = tf.tensor(expected.loss_weights, expected.logits_shape);
    const trainable = loraTensors(adapter);
    const loss = (...ws: tf.Tensor[]) => {
      const byName = Object.fromEntries(names.map((n, i) => [n, ws[i]!]));
      const a: LoraAdapter = {
        ...adapter,
        modules: Object.fromEntries(
          Object.entries(adapter.modules).map(([n, m]) => [
            n,
            {
              ...m,
              a: byName[`modules.${n}.a`] as tf.Tensor2D,
              b: m.b.map((_, j) => byName[`modules.${n}.b.${j}`] as tf.Tensor2D),
            },
          ]),
        ),
        modulesToSave: Object.fromEntries(
          Object.entries(adapter.modulesToSave).map(([n, ts]) => [
            n,
            Object.fromEntries(Object.keys(ts).map((p) => [p, byName[`modulesToSave.${n}.${p}`]!])),
          ]),
        ),
      };
      return tf.sum(
        tf.mul(decoderLm(config, withLora(params as DecoderLmParams, a), ids), weights),
      );
    };
    const grads = tf.grads(loss)(names.map((n) => trainable[n]!));
    const gradOf = Object.fromEntries(names.map((n, i) => [n, grads[i]!]));
    let worst = 0;
    for (const { ours, peft, kind } of mapping) {
      const want = expected.grads[peft]!;
      const got = tf.tidy(() => {
        if (kind === 'copy') return gradOf[ours[0]!]!;
        if (kind === 'a') return tf.transpose(gradOf[ours[0]!]!);
        return tf.transpose(
          tf.concat(
            ours.map((n) => gradOf[n]!),
            1,
          ),
        );
      });
      const rel = maxRel(got.dataSync(), want);
      worst = Math.max(worst, rel);
      expect(rel, peft).toBeLessThan(1e-4);
      if (got !== gradOf[ours[0]!]) got.dispose();
    }
    // Recorded in docs/fine-tuning.md.
    expect(Math.max(logitsRel, worst)).toBeLessThan(1e-4);
    tf.dispose([ids, logits, weights, ...grads, ...Object.values(values), ...treeLeaves(params)]);
  });
});
