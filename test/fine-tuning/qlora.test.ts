import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { adapterFiles, loadAdapter } from '../../src/fine-tuning/peft-adapter';
import {
  type DecoderLmConfig,
  type DecoderLmOptions,
  type DecoderLmParams,
  decoderLm,
  dequantizeParams,
  gpt2Config,
  initDecoderLm,
  initLora,
  type LoraAdapter,
  type LoraConfig,
  llamaConfig,
  loraModuleNames,
  loraTensors,
  matchLoraTargets,
  mergeLora,
  quantizeParams,
  unmergeLora,
  type WithQuantizedKernels,
  withLora,
} from '../../src/index';
import { isQuantizedTensor } from '../../src/nn/quantized-weights';
import { flattenParams, unflattenParams } from '../../src/tree/flatten';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { memorySource } from '../helpers/pretrained-source';
import { thrownWithoutLeak } from '../helpers/rejections';

const gpt2 = gpt2Config({ vocabSize: 64, maxLength: 32, dModel: 64, numLayers: 2, numHeads: 4 });
const llama = llamaConfig({
  vocabSize: 64,
  maxLength: 32,
  dModel: 64,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  hidden: 96,
});

type Family = {
  name: string;
  modelType: string;
  config: DecoderLmConfig;
  lora: LoraConfig;
  /** Our param paths of the linears the config targets in block 0. */
  targets: string[];
};

const FAMILIES: Family[] = [
  {
    name: 'gpt2 (fused c_attn, fan_in_fan_out)',
    modelType: 'gpt2',
    config: gpt2,
    lora: { r: 4, alpha: 8, targetModules: ['c_attn', 'c_fc'] },
    targets: ['blocks.0.attention.query', 'blocks.0.attention.key', 'blocks.0.attention.value'],
  },
  {
    name: 'llama (q/k/v/o, gate/up/down)',
    modelType: 'llama',
    config: llama,
    lora: { r: 4, alpha: 8, targetModules: 'all-linear' },
    targets: ['blocks.0.attention.query', 'blocks.0.attention.output'],
  },
];

/** max |a - b| / max |b|. */
function relativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(
    () => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / tf.max(tf.abs(b)).dataSync()[0]!,
  );
}

/** The tensors of `tree` not in `shared` (what a dequantization made), disposed. */
function disposeOwn(tree: unknown, shared: unknown): void {
  const keep = new Set(Object.values(flattenParams(shared as object)));
  tf.dispose(Object.values(flattenParams(tree as object)).filter((t) => !keep.has(t)));
}

/** The adapter with every `b` random (a trained adapter: `initLora`'s zeros would hide the update). */
function trainedLike(adapter: LoraAdapter, seed: number): LoraAdapter {
  const flat = loraTensors(adapter);
  const values = tf.tidy(() =>
    Object.fromEntries(
      Object.entries(flat).map(([name, t], i) => [
        name,
        name.includes('.b.') ? tf.randomNormal(t.shape, 0, 0.2, 'float32', seed + i) : tf.clone(t),
      ]),
    ),
  );
  return unflattenParams(adapter, values);
}

function disposeAdapter(adapter: LoraAdapter): void {
  tf.dispose(Object.values(loraTensors(adapter)));
}

/** A small quantized base, its dequantized float twin (what the quantized model computes), and a trained-like adapter. */
function setup(family: Family, bits: 4 | 8) {
  const params = initDecoderLm(family.config, 0);
  const { params: q } = quantizeParams(params, { bits, kernelsOnly: true });
  const restored = dequantizeParams(q) as DecoderLmParams;
  const model = { kind: 'decoder-lm' as const, modelType: family.modelType, config: family.config };
  const fresh = initLora({ ...model, params: q }, family.lora, 7);
  const adapter = trainedLike(fresh, 11);
  disposeAdapter(fresh);
  const ids = tf.tensor2d(
    [
      [1, 5, 9, 13, 17, 21],
      [2, 4, 8, 16, 32, 63],
    ],
    undefined,
    'int32',
  );
  const dispose = () => {
    disposeOwn(restored, q);
    disposeAdapter(adapter);
    tf.dispose([ids, params as unknown as tf.TensorContainer]);
  };
  return { params, q, restored, model, adapter, ids, dispose };
}

function lossOf(
  config: DecoderLmConfig,
  base: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>,
  adapter: LoraAdapter,
  ids: tf.Tensor2D,
  options: DecoderLmOptions = {},
) {
  const names = Object.keys(loraTensors(adapter));
  return (...xs: tf.Tensor[]) => {
    const trained = unflattenParams(adapter, Object.fromEntries(names.map((n, i) => [n, xs[i]!])));
    const logits = decoderLm(config, withLora(base, trained), ids, options) as tf.Tensor;
    return tf.mean(tf.square(logits));
  };
}

describe('LoRA on a quantized base (QLoRA)', () => {
  for (const family of FAMILIES) {
    for (const bits of [8, 4] as const) {
      it(`${family.name}, int${bits}: the module table, logits and adapter gradients equal LoRA on the dequantized base`, () => {
        const s = setup(family, bits);
        const floatModel = { ...s.model, params: s.params };
        const quantModel = { ...s.model, params: s.q };
        // The quantized base has the float base's modules and targets.
        expect(loraModuleNames(quantModel)).toEqual(loraModuleNames(floatModel));
        expect(matchLoraTargets(quantModel, family.lora)).toEqual(
          matchLoraTargets(floatModel, family.lora),
        );
        const paths = Object.values(s.adapter.modules).flatMap((m) => m.paths);
        for (const target of family.targets) expect(paths).toContain(target);

        const adapted = withLora(s.q, s.adapter);
        // The frozen kernels stay quantized (the same objects), the lora fields are the adapter's.
        const query = adapted.blocks[0]!.attention.query;
        expect(query.kernel).toBe(s.q.blocks[0]!.attention.query.kernel);
        expect(isQuantizedTensor(query.kernel)).toBe(true);
        expect(query.lora).toBeDefined();
        const logits = decoderLm(family.config, adapted, s.ids);
        const reference = decoderLm(family.config, withLora(s.restored, s.adapter), s.ids);
        expect(relativeError(logits, reference)).toBeLessThan(1e-4);

        // Gradients: only the adapter's tensors are differentiated, and they equal the float twin's.
        const xs = Object.values(loraTensors(s.adapter));
        const grads = tf.grads(lossOf(family.config, s.q, s.adapter, s.ids))(xs);
        const expected = tf.grads(lossOf(family.config, s.restored, s.adapter, s.ids))(xs);
        expect(grads).toHaveLength(xs.length);
        grads.forEach((g, i) => {
          expect(g.shape).toEqual(xs[i]!.shape);
          expect(relativeError(g, expected[i]!)).toBeLessThan(1e-4);
        });
        expectNoLeak(() => decoderLm(family.config, withLora(s.q, s.adapter), s.ids));
        tf.dispose([logits, reference, ...grads, ...expected]);
        s.dispose();
      });
    }
  }

  it('initLora, withLora and mergeLora on a quantized base leave only their outputs', () => {
    const s = setup(FAMILIES[1]!, 4);
    const model = { ...s.model, params: s.q };
    expectNoLeak(() => flattenParams(initLora(model, FAMILIES[1]!.lora, 3)));
    // withLora makes no tensor: its result shares the base's and the adapter's.
    const before = tf.memory().numTensors;
    withLora(s.q, s.adapter);
    expect(tf.memory().numTensors).toBe(before);
    expectNoLeak(() => {
      const merged = mergeLora(s.q, s.adapter);
      const kernels = Object.values(s.adapter.modules).flatMap((m) =>
        m.paths.map(
          (path) => (flattenParams(merged.params as object)[`${path}.kernel`] as tf.Tensor) ?? null,
        ),
      );
      return kernels.filter((k): k is tf.Tensor => k !== null);
    });
    s.dispose();
  });

  it('mergeLora onto quantized kernels gives float32 merged kernels: the logits of withLora; unmergeLora gives the dequantized base', () => {
    const s = setup(FAMILIES[0]!, 8);
    const merged = mergeLora(s.q, s.adapter);
    const path = 'blocks.0.attention.query';
    const flat = flattenParams(merged.params as object);
    const kernel = flat[`${path}.kernel`]!;
    expect(kernel).toBeInstanceOf(tf.Tensor);
    expect(kernel.dtype).toBe('float32');
    // A linear no adapter targets keeps its quantized kernel.
    expect(isQuantizedTensor(merged.params.blocks[0]!.attention.output.kernel)).toBe(true);
    const logits = decoderLm(gpt2, merged.params, s.ids);
    const unmerged = decoderLm(gpt2, withLora(s.q, s.adapter), s.ids);
    expect(relativeError(logits, unmerged)).toBeLessThan(1e-4);
    const back = unmergeLora(merged, s.adapter);
    const backKernel = flattenParams(back as object)[`${path}.kernel`]!;
    expectClose(backKernel, s.restored.blocks[0]!.attention.query.kernel, {
      rtol: 1e-4,
      atol: 1e-5,
    });
    disposeOwn(back, s.q);
    disposeOwn(merged.params, s.q);
    tf.dispose([logits, unmerged]);
    s.dispose();
  });

  it('modulesToSave on a quantized linear trains its dequantized float32 copy; unmerge restores the quantized original', () => {
    const s = setup(FAMILIES[1]!, 8);
    const model = { ...s.model, params: s.q };
    const adapter = initLora(
      model,
      { r: 2, targetModules: ['q_proj'], modulesToSave: ['lm_head'] },
      1,
    );
    const saved = Object.values(adapter.modulesToSave)[0]!;
    const kernel = saved['lmHead.kernel']!;
    expect(kernel).toBeInstanceOf(tf.Tensor);
    expectClose(kernel, s.restored.lmHead!.kernel, { rtol: 1e-6, atol: 1e-7 });
    const merged = mergeLora(s.q, adapter);
    expect(merged.originals['lmHead.kernel']).toBe(s.q.lmHead!.kernel);
    const back = unmergeLora(merged, adapter);
    expect(back.lmHead!.kernel).toBe(s.q.lmHead!.kernel);
    disposeOwn(back, s.q);
    disposeOwn(merged.params, { q: s.q, adapter: loraTensors(adapter) });
    disposeAdapter(adapter);
    s.dispose();
  });

  it("PEFT files: adapterFiles on the quantized base writes the float base's bytes, loadAdapter reads them onto it", async () => {
    const s = setup(FAMILIES[0]!, 4);
    const before = tf.memory().numTensors;
    const quantModel = { ...s.model, params: s.q };
    const files = adapterFiles(quantModel, s.adapter);
    const floatFiles = adapterFiles({ ...s.model, params: s.params }, s.adapter);
    expect(files.map((f) => Array.from(f.bytes))).toEqual(
      floatFiles.map((f) => Array.from(f.bytes)),
    );
    const loaded = await loadAdapter(
      memorySource({ [files[0]!.name]: files[0]!.bytes, [files[1]!.name]: files[1]!.bytes }),
      quantModel,
    );
    const ours = loraTensors(s.adapter);
    for (const [name, t] of Object.entries(loraTensors(loaded))) {
      expect(Array.from(t.dataSync()), name).toEqual(Array.from(ours[name]!.dataSync()));
    }
    disposeAdapter(loaded);
    expect(tf.memory().numTensors).toBe(before);
    s.dispose();
  });

  it('names a quantized kernel whose arrays do not fit its shape', () => {
    const params = {
      query: { kernel: tf.randomNormal([8, 8], 0, 1, 'float32', 0) as tf.Tensor2D },
    };
    const { params: q } = quantizeParams(params, { bits: 8, kernelsOnly: true });
    const bad = { query: { kernel: { ...q.query.kernel, scales: new Float32Array(3) } } };
    const error = thrownWithoutLeak(() => initLora(bad, { r: 2, targetModules: ['query'] }, 0));
    expect(error.argument).toBe('model.params.query.kernel.scales');
    const ok = initLora(q, { r: 2, targetModules: ['query'] }, 0);
    const fits = thrownWithoutLeak(() => withLora(bad, ok));
    expect(fits.argument).toBe('params.query.kernel.scales');
    disposeAdapter(ok);
    tf.dispose(params.query.kernel);
  });
});

describe('gradient checkpointing with a quantized base and LoRA', () => {
  for (const family of FAMILIES) {
    for (const bits of [8, 4] as const) {
      it(`${family.name}, int${bits}: the adapter's gradients equal the non-checkpointed ones`, () => {
        const s = setup(family, bits);
        const xs = Object.values(loraTensors(s.adapter));
        const trainable = (path: string) => path.includes('.lora.');
        const plain = tf.grads(lossOf(family.config, s.q, s.adapter, s.ids))(xs);
        const checkpointed = tf.grads(
          lossOf(family.config, s.q, s.adapter, s.ids, { gradientCheckpointing: { trainable } }),
        )(xs);
        checkpointed.forEach((g, i) => {
          expect(relativeError(g, plain[i]!)).toBeLessThan(1e-5);
        });
        // `true` also works on a quantized base: its codes are data, not params.
        const all = tf.grads(
          lossOf(family.config, s.q, s.adapter, s.ids, { gradientCheckpointing: true }),
        )(xs);
        all.forEach((g, i) => {
          expect(relativeError(g, plain[i]!)).toBeLessThan(1e-5);
        });
        expectNoLeak(() =>
          tf.grads(
            lossOf(family.config, s.q, s.adapter, s.ids, { gradientCheckpointing: { trainable } }),
          )(xs),
        );
        tf.dispose([...plain, ...checkpointed, ...all]);
        s.dispose();
      });
    }
  }
});
