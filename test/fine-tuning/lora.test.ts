import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  initLora,
  type LoraAdapter,
  loraTensors,
  mergeLora,
  unmergeLora,
  withLora,
} from '../../src/fine-tuning/lora';
import { loraModuleNames, matchLoraTargets } from '../../src/fine-tuning/lora-modules';
import {
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderLm,
  gpt2Config,
  initDecoderLm,
  llamaConfig,
} from '../../src/models/decoder-lm';
import { initLinear, type LinearParams, linear } from '../../src/nn/linear';
import { flattenParams, unflattenParams } from '../../src/tree/flatten';
import { treeLeaves } from '../../src/tree/leaves';
import { thrownWithoutLeak } from '../helpers/rejections';

const gpt2 = gpt2Config({ vocabSize: 20, maxLength: 8, dModel: 8, numLayers: 2, numHeads: 2 });
const llama = llamaConfig({
  vocabSize: 20,
  maxLength: 8,
  dModel: 8,
  numLayers: 2,
  numHeads: 2,
  numKvHeads: 1,
  hidden: 12,
});
const ids = () => tf.tensor2d([[1, 4, 2, 7]], [1, 4], 'int32');

function hf(modelType: string, config: DecoderLmConfig, params: DecoderLmParams) {
  return { kind: 'decoder-lm' as const, modelType, config, params };
}

/**
 * An adapter whose b factors (and saved copies) are random, so that it
 * changes the output; the given adapter's tensors are disposed.
 */
function randomized(adapter: LoraAdapter, seed: number): LoraAdapter {
  const values = tf.tidy(() => {
    const flat = loraTensors(adapter);
    return Object.fromEntries(
      Object.entries(flat).map(([k, t], i) => [
        k,
        tf.add(t, tf.randomNormal(t.shape, 0, 0.3, 'float32', seed + i)),
      ]),
    );
  });
  const out = unflattenParams(adapter, values);
  tf.dispose(treeLeaves(adapter));
  return out;
}

function maxRel(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(
    () => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / tf.max(tf.abs(b)).dataSync()[0]!,
  );
}

describe('loraModuleNames / matchLoraTargets', () => {
  it('gives Hugging Face module names for a pretrained GPT-2, c_attn one fused module', () => {
    const params = initDecoderLm(gpt2, 0);
    const names = loraModuleNames(hf('gpt2', gpt2, params));
    expect(names).toEqual([
      'transformer.h.0.attn.c_attn',
      'transformer.h.0.attn.c_proj',
      'transformer.h.0.mlp.c_fc',
      'transformer.h.0.mlp.c_proj',
      'transformer.h.1.attn.c_attn',
      'transformer.h.1.attn.c_proj',
      'transformer.h.1.mlp.c_fc',
      'transformer.h.1.mlp.c_proj',
    ]);
    const all = loraModuleNames(hf('gpt2', gpt2, params), { kind: 'all' });
    expect(all.slice(0, 3)).toEqual(['transformer', 'transformer.wte', 'transformer.wpe']);
    expect(all).toContain('transformer.ln_f');
    tf.dispose(treeLeaves(params));
  });

  it('matches PEFT lists by suffix and strings by full-match regex', () => {
    const params = initDecoderLm(llama, 0);
    const model = hf('llama', llama, params);
    expect(matchLoraTargets(model, { targetModules: ['q_proj', 'v_proj'] }).targets).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.v_proj',
      'model.layers.1.self_attn.q_proj',
      'model.layers.1.self_attn.v_proj',
    ]);
    // A full match: 'q_proj' alone matches nothing as a regex, '.*q_proj' does.
    expect(() => matchLoraTargets(model, { targetModules: 'q_proj' })).toThrow(/matches nothing/);
    expect(
      matchLoraTargets(model, { targetModules: 'model\\.layers\\.1\\..*(q|o)_proj' }).targets,
    ).toEqual(['model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.o_proj']);
    // A list entry must be a whole dotted segment: 'proj' is no suffix of '.q_proj'.
    const match = matchLoraTargets(model, { targetModules: ['proj', 'up_proj'] });
    expect(match.targets).toEqual(['model.layers.0.mlp.up_proj', 'model.layers.1.mlp.up_proj']);
    expect(match.unmatched).toEqual(['proj']);
    // all-linear leaves out the output layer.
    const allLinear = matchLoraTargets(model, { targetModules: 'all-linear' }).targets;
    expect(allLinear).toHaveLength(14);
    expect(allLinear).not.toContain('lm_head');
    tf.dispose(treeLeaves(params));
  });

  it('uses dotted param paths for a plain params record', () => {
    const params = initDecoderLm(gpt2, 0);
    expect(loraModuleNames(params).slice(0, 4)).toEqual([
      'blocks.0.attention.query',
      'blocks.0.attention.key',
      'blocks.0.attention.value',
      'blocks.0.attention.output',
    ]);
    expect(matchLoraTargets(params, { targetModules: ['query', 'value'] }).targets).toEqual([
      'blocks.0.attention.query',
      'blocks.0.attention.value',
      'blocks.1.attention.query',
      'blocks.1.attention.value',
    ]);
    tf.dispose(treeLeaves(params));
  });

  it('never targets a modules_to_save module and saves by plain suffix', () => {
    const params = {
      encoder: initLinear({ inFeatures: 4, outFeatures: 4 }, 0),
      head: initLinear({ inFeatures: 4, outFeatures: 2 }, 1),
    };
    const match = matchLoraTargets(params, { targetModules: '.*', modulesToSave: ['head'] });
    expect(match.targets).toEqual(['encoder']);
    expect(match.modulesToSave).toEqual(['head']);
    tf.dispose(treeLeaves(params));
  });

  it('names the pattern and the candidates when nothing matches', () => {
    const params = initDecoderLm(llama, 0);
    const e = thrownWithoutLeak(() =>
      initLora(hf('llama', llama, params), { targetModules: ['c_attn'] }, 0),
    );
    expect(e.argument).toBe('config.targetModules');
    expect(e.message).toMatch(/c_attn/);
    expect(e.message).toMatch(/model\.layers\.0\.self_attn\.q_proj/);
    // A regex that reaches a norm (no linear) is refused, as PEFT refuses it.
    const norm = thrownWithoutLeak(() =>
      initLora(hf('llama', llama, params), { targetModules: '.*input_layernorm' }, 0),
    );
    expect(norm.argument).toBe('config.targetModules');
    expect(norm.message).toMatch(/no linear/);
    const saved = thrownWithoutLeak(() =>
      initLora(params, { targetModules: ['query'], modulesToSave: ['classifier'] }, 0),
    );
    expect(saved.argument).toBe('config.modulesToSave');
    tf.dispose(treeLeaves(params));
  });

  it.each([
    [{ r: 0, targetModules: ['query'] }, 'config.r'],
    [{ r: 2.5, targetModules: ['query'] }, 'config.r'],
    [{ alpha: -1, targetModules: ['query'] }, 'config.alpha'],
    [{ dropout: 1, targetModules: ['query'] }, 'config.dropout'],
    [{ useRsLora: 'yes', targetModules: ['query'] }, 'config.useRsLora'],
    [{ targetModules: [] }, 'config.targetModules'],
    [{ targetModules: 7 }, 'config.targetModules'],
    [{ targetModules: '(?P<x>q)' }, 'config.targetModules'],
    [{ targetModules: [''] }, 'config.targetModules[0]'],
    [{ targetModules: ['query'], modulesToSave: 'head' }, 'config.modulesToSave'],
    [{ targetModules: ['query'], useDora: true }, 'config.useDora'],
  ])('rejects config %j naming %s', (config, argument) => {
    const params = { query: initLinear({ inFeatures: 4, outFeatures: 4 }, 0) };
    const e = thrownWithoutLeak(() => initLora(params, config as never, 0));
    expect(e.argument).toBe(argument);
    tf.dispose(treeLeaves(params));
  });

  it('rejects a bad model and bad options', () => {
    expect(thrownWithoutLeak(() => loraModuleNames(7 as never)).argument).toBe('model');
    const params = { query: initLinear({ inFeatures: 4, outFeatures: 4 }, 0) };
    expect(thrownWithoutLeak(() => loraModuleNames(params, { kind: 'x' as never })).argument).toBe(
      'options.kind',
    );
    expect(
      thrownWithoutLeak(() =>
        loraModuleNames({ kind: 'decoder-lm', modelType: 't5', config: gpt2, params } as never),
      ).argument,
    ).toBe('model.modelType');
    tf.dispose(treeLeaves(params));
  });
});

describe('initLora / withLora', () => {
  it('makes a Kaiming-uniform a and a zero b, so the adapted model equals the base', () => {
    const params = initDecoderLm(gpt2, 0);
    const before = tf.memory().numTensors;
    const adapter = initLora(
      hf('gpt2', gpt2, params),
      { r: 3, alpha: 6, targetModules: ['c_attn'] },
      7,
    );
    // One module per layer, a [8, 3] shared by q/k/v, one b per part.
    expect(tf.memory().numTensors - before).toBe(2 * (1 + 3));
    const m = adapter.modules['transformer.h.0.attn.c_attn']!;
    expect(m.paths).toEqual([
      'blocks.0.attention.query',
      'blocks.0.attention.key',
      'blocks.0.attention.value',
    ]);
    expect(m.a.shape).toEqual([8, 3]);
    expect(m.b.map((b) => b.shape)).toEqual([
      [3, 8],
      [3, 8],
      [3, 8],
    ]);
    expect(m.scale).toBe(2);
    const a = m.a.dataSync();
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(8));
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.5 / Math.sqrt(8));
    expect(m.b.every((b) => b.dataSync().every((v) => v === 0))).toBe(true);
    // Same seed, same a; another seed, another a.
    const again = initLora(params, { r: 3, targetModules: ['query'] }, 7);
    expect(again.modules['blocks.0.attention.query']!.a.shape).toEqual([8, 3]);

    const adapted = withLora(params, adapter);
    const base = decoderLm(gpt2, params, ids());
    const out = decoderLm(gpt2, adapted, ids());
    expect(maxRel(out, base)).toBe(0);
    tf.dispose([base, out, ...treeLeaves(adapter), ...treeLeaves(again), ...treeLeaves(params)]);
  });

  it('makes no tensor: the base and the adapter tensors are shared', () => {
    const params = initDecoderLm(llama, 0);
    const adapter = initLora(
      hf('llama', llama, params),
      { targetModules: ['q_proj', 'down_proj'], modulesToSave: ['norm'] },
      0,
    );
    const before = tf.memory().numTensors;
    const adapted = withLora(params, adapter);
    expect(tf.memory().numTensors).toBe(before);
    expect(adapted.blocks[0]!.attention.query.kernel).toBe(
      params.blocks[0]!.attention.query.kernel,
    );
    expect(adapted.blocks[0]!.attention.query.lora?.a).toBe(
      adapter.modules['model.layers.0.self_attn.q_proj']!.a,
    );
    expect(adapted.blocks[0]!.attention.key.lora).toBeUndefined();
    expect(params.blocks[0]!.attention.query.lora).toBeUndefined();
    // modules_to_save 'norm' suffix-matches the final norm (model.norm), and the
    // per-layer norms (input_layernorm ends with 'norm' too, as in PEFT).
    expect(Object.keys(adapter.modulesToSave)).toContain('model.norm');
    expect(adapted.finalNorm.gamma).toBe(adapter.modulesToSave['model.norm']!['finalNorm.gamma']);
    expect(adapted.finalNorm.gamma).not.toBe(params.finalNorm.gamma);
    tf.dispose([...treeLeaves(adapter), ...treeLeaves(params)]);
  });

  it('switches between several adapters on one base', () => {
    const params = initDecoderLm(gpt2, 0);
    const model = hf('gpt2', gpt2, params);
    const a0 = initLora(model, { r: 2, targetModules: ['c_attn'] }, 1);
    const a1 = initLora(model, { r: 4, targetModules: ['c_fc', 'c_proj'] }, 2);
    const first = randomized(a0, 10);
    const second = randomized(a1, 20);
    const base = decoderLm(gpt2, params, ids());
    const y0 = decoderLm(gpt2, withLora(params, first), ids());
    const y1 = decoderLm(gpt2, withLora(params, second), ids());
    const y0again = decoderLm(gpt2, withLora(params, first), ids());
    const baseAgain = decoderLm(gpt2, params, ids());
    expect(maxRel(y0, base)).toBeGreaterThan(1e-3);
    expect(maxRel(y1, base)).toBeGreaterThan(1e-3);
    expect(maxRel(y1, y0)).toBeGreaterThan(1e-3);
    expect(maxRel(y0again, y0)).toBe(0);
    expect(maxRel(baseAgain, base)).toBe(0);
    tf.dispose([base, y0, y1, y0again, baseAgain]);
    tf.dispose([...treeLeaves(first), ...treeLeaves(second), ...treeLeaves(params)]);
  });

  it('computes x·kernel + bias + scale·(x·a)·b on each part of a fused module', () => {
    const params = initDecoderLm(gpt2, 0);
    const adapter = randomized(
      initLora(hf('gpt2', gpt2, params), { r: 2, alpha: 3, targetModules: ['c_attn'] }, 1),
      3,
    );
    const adapted = withLora(params, adapter);
    const m = adapter.modules['transformer.h.1.attn.c_attn']!;
    const x = tf.randomNormal([3, 8], 0, 1, 'float32', 5);
    const config = { inFeatures: 8, outFeatures: 8 };
    const value = adapted.blocks[1]!.attention.value;
    const got = linear(config, value, x);
    const want = tf.tidy(() =>
      tf.add(
        linear(config, params.blocks[1]!.attention.value, x),
        tf.mul(tf.matMul(tf.matMul(x, m.a), m.b[2]!), 1.5),
      ),
    );
    expect(maxRel(got, want)).toBeLessThan(1e-6);
    tf.dispose([x, got, want, ...treeLeaves(adapter), ...treeLeaves(params)]);
  });

  it('rejects an adapter made for another base, and a second adapter on a target', () => {
    const params = initDecoderLm(gpt2, 0);
    const wide = initDecoderLm({ ...gpt2, block: { ...gpt2.block, dModel: 12, numHeads: 2 } }, 0);
    const adapter = initLora(wide, { targetModules: ['query'] }, 0);
    const e = thrownWithoutLeak(() => withLora(params, adapter));
    expect(e.argument).toBe('adapter.modules["blocks.0.attention.query"]');
    expect(e.message).toMatch(/another base/);
    expect(thrownWithoutLeak(() => mergeLora(params, adapter)).argument).toBe(
      'adapter.modules["blocks.0.attention.query"]',
    );
    const own = initLora(params, { targetModules: ['query'] }, 0);
    const twice = thrownWithoutLeak(() => withLora(withLora(params, own), own));
    expect(twice.argument).toBe('params.blocks.0.attention.query.lora');
    const missing = thrownWithoutLeak(() => withLora({ blocks: [] }, own));
    expect(missing.argument).toBe('params.blocks.0.attention.query.kernel');
    expect(thrownWithoutLeak(() => withLora(params, {} as never)).argument).toBe('adapter');
    expect(thrownWithoutLeak(() => withLora(7 as never, own)).argument).toBe('params');
    expect(thrownWithoutLeak(() => withLora(params, own, { seed: 1 } as never)).argument).toBe(
      'options.seed',
    );
    expect(thrownWithoutLeak(() => withLora(params, own, { dropoutSeed: 0.5 })).argument).toBe(
      'options.dropoutSeed',
    );
    const disposedA = {
      ...own,
      modules: { x: { ...own.modules['blocks.0.attention.query']!, a: tf.zeros([8, 8]) } },
    };
    tf.dispose(disposedA.modules.x.a);
    expect(thrownWithoutLeak(() => withLora(params, disposedA as never)).argument).toBe(
      'adapter.modules["x"].a',
    );
    const saved = initLora(params, { targetModules: ['query'], modulesToSave: ['finalNorm'] }, 0);
    const badSaved = {
      ...saved,
      modulesToSave: {
        finalNorm: {
          'finalNorm.gamma': wide.finalNorm.gamma,
          'finalNorm.beta': saved.modulesToSave.finalNorm!['finalNorm.beta']!,
        },
      },
    };
    expect(thrownWithoutLeak(() => withLora(params, badSaved)).argument).toBe(
      'adapter.modulesToSave["finalNorm"]["finalNorm.gamma"]',
    );
    tf.dispose([...treeLeaves(adapter), ...treeLeaves(own), ...treeLeaves(saved)]);
    tf.dispose([...treeLeaves(params), ...treeLeaves(wide)]);
  });

  it('checks lora fields in linear', () => {
    const config = { inFeatures: 4, outFeatures: 3 };
    const params = initLinear(config, 0);
    const x = tf.ones([2, 4]);
    const bad = (lora: unknown) =>
      thrownWithoutLeak(() => linear(config, { ...params, lora } as LinearParams, x)).argument;
    expect(bad(7)).toBe('params.lora');
    expect(bad({ a: tf.ones([3, 2]), b: tf.ones([2, 3]), scale: 1 })).toBe(
      'params.lora.a.shape[0]',
    );
    expect(bad({ a: tf.ones([4, 2]), b: tf.ones([3, 3]), scale: 1 })).toBe(
      'params.lora.b.shape[0]',
    );
    expect(bad({ a: tf.ones([4, 2]), b: tf.ones([2, 4]), scale: 1 })).toBe(
      'params.lora.b.shape[1]',
    );
    expect(bad({ a: tf.ones([4, 2]), b: tf.ones([2, 3]), scale: Number.NaN })).toBe(
      'params.lora.scale',
    );
    expect(
      bad({ a: tf.ones([4, 2]), b: tf.ones([2, 3]), scale: 1, dropout: { rate: 1, seed: 0 } }),
    ).toBe('params.lora.dropout.rate');
    expect(
      bad({ a: tf.ones([4, 2]), b: tf.ones([2, 3]), scale: 1, dropout: { rate: 0.1, seed: 0.5 } }),
    ).toBe('params.lora.dropout.seed');
  });

  it('leaves only its outputs (initLora, withLora, mergeLora, unmergeLora, loraTensors)', () => {
    const params = initDecoderLm(gpt2, 0);
    const before = tf.memory().numTensors;
    const adapter = initLora(
      params,
      { targetModules: ['query', 'up'], modulesToSave: ['finalNorm'] },
      0,
    );
    expect(tf.memory().numTensors - before).toBe(treeLeaves(adapter).length);
    const mid = tf.memory().numTensors;
    withLora(params, adapter, { dropoutSeed: 3 });
    loraTensors(adapter);
    expect(tf.memory().numTensors).toBe(mid);
    const merged = mergeLora(params, adapter);
    // New: one kernel per target linear (2 layers × 2).
    expect(tf.memory().numTensors - mid).toBe(4);
    const unmerged = unmergeLora(merged, adapter);
    expect(tf.memory().numTensors - mid).toBe(8);
    tf.dispose([
      merged.params.blocks[0]!.attention.query.kernel,
      merged.params.blocks[1]!.attention.query.kernel,
      merged.params.blocks[0]!.feedForward.up!.kernel,
      merged.params.blocks[1]!.feedForward.up!.kernel,
      unmerged.blocks[0]!.attention.query.kernel,
      unmerged.blocks[1]!.attention.query.kernel,
      unmerged.blocks[0]!.feedForward.up!.kernel,
      unmerged.blocks[1]!.feedForward.up!.kernel,
    ]);
    expect(tf.memory().numTensors).toBe(mid);
    tf.dispose([...treeLeaves(adapter), ...treeLeaves(params)]);
  });
});

describe('mergeLora / unmergeLora', () => {
  it('merged = unmerged within 1e-5, and unmerge restores the base and the saved originals', () => {
    const params = initDecoderLm(llama, 0);
    const model = hf('llama', llama, params);
    const adapter = randomized(
      initLora(
        model,
        {
          r: 3,
          alpha: 4,
          useRsLora: true,
          targetModules: 'all-linear',
          modulesToSave: ['lm_head'],
        },
        0,
      ),
      1,
    );
    expect(adapter.modules['model.layers.0.self_attn.q_proj']!.scale).toBeCloseTo(
      4 / Math.sqrt(3),
      12,
    );
    const unmergedLogits = decoderLm(llama, withLora(params, adapter), ids());
    const merged = mergeLora(params, adapter);
    const mergedLogits = decoderLm(llama, merged.params, ids());
    expect(maxRel(mergedLogits, unmergedLogits)).toBeLessThan(1e-5);
    expect(merged.params.lmHead!.kernel).toBe(adapter.modulesToSave.lm_head!['lmHead.kernel']);
    expect(merged.originals['lmHead.kernel']).toBe(params.lmHead!.kernel);
    const back = unmergeLora(merged, adapter);
    expect(back.lmHead!.kernel).toBe(params.lmHead!.kernel);
    expect(
      maxRel(back.blocks[1]!.feedForward.down!.kernel, params.blocks[1]!.feedForward.down!.kernel),
    ).toBeLessThan(1e-5);
    const baseLogits = decoderLm(llama, params, ids());
    const backLogits = decoderLm(llama, back, ids());
    expect(maxRel(backLogits, baseLogits)).toBeLessThan(1e-5);
    const fresh = new Set(treeLeaves(params));
    tf.dispose(
      treeLeaves(merged.params).filter((t) => !fresh.has(t) && !treeLeaves(adapter).includes(t)),
    );
    tf.dispose(treeLeaves(back).filter((t) => !fresh.has(t)));
    tf.dispose([unmergedLogits, mergedLogits, baseLogits, backLogits]);
    tf.dispose([...treeLeaves(adapter), ...treeLeaves(params)]);
  });

  it('rejects a merged record without its originals', () => {
    const params = {
      head: initLinear({ inFeatures: 4, outFeatures: 2 }, 0),
      body: initLinear({ inFeatures: 4, outFeatures: 4 }, 1),
    };
    const adapter = initLora(params, { targetModules: ['body'], modulesToSave: ['head'] }, 0);
    const merged = mergeLora(params, adapter);
    const e = thrownWithoutLeak(() =>
      unmergeLora({ params: merged.params, originals: {} }, adapter),
    );
    expect(e.argument).toBe('merged.originals["head.kernel"]');
    expect(thrownWithoutLeak(() => unmergeLora(null as never, adapter)).argument).toBe('merged');
    expect(thrownWithoutLeak(() => mergeLora(null as never, adapter)).argument).toBe('params');
    tf.dispose(merged.params.body.kernel);
    tf.dispose([...treeLeaves(adapter), ...treeLeaves(params)]);
  });
});

describe('training', () => {
  it('only adapter tensors get gradients: no matMul gradient w.r.t. a frozen kernel runs', async () => {
    const params = initDecoderLm(gpt2, 0);
    const adapter = randomized(
      initLora(hf('gpt2', gpt2, params), { r: 2, targetModules: ['c_attn'] }, 0),
      4,
    );
    const trainable = loraTensors(adapter);
    const names = Object.keys(trainable);
    expect(names.slice(0, 2)).toEqual([
      'modules.transformer.h.0.attn.c_attn.a',
      'modules.transformer.h.0.attn.c_attn.b.0',
    ]);
    const loss = (p: DecoderLmParams) => tf.sum(tf.square(decoderLm(gpt2, p, ids())));
    const loraLoss = (...ws: tf.Tensor[]) =>
      loss(
        withLora(
          params,
          unflattenParams(adapter, Object.fromEntries(names.map((n, i) => [n, ws[i]!]))),
        ),
      );
    const flatBase = flattenParams(params);
    const baseNames = Object.keys(flatBase);
    const fullLoss = (...ws: tf.Tensor[]) =>
      loss(unflattenParams(params, Object.fromEntries(baseNames.map((n, i) => [n, ws[i]!]))));
    // Spy on every kernel the backward pass runs: with LoRA, no matMul
    // produces a tensor of a base weight's shape (no weight gradient of a
    // frozen kernel or embedding), while full fine-tuning runs one per weight.
    const weightShapes = new Set(['8,8', '8,32', '32,8', '20,8', '8,20']);
    const profileGrads = async (f: () => tf.Tensor[]) => {
      const info = await tf.profile(() => f());
      const matMuls = info.kernels.filter((k) => /MatMul/.test(k.name));
      tf.dispose(info.result as tf.Tensor[]);
      return {
        matMuls: matMuls.length,
        weightGrads: matMuls.filter((k) =>
          k.outputShapes.some((s) => weightShapes.has(s.join(','))),
        ).length,
      };
    };
    const forward = await profileGrads(() => [loraLoss(...names.map((n) => trainable[n]!))]);
    const lora = await profileGrads(() => tf.grads(loraLoss)(names.map((n) => trainable[n]!)));
    const full = await profileGrads(() => tf.grads(fullLoss)(baseNames.map((n) => flatBase[n]!)));
    expect(forward.weightGrads).toBe(0);
    expect(lora.weightGrads).toBe(0);
    expect(full.weightGrads).toBeGreaterThanOrEqual(2 * 6 + 1); // 6 kernels per layer, the embedding
    const grads = tf.tidy(() => tf.grads(loraLoss)(names.map((n) => trainable[n]!)));
    expect(grads).toHaveLength(names.length);
    expect(grads.every((g) => tf.max(tf.abs(g)).dataSync()[0]! > 0)).toBe(true);
    tf.dispose(grads);
    tf.dispose([...treeLeaves(adapter), ...treeLeaves(params)]);
  });

  it('applies PEFT dropout on the input of a, deterministically from dropoutSeed', () => {
    const params = { query: initLinear({ inFeatures: 64, outFeatures: 4 }, 0) };
    const adapter = randomized(
      initLora(params, { r: 2, dropout: 0.5, targetModules: ['query'] }, 0),
      1,
    );
    const config = { inFeatures: 64, outFeatures: 4 };
    const x = tf.ones([2, 64]);
    const run = (seed?: number) =>
      linear(
        config,
        withLora(params, adapter, seed === undefined ? {} : { dropoutSeed: seed }).query,
        x,
      );
    const plain = run();
    const s1 = run(1);
    const s1again = run(1);
    const s2 = run(2);
    expect(maxRel(s1again, s1)).toBe(0);
    expect(maxRel(s2, s1)).toBeGreaterThan(1e-3);
    expect(maxRel(s1, plain)).toBeGreaterThan(1e-3);
    // Dropout is on the LoRA branch only: the expected value stays, the base product is untouched.
    const noDrop = randomized(initLora(params, { r: 2, targetModules: ['query'] }, 0), 1);
    const zeroRate = linear(config, withLora(params, noDrop, { dropoutSeed: 1 }).query, x);
    expect(maxRel(zeroRate, plain)).toBe(0);
    tf.dispose([x, plain, s1, s1again, s2, zeroRate, ...treeLeaves(noDrop)]);
    tf.dispose([...treeLeaves(adapter), ...treeLeaves(params)]);
  });
});
