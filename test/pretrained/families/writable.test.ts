import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { RotaryEmbeddingOptions } from '../../../src/attention/rotary-embedding';
import type {
  BlockFeedForwardConfig,
  TransformerBlockConfig,
} from '../../../src/blocks/transformer-block';
import {
  bertFamily,
  configJsonReader,
  type DecoderLmConfig,
  decoderLm,
  type EncoderClassifierConfig,
  gemmaFamily,
  gpt2Family,
  initDecoderLm,
  llamaFamily,
  mistralFamily,
  type PretrainedFamily,
  phi3Family,
  qwen2Family,
} from '../../../src/index';
import { optionKeys } from '../../../src/internal/checks';
import type { NormConfig } from '../../../src/nn/norm';
import { checkWritable, getParamPath } from '../../../src/pretrained/families/rules';
import { thrownBy, thrownWithoutLeak } from '../../helpers/rejections';

/*
 * Field by field: for every family, each field of our config (every key of
 * DecoderLmConfig / EncoderClassifierConfig, TransformerBlockConfig,
 * BlockFeedForwardConfig, NormConfig, RotaryEmbeddingOptions) is
 * - 'written': toConfigJson carries it, and fromConfigJson reads it back;
 * - 'refused': a value the family's config.json cannot say is a
 *   TfjsBlocksError naming the field (or `argument`);
 * - 'ignored': it does not change what the model computes (training-only
 *   dropout, RoPE options a learned-position model never uses, the RoPE
 *   offset every call sets), so nothing is written and logits are equal.
 * A test below checks that each family's rows cover every key, so a field
 * added to the config types must be placed here.
 */

type Row<C> = {
  /** The field under `config.`, e.g. `'block.norm.kind'`. */
  field: string;
  status: 'written' | 'refused' | 'ignored';
  /** The config with the field changed. */
  change: (config: C) => C;
  /** The error's argument when it is another field's (`norm.unitOffset` of a LayerNorm model). */
  argument?: string;
};

type Block = TransformerBlockConfig;
type Decoder = DecoderLmConfig;
type Encoder = EncoderClassifierConfig;

const withBlock =
  <C extends { block: Block }>(patch: (block: Block) => Partial<Block>) =>
  (c: C): C => ({ ...c, block: { ...c.block, ...patch(c.block) } });
const withFeedForward = <C extends { block: Block }>(patch: Partial<BlockFeedForwardConfig>) =>
  withBlock<C>((b) => ({ feedForward: { ...b.feedForward, ...patch } }));
const withRope = <C extends { block: Block }>(patch: RotaryEmbeddingOptions) =>
  withBlock<C>((b) => ({ rope: { ...(typeof b.rope === 'object' ? b.rope : {}), ...patch } }));

/** Rows every model kind shares: sizes and the feed-forward width. */
function sizeRows<
  C extends { block: Block; vocabSize: number; maxLength: number; numLayers: number },
>(): Row<C>[] {
  return [
    {
      field: 'vocabSize',
      status: 'written',
      change: (c) => ({ ...c, vocabSize: c.vocabSize + 3 }),
    },
    {
      field: 'maxLength',
      status: 'written',
      change: (c) => ({ ...c, maxLength: c.maxLength + 5 }),
    },
    {
      field: 'numLayers',
      status: 'written',
      change: (c) => ({ ...c, numLayers: c.numLayers + 1 }),
    },
    {
      field: 'block.dModel',
      status: 'written',
      change: withBlock((b) => ({ dModel: b.dModel * 2 })),
    },
    {
      field: 'block.numHeads',
      status: 'written',
      change: withBlock((b) => ({ numHeads: b.numHeads * 2 })),
    },
    {
      field: 'block.feedForward.hidden',
      status: 'written',
      change: withBlock((b) => ({
        feedForward: { ...b.feedForward, hidden: b.feedForward.hidden + 8 },
      })),
    },
  ];
}

/** Rows of the Llama-style families (llama, mistral, qwen2, phi3, gemma). */
function llamaLikeRows(layout: {
  attentionBias: 'written' | boolean;
  useBias: 'written' | boolean;
  slidingWindow: boolean;
  gemma?: boolean;
}): Row<Decoder>[] {
  const gemma = layout.gemma === true;
  // Gemma's embedding scale follows the width: a wider Gemma is scaled by its own sqrt(dModel).
  const sizes = sizeRows<Decoder>().map((row) =>
    gemma && row.field === 'block.dModel'
      ? { ...row, change: (c: Decoder) => ({ ...row.change(c), embeddingScale: Math.sqrt(64) }) }
      : row,
  );
  const rows: Row<Decoder>[] = [
    ...sizes,
    { field: 'positions', status: 'refused', change: (c) => ({ ...c, positions: 'learned' }) },
    { field: 'positions', status: 'refused', change: (c) => ({ ...c, positions: 'alibi' }) },
    {
      field: 'tieEmbeddings',
      status: 'written',
      change: (c) => ({ ...c, tieEmbeddings: !c.tieEmbeddings }),
    },
    gemma
      ? {
          field: 'embeddingScale',
          status: 'refused',
          change: (c) => ({ ...c, embeddingScale: undefined }),
        }
      : {
          field: 'embeddingScale',
          status: 'refused',
          change: (c) => ({ ...c, embeddingScale: 2 }),
        },
    {
      field: 'block.numKvHeads',
      status: 'written',
      change: withBlock((b) => ({ numKvHeads: b.numHeads })),
    },
    { field: 'block.headDim', status: 'written', change: withBlock(() => ({ headDim: 16 })) },
    {
      field: 'block.normPosition',
      status: 'refused',
      change: withBlock(() => ({ normPosition: 'post' })),
    },
    {
      field: 'block.normPosition',
      status: 'refused',
      change: withBlock(() => ({ normPosition: 'parallel' })),
    },
    {
      field: 'block.attentionOutputBias',
      status: 'refused',
      change: withBlock((b) => ({
        attentionOutputBias: !(b.attentionOutputBias ?? b.attentionBias ?? true),
      })),
    },
    { field: 'block.rope', status: 'refused', change: withBlock(() => ({ rope: false })) },
    { field: 'block.rope.base', status: 'written', change: withRope({ base: 5e5 }) },
    {
      field: 'block.rope.scaling',
      status: 'written',
      change: withRope({ scaling: { kind: 'linear', factor: 2 } }),
    },
    {
      field: 'block.rope.scaling',
      status: 'written',
      change: withRope({
        scaling: {
          kind: 'llama3',
          factor: 8,
          lowFreqFactor: 1,
          highFreqFactor: 4,
          originalMaxLength: 16,
        },
      }),
    },
    { field: 'block.rope.offset', status: 'ignored', change: withRope({ offset: 3 }) },
    { field: 'block.alibi', status: 'refused', change: withBlock(() => ({ alibi: true })) },
    {
      field: 'block.dropoutRate',
      status: 'ignored',
      change: withBlock(() => ({ dropoutRate: 0.5 })),
    },
    {
      field: 'block.attentionDropoutRate',
      status: 'ignored',
      change: withBlock(() => ({ attentionDropoutRate: 0.5 })),
    },
    {
      field: 'block.feedForward.kind',
      status: 'refused',
      change: withFeedForward({ kind: 'mlp', useBias: false }),
    },
    {
      field: 'block.norm.kind',
      status: 'refused',
      change: withBlock(() => ({ norm: { kind: 'layer', epsilon: 1e-5 } })),
    },
    {
      field: 'block.norm.epsilon',
      status: 'written',
      change: withBlock(() => ({
        norm: { kind: 'rms', epsilon: 1e-3, ...(gemma ? { unitOffset: true } : {}) },
      })),
    },
    {
      field: 'block.norm.unitOffset',
      status: 'refused',
      change: withBlock((b) => ({ norm: { ...b.norm, unitOffset: !gemma } })),
    },
    {
      field: 'block.feedForward.activation',
      status: 'written',
      change: withFeedForward({ activation: 'relu' }),
    },
    gemma
      ? {
          field: 'block.feedForward.activation',
          status: 'refused',
          change: withFeedForward({ activation: 'gelu' }),
        }
      : {
          field: 'block.feedForward.activation',
          status: 'written',
          change: withFeedForward({ activation: 'gelu' }),
        },
    {
      field: 'block.feedForward.activation',
      status: 'written',
      change: withFeedForward({ activation: gemma ? 'silu' : 'gelu-tanh' }),
    },
    layout.attentionBias === 'written'
      ? {
          field: 'block.attentionBias',
          status: 'written',
          change: withBlock((b) => ({ attentionBias: !b.attentionBias })),
        }
      : {
          field: 'block.attentionBias',
          status: 'refused',
          change: withBlock(() => ({ attentionBias: !layout.attentionBias })),
        },
    layout.useBias === 'written'
      ? {
          field: 'block.feedForward.useBias',
          status: 'written',
          change: withFeedForward({ useBias: true }),
        }
      : {
          field: 'block.feedForward.useBias',
          status: 'refused',
          change: withFeedForward({ useBias: !layout.useBias }),
        },
    {
      field: 'block.slidingWindow',
      status: layout.slidingWindow ? 'written' : 'refused',
      change: withBlock(() => ({ slidingWindow: 4 })),
    },
  ];
  return rows;
}

const gpt2Rows: Row<Decoder>[] = [
  ...sizeRows<Decoder>(),
  { field: 'positions', status: 'refused', change: (c) => ({ ...c, positions: 'rope' }) },
  { field: 'positions', status: 'refused', change: (c) => ({ ...c, positions: 'alibi' }) },
  { field: 'tieEmbeddings', status: 'written', change: (c) => ({ ...c, tieEmbeddings: false }) },
  { field: 'embeddingScale', status: 'refused', change: (c) => ({ ...c, embeddingScale: 4 }) },
  { field: 'block.numKvHeads', status: 'refused', change: withBlock(() => ({ numKvHeads: 1 })) },
  { field: 'block.headDim', status: 'refused', change: withBlock(() => ({ headDim: 16 })) },
  {
    field: 'block.normPosition',
    status: 'refused',
    change: withBlock(() => ({ normPosition: 'post' })),
  },
  {
    field: 'block.normPosition',
    status: 'refused',
    change: withBlock(() => ({ normPosition: 'parallel' })),
  },
  {
    field: 'block.attentionBias',
    status: 'refused',
    change: withBlock(() => ({ attentionBias: false })),
  },
  {
    field: 'block.attentionOutputBias',
    status: 'refused',
    change: withBlock(() => ({ attentionOutputBias: false })),
  },
  // Learned positions: decoderLm turns the blocks' RoPE off, whatever block.rope says.
  { field: 'block.rope', status: 'ignored', change: withBlock(() => ({ rope: true })) },
  { field: 'block.rope.base', status: 'ignored', change: withRope({ base: 5e5 }) },
  {
    field: 'block.rope.scaling',
    status: 'ignored',
    change: withRope({ scaling: { kind: 'linear', factor: 2 } }),
  },
  { field: 'block.rope.offset', status: 'ignored', change: withRope({ offset: 3 }) },
  { field: 'block.alibi', status: 'refused', change: withBlock(() => ({ alibi: true })) },
  {
    field: 'block.slidingWindow',
    status: 'refused',
    change: withBlock(() => ({ slidingWindow: 4 })),
  },
  {
    field: 'block.dropoutRate',
    status: 'ignored',
    change: withBlock(() => ({ dropoutRate: 0.5 })),
  },
  {
    field: 'block.attentionDropoutRate',
    status: 'ignored',
    change: withBlock(() => ({ attentionDropoutRate: 0.5 })),
  },
  {
    field: 'block.feedForward.kind',
    status: 'refused',
    change: withFeedForward({ kind: 'gated', useBias: true }),
  },
  {
    field: 'block.feedForward.activation',
    status: 'written',
    change: withFeedForward({ activation: 'relu' }),
  },
  {
    field: 'block.feedForward.activation',
    status: 'written',
    change: withFeedForward({ activation: 'gelu' }),
  },
  {
    field: 'block.feedForward.activation',
    status: 'written',
    change: withFeedForward({ activation: 'silu' }),
  },
  {
    field: 'block.feedForward.useBias',
    status: 'refused',
    change: withFeedForward({ useBias: false }),
  },
  {
    field: 'block.norm.kind',
    status: 'refused',
    change: withBlock(() => ({ norm: { kind: 'rms' } })),
  },
  {
    field: 'block.norm.epsilon',
    status: 'written',
    change: withBlock(() => ({ norm: { kind: 'layer', epsilon: 1e-3 } })),
  },
  {
    field: 'block.norm.unitOffset',
    status: 'refused',
    argument: 'block.norm.kind',
    change: withBlock(() => ({ norm: { kind: 'rms', unitOffset: true } })),
  },
];

const bertRows: Row<Encoder>[] = [
  ...sizeRows<Encoder>(),
  { field: 'numClasses', status: 'written', change: (c) => ({ ...c, numClasses: 3 }) },
  { field: 'numClasses', status: 'written', change: (c) => ({ ...c, numClasses: 0 }) },
  { field: 'pooling', status: 'refused', change: (c) => ({ ...c, pooling: 'mean' }) },
  { field: 'typeVocabSize', status: 'written', change: (c) => ({ ...c, typeVocabSize: 3 }) },
  {
    field: 'typeVocabSize',
    status: 'refused',
    change: (c) => ({ ...c, typeVocabSize: undefined }),
  },
  { field: 'pooler', status: 'refused', change: (c) => ({ ...c, pooler: undefined }) },
  { field: 'block.numKvHeads', status: 'refused', change: withBlock(() => ({ numKvHeads: 1 })) },
  { field: 'block.headDim', status: 'refused', change: withBlock(() => ({ headDim: 16 })) },
  {
    field: 'block.normPosition',
    status: 'refused',
    change: withBlock(() => ({ normPosition: 'pre' })),
  },
  {
    field: 'block.normPosition',
    status: 'refused',
    change: withBlock(() => ({ normPosition: 'parallel' })),
  },
  {
    field: 'block.attentionBias',
    status: 'refused',
    change: withBlock(() => ({ attentionBias: false })),
  },
  {
    field: 'block.attentionOutputBias',
    status: 'refused',
    change: withBlock(() => ({ attentionOutputBias: false })),
  },
  { field: 'block.rope', status: 'refused', change: withBlock(() => ({ rope: true })) },
  {
    field: 'block.rope.base',
    status: 'refused',
    argument: 'block.rope',
    change: withRope({ base: 5e5 }),
  },
  {
    field: 'block.rope.scaling',
    status: 'refused',
    argument: 'block.rope',
    change: withRope({ scaling: { kind: 'linear', factor: 2 } }),
  },
  {
    field: 'block.rope.offset',
    status: 'refused',
    argument: 'block.rope',
    change: withRope({ offset: 3 }),
  },
  { field: 'block.alibi', status: 'refused', change: withBlock(() => ({ alibi: true })) },
  {
    field: 'block.slidingWindow',
    status: 'refused',
    change: withBlock(() => ({ slidingWindow: 4 })),
  },
  {
    field: 'block.dropoutRate',
    status: 'written',
    change: withBlock(() => ({ dropoutRate: 0.25 })),
  },
  {
    field: 'block.attentionDropoutRate',
    status: 'written',
    change: withBlock(() => ({ attentionDropoutRate: 0.25 })),
  },
  {
    field: 'block.feedForward.kind',
    status: 'refused',
    change: withFeedForward({ kind: 'gated' }),
  },
  {
    field: 'block.feedForward.activation',
    status: 'refused',
    change: withFeedForward({ activation: 'gelu-tanh' }),
  },
  {
    field: 'block.feedForward.useBias',
    status: 'refused',
    change: withFeedForward({ useBias: false }),
  },
  {
    field: 'block.norm.kind',
    status: 'refused',
    change: withBlock(() => ({ norm: { kind: 'rms' } })),
  },
  {
    field: 'block.norm.epsilon',
    status: 'written',
    change: withBlock(() => ({ norm: { kind: 'layer', epsilon: 1e-3 } })),
  },
  {
    field: 'block.norm.unitOffset',
    status: 'refused',
    argument: 'block.norm.kind',
    change: withBlock(() => ({ norm: { kind: 'rms', unitOffset: true } })),
  },
];

const LLAMA = {
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 64,
  max_position_embeddings: 16,
};

type Case<C> = {
  name: string;
  family: PretrainedFamily<C>;
  json: Record<string, unknown>;
  rows: Row<C>[];
};

const decoders: Case<Decoder>[] = [
  {
    name: 'gpt2',
    family: gpt2Family,
    json: { model_type: 'gpt2', n_embd: 16, n_layer: 1, n_head: 2, n_positions: 8, vocab_size: 10 },
    rows: gpt2Rows,
  },
  {
    name: 'llama',
    family: llamaFamily,
    json: { model_type: 'llama', ...LLAMA },
    rows: llamaLikeRows({ attentionBias: 'written', useBias: 'written', slidingWindow: false }),
  },
  {
    name: 'mistral',
    family: mistralFamily,
    json: { model_type: 'mistral', ...LLAMA, sliding_window: null },
    rows: llamaLikeRows({ attentionBias: false, useBias: false, slidingWindow: true }),
  },
  {
    name: 'qwen2',
    family: qwen2Family,
    json: { model_type: 'qwen2', ...LLAMA },
    rows: llamaLikeRows({ attentionBias: true, useBias: false, slidingWindow: true }),
  },
  {
    name: 'phi3',
    family: phi3Family,
    json: { model_type: 'phi3', ...LLAMA },
    rows: llamaLikeRows({ attentionBias: false, useBias: false, slidingWindow: true }),
  },
  {
    name: 'gemma',
    family: gemmaFamily,
    json: { model_type: 'gemma', ...LLAMA, head_dim: 8 },
    rows: llamaLikeRows({
      attentionBias: 'written',
      useBias: false,
      slidingWindow: false,
      gemma: true,
    }),
  },
];

const bert: Case<Encoder> = {
  name: 'bert',
  family: bertFamily,
  json: {
    model_type: 'bert',
    architectures: ['BertForSequenceClassification'],
    vocab_size: 50,
    hidden_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    intermediate_size: 32,
    max_position_embeddings: 12,
    type_vocab_size: 2,
  },
  rows: bertRows,
};

/** Every field of the config types, as `config.` paths (the containers `block`, `block.feedForward`, `block.norm` left out). */
function allFields(top: readonly string[]): string[] {
  const blockKeys = optionKeys<Block>({
    dModel: true,
    numHeads: true,
    numKvHeads: true,
    headDim: true,
    feedForward: true,
    norm: true,
    normPosition: true,
    attentionBias: true,
    attentionOutputBias: true,
    rope: true,
    alibi: true,
    slidingWindow: true,
    dropoutRate: true,
    attentionDropoutRate: true,
  });
  const feedForward = optionKeys<BlockFeedForwardConfig>({
    hidden: true,
    kind: true,
    activation: true,
    useBias: true,
  });
  const norm = optionKeys<NormConfig & { unitOffset?: boolean }>({
    kind: true,
    epsilon: true,
    unitOffset: true,
  });
  const rope = optionKeys<RotaryEmbeddingOptions>({ offset: true, base: true, scaling: true });
  return [
    ...top.filter((k) => k !== 'block'),
    ...blockKeys.filter((k) => k !== 'feedForward' && k !== 'norm').map((k) => `block.${k}`),
    ...feedForward.map((k) => `block.feedForward.${k}`),
    ...norm.map((k) => `block.norm.${k}`),
    ...rope.map((k) => `block.rope.${k}`),
  ];
}

const DECODER_FIELDS = allFields(
  optionKeys<Decoder>({
    vocabSize: true,
    maxLength: true,
    numLayers: true,
    positions: true,
    tieEmbeddings: true,
    block: true,
    embeddingScale: true,
  }),
);
const ENCODER_FIELDS = allFields(
  optionKeys<Encoder>({
    vocabSize: true,
    maxLength: true,
    numLayers: true,
    numClasses: true,
    pooling: true,
    typeVocabSize: true,
    pooler: true,
    block: true,
  }),
);

const at = (config: unknown, field: string) => getParamPath(config, field.split('.'));

function describeFamily<C>(c: Case<C>, fields: string[], logits?: (config: C, base: C) => void) {
  describe(`${c.name}Family.toConfigJson, field by field`, () => {
    const base = c.family.fromConfigJson(configJsonReader('test', c.json));
    const readBack = (json: Record<string, unknown>) =>
      c.family.fromConfigJson(configJsonReader('test', json));

    it('has a row for every field of our config', () => {
      expect([...new Set(c.rows.map((r) => r.field))].sort()).toEqual([...fields].sort());
    });

    it('the base config writes and reads back to itself', () => {
      expect(readBack(c.family.toConfigJson(base))).toEqual(base);
    });

    for (const row of c.rows) {
      const value = JSON.stringify(at(row.change(base), row.field)) ?? 'absent';
      it(`${row.field} = ${value}: ${row.status}`, () => {
        const changed = row.change(base);
        if (row.status === 'refused') {
          const e = thrownWithoutLeak(() => c.family.toConfigJson(changed));
          expect(e.functionName).toBe(`${c.name}Family.toConfigJson`);
          expect(e.argument).toBe(`config.${row.argument ?? row.field}`);
          expect(e.message).toContain(`what a ${c.name} config.json describes`);
          return;
        }
        expect(at(changed, row.field), 'the row changes the field').not.toEqual(
          at(base, row.field),
        );
        const written = c.family.toConfigJson(changed);
        if (row.status === 'written') {
          expect(written).not.toEqual(c.family.toConfigJson(base));
          expect(at(readBack(written), row.field)).toEqual(at(changed, row.field));
        } else {
          expect(written).toEqual(c.family.toConfigJson(base));
          logits?.(changed, base);
        }
      });
    }
  });
}

/** An ignored field leaves the logits as they were, with the same params. */
function sameLogits(changed: Decoder, base: Decoder): void {
  const params = initDecoderLm(base, 1);
  const ids = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32');
  const a = decoderLm(changed, params, ids);
  const b = decoderLm(base, params, ids);
  expect(a.arraySync()).toEqual(b.arraySync());
  tf.dispose([params as unknown as tf.TensorContainer, ids, a, b]);
}

for (const c of decoders) describeFamily(c, DECODER_FIELDS, sameLogits);
describeFamily(bert, ENCODER_FIELDS);

describe('checkWritable', () => {
  it('names the field, what the family describes and why, and the value', () => {
    const facts = [
      { field: 'config.a', actual: 'x', expected: 'x' },
      { field: 'config.b', actual: 2, oneOf: [undefined, 1], why: 'no scaling' },
    ];
    const e = thrownBy(() => checkWritable('f', 'fam', facts));
    expect(e.functionName).toBe('f');
    expect(e.argument).toBe('config.b');
    expect(e.message).toBe(
      'f: config.b must be absent or 1 (what a fam config.json describes: no scaling); got number 2',
    );
    const given = thrownBy(() =>
      checkWritable('f', 'fam', [{ field: 'config.c', actual: undefined, given: true }]),
    );
    expect(given.message).toBe(
      'f: config.c must be a value (what a fam config.json describes); got undefined',
    );
    expect(() =>
      checkWritable('f', 'fam', [
        { field: 'config.c', actual: 0, given: true },
        { field: 'config.d', actual: 1, oneOf: [1, 2] },
        { field: 'config.e', actual: Number.NaN, expected: Number.NaN },
      ]),
    ).not.toThrow();
  });

  it('compares a Gemma embedding scale in float32, and shows the value given', () => {
    const config = gemmaFamily.fromConfigJson(
      configJsonReader('test', { model_type: 'gemma', ...LLAMA, head_dim: 8 }),
    );
    const scale = Math.fround(Math.sqrt(32));
    expect(gemmaFamily.toConfigJson({ ...config, embeddingScale: scale }).hidden_size).toBe(32);
    const e = thrownWithoutLeak(() => gemmaFamily.toConfigJson({ ...config, embeddingScale: 5 }));
    expect(e.argument).toBe('config.embeddingScale');
    expect(e.message).toContain('got number 5');
  });
});
