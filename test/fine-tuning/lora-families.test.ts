// LoRA on every pretrained family: Hugging Face module names (what PEFT's
// target_modules lists name), an adapter on all linears that changes the
// output, merged = unmerged, and the fused modules of GPT-2 and Phi-3.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  initLora,
  type LoraAdapter,
  loraTensors,
  mergeLora,
  withLora,
} from '../../src/fine-tuning/lora';
import { loraModuleNames, matchLoraTargets } from '../../src/fine-tuning/lora-modules';
import { decoderLm } from '../../src/models/decoder-lm';
import { encoderClassifier } from '../../src/models/encoder-classifier';
import { folderSource } from '../../src/node/pretrained-node';
import { loadPretrained } from '../../src/pretrained/load';
import { unflattenParams } from '../../src/tree/flatten';
import { treeLeaves } from '../../src/tree/leaves';

const fixture = (name: string) =>
  folderSource(new URL(`../fixtures/pretrained/${name}/`, import.meta.url).pathname);

const LLAMA_LAYER = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
];
/** Layer 0's linear module names (after `prefix`), what PEFT users write in target_modules. */
const LAYER0: Record<string, [prefix: string, names: string[]]> = {
  gpt2: ['transformer.h.0.', ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']],
  llama: ['model.layers.0.', LLAMA_LAYER],
  mistral: ['model.layers.0.', LLAMA_LAYER],
  qwen2: ['model.layers.0.', LLAMA_LAYER],
  gemma: ['model.layers.0.', LLAMA_LAYER],
  phi3: [
    'model.layers.0.',
    ['self_attn.qkv_proj', 'self_attn.o_proj', 'mlp.gate_up_proj', 'mlp.down_proj'],
  ],
  bert: [
    'bert.encoder.layer.0.',
    [
      'attention.self.query',
      'attention.self.key',
      'attention.self.value',
      'attention.output.dense',
      'intermediate.dense',
      'output.dense',
    ],
  ],
};

/** `adapter` with every tensor moved off its initial value (b non-zero); the old tensors are disposed. */
function randomized(adapter: LoraAdapter): LoraAdapter {
  const values = tf.tidy(() =>
    Object.fromEntries(
      Object.entries(loraTensors(adapter)).map(([k, t], i) => [
        k,
        tf.add(t, tf.randomNormal(t.shape, 0, 0.2, 'float32', i)),
      ]),
    ),
  );
  const out = unflattenParams(adapter, values);
  tf.dispose(treeLeaves(adapter));
  return out;
}

function maxRel(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(
    () => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / tf.max(tf.abs(b)).dataSync()[0]!,
  );
}

describe.each(Object.keys(LAYER0))('LoRA on the %s family', (family) => {
  it('names modules as Hugging Face does; all-linear changes the output; merged = unmerged', async () => {
    const model = await loadPretrained(fixture(family));
    const [prefix, layer0] = LAYER0[family]!;
    const names = loraModuleNames(model);
    expect(names.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length))).toEqual(
      layer0,
    );
    const modulesToSave = model.kind === 'encoder-classifier' ? ['classifier'] : [];
    const adapter = randomized(
      initLora(model, { r: 2, alpha: 4, targetModules: 'all-linear', modulesToSave }, 0),
    );
    // all-linear leaves out the output layer (lm_head, the classifier).
    expect(Object.keys(adapter.modules)).not.toContain('lm_head');
    expect(Object.keys(adapter.modules)).not.toContain('classifier');
    const ids = tf.tensor2d([[1, 5, 3, 2, 7]], undefined, 'int32');
    const merged = mergeLora<object>(model.params, adapter);
    const run = (params: unknown) =>
      model.kind === 'decoder-lm'
        ? decoderLm(model.config, params as typeof model.params, ids)
        : encoderClassifier(model.config, params as typeof model.params, ids);
    const base = run(model.params);
    const adapted = run(withLora(model.params, adapter));
    const viaMerge = run(merged.params);
    expect(maxRel(adapted, base)).toBeGreaterThan(1e-3);
    expect(maxRel(viaMerge, adapted)).toBeLessThan(1e-5);
    const shared = new Set([...treeLeaves(model.params), ...treeLeaves(adapter)]);
    tf.dispose(treeLeaves(merged.params).filter((t) => !shared.has(t)));
    tf.dispose([ids, base, adapted, viaMerge, ...treeLeaves(adapter), ...treeLeaves(model.params)]);
  });
});

describe('fused modules', () => {
  it("Phi-3's qkv_proj and gate_up_proj get one a and a b per part", async () => {
    const model = await loadPretrained(fixture('phi3'));
    if (model.kind !== 'decoder-lm') throw new Error('a decoder');
    const adapter = initLora(model, { r: 2, targetModules: ['qkv_proj', 'gate_up_proj'] }, 0);
    const qkv = adapter.modules['model.layers.0.self_attn.qkv_proj']!;
    expect(qkv.paths).toEqual([
      'blocks.0.attention.query',
      'blocks.0.attention.key',
      'blocks.0.attention.value',
    ]);
    const { dModel } = model.config.block;
    expect(qkv.a.shape).toEqual([dModel, 2]);
    const q = model.params.blocks[0]!.attention;
    expect(qkv.b.map((b) => b.shape[1])).toEqual([
      q.query.kernel.shape[1],
      q.key.kernel.shape[1],
      q.value.kernel.shape[1],
    ]);
    expect(adapter.modules['model.layers.0.mlp.gate_up_proj']!.paths).toEqual([
      'blocks.0.feedForward.gate',
      'blocks.0.feedForward.up',
    ]);
    // One PEFT module: a regex over our q/k/v paths does not apply to Hugging Face names.
    expect(() => matchLoraTargets(model, { targetModules: ['query'] })).toThrow(/matches nothing/);
    tf.dispose([...treeLeaves(adapter), ...treeLeaves(model.params)]);
  });
});
