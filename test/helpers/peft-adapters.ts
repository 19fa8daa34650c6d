/**
 * The adapters test/reference/write_peft_adapters.ts writes with
 * `saveAdapter` and test/reference/check_peft_adapters.py loads with
 * `PeftModel.from_pretrained`; test/fine-tuning/peft-saved.test.ts re-makes
 * each and compares its files with what Python recorded
 * (test/fixtures/peft/ours.json).
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initLora, type LoraAdapter } from '../../src/fine-tuning/lora';
import type { LoraConfig } from '../../src/fine-tuning/lora-config';
import { folderSource } from '../../src/node/pretrained-node';
import { type LoadedPretrained, loadPretrained } from '../../src/pretrained/load';

/** One adapter of ours: its base fixture and LoRA config. */
export type OurAdapterSpec = {
  /** Its folder's name and key in ours.json. */
  name: string;
  /** test/fixtures/peft/base-<family>. */
  family: 'gpt2' | 'llama';
  config: LoraConfig;
};

export const OUR_ADAPTERS: OurAdapterSpec[] = [
  // c_proj matches both attn.c_proj and mlp.c_proj (a list matches suffixes).
  { name: 'gpt2', family: 'gpt2', config: { r: 4, alpha: 8, targetModules: ['c_attn', 'c_proj'] } },
  {
    name: 'llama-rslora',
    family: 'llama',
    config: { r: 4, alpha: 8, useRsLora: true, targetModules: ['q_proj', 'v_proj', 'o_proj'] },
  },
  {
    name: 'llama-regex-save',
    family: 'llama',
    config: {
      r: 2,
      alpha: 6,
      targetModules: '.*\\.layers\\.0\\.(self_attn\\.k_proj|mlp\\.(up|down)_proj)',
      modulesToSave: ['lm_head'],
    },
  },
];

/** The ids the logits are compared on. */
export const OUR_IDS = [
  [5, 1, 40, 33, 2, 9, 11],
  [60, 7, 7, 3, 21, 18, 0],
];

/** The base fixture folder of a family. */
export function baseDir(family: string): string {
  return fileURLToPath(new URL(`../fixtures/peft/base-${family}`, import.meta.url));
}

export function loadBase(family: string): Promise<LoadedPretrained> {
  return loadPretrained(folderSource(baseDir(family)));
}

/**
 * The adapter of `spec` on `base`, as if trained: `initLora`'s, with every
 * `b` (zeros when new) and every saved tensor moved by seeded noise, so the
 * adapter changes the logits.
 */
export function makeOurAdapter(spec: OurAdapterSpec, base: LoadedPretrained): LoraAdapter {
  const fresh = initLora(base, spec.config, 7);
  let seed = 100;
  const modules: LoraAdapter['modules'] = {};
  for (const [name, m] of Object.entries(fresh.modules)) {
    modules[name] = {
      ...m,
      b: m.b.map((b) => {
        const moved = tf.randomNormal(b.shape, 0, 0.2, 'float32', seed++) as tf.Tensor2D;
        b.dispose();
        return moved;
      }),
    };
  }
  const modulesToSave: LoraAdapter['modulesToSave'] = {};
  for (const [name, saved] of Object.entries(fresh.modulesToSave)) {
    modulesToSave[name] = {};
    for (const [path, t] of Object.entries(saved)) {
      modulesToSave[name]![path] = tf.tidy(() =>
        tf.add(t, tf.randomNormal(t.shape, 0, 0.05, 'float32', seed++)),
      );
      t.dispose();
    }
  }
  return { ...fresh, modules, modulesToSave };
}
