import { bertConfig, type EncoderClassifierConfig } from '../../models/encoder-classifier';
import type { ConfigJsonReader } from '../config-json';
import type { PretrainedFamily, TensorRule } from './family';
import { blockPath, checkWritable, copyRule, linearRule, type WritableFact } from './rules';

/** The `transformers` classes whose checkpoints {@link bertFamily} reads. */
const CLASSIFIER = 'BertForSequenceClassification';
const ENCODER = 'BertModel';

/** A `torch.nn.Linear` (`weight` `[out, in]`, `bias` `[out]`) to our `{kernel [in, out], bias}`. */
function dense(
  name: string,
  inFeatures: number,
  outFeatures: number,
  path: string[],
): TensorRule[] {
  return [
    linearRule(`${name}.weight`, [outFeatures, inFeatures], [...path, 'kernel']),
    copyRule(`${name}.bias`, [outFeatures], [...path, 'bias']),
  ];
}

/** A LayerNorm (`weight`, `bias`) to our `{gamma, beta}`. */
function layerNorm(name: string, d: number, path: string[]): TensorRule[] {
  return [
    copyRule(`${name}.weight`, [d], [...path, 'gamma']),
    copyRule(`${name}.bias`, [d], [...path, 'beta']),
  ];
}

/** The checkpoint's prefix: a classifier nests the encoder under `bert.`, a bare `BertModel` does not. */
const prefixOf = (config: EncoderClassifierConfig) => (config.numClasses > 0 ? 'bert.' : '');

/**
 * Reads `architectures`: `BertForSequenceClassification` (a classifier) or
 * `BertModel` (the encoder alone, also when the field is absent).
 */
function readArchitecture(read: ConfigJsonReader): typeof CLASSIFIER | typeof ENCODER {
  const [architecture] = read.strings('architectures', [ENCODER]);
  if (architecture !== CLASSIFIER && architecture !== ENCODER) {
    read.unsupported(
      'architectures',
      `["${CLASSIFIER}"] or ["${ENCODER}"] (other BERT heads are not implemented)`,
    );
  }
  return architecture;
}

/** The number of labels of a classifier: `id2label`'s size, else `num_labels`, else 2 (HF's default). */
function readNumLabels(read: ConfigJsonReader): number {
  const keys = read.keys('id2label');
  if (keys === undefined) return read.integer('num_labels', 2, 1);
  const indices = keys
    .map((k) => (/^(0|[1-9]\d*)$/.test(k) ? Number(k) : -1))
    .sort((a, b) => a - b);
  if (indices.length === 0 || indices.some((n, i) => n !== i)) {
    read.unsupported('id2label', 'an object keyed "0" … "n-1" (one entry per class)');
  }
  if (read.has('num_labels') && read.integer('num_labels', undefined, 1) !== keys.length) {
    read.unsupported('num_labels', `the size of id2label (${keys.length})`);
  }
  return keys.length;
}

/** A dropout probability in `[0, 1)`. */
function readProbability(read: ConfigJsonReader, field: string, fallback: number): number {
  const p = read.number(field, fallback, true);
  if (p < 0 || p >= 1) read.unsupported(field, 'a probability in [0, 1)');
  return p;
}

/**
 * What BERT's `config.json` can describe (see {@link bertFamily}): token
 * types, the tanh pooler over [CLS], post-norm LayerNorm, an exact-GELU MLP
 * and attention with biases everywhere, heads that split `hidden_size`
 * evenly, no grouped-query attention, learned positions only, no window.
 * The sizes, epsilon, dropout rates and `numClasses` are written.
 */
function bertFacts(config: EncoderClassifierConfig): WritableFact[] {
  const { block } = config;
  const ff = block.feedForward;
  const attentionBias = block.attentionBias ?? true;
  return [
    {
      field: 'config.typeVocabSize',
      actual: config.typeVocabSize,
      given: true,
      why: 'BERT always has token-type embeddings',
    },
    { field: 'config.pooler', actual: config.pooler, expected: 'tanh', why: "BERT's pooler" },
    {
      field: 'config.pooling',
      actual: config.pooling,
      expected: 'cls',
      why: 'BERT pools the [CLS] token',
    },
    {
      field: 'config.block.normPosition',
      actual: block.normPosition ?? 'pre',
      expected: 'post',
      why: 'BERT is post-norm',
    },
    { field: 'config.block.norm.kind', actual: block.norm.kind, expected: 'layer' },
    { field: 'config.block.feedForward.kind', actual: ff.kind, expected: 'mlp' },
    {
      field: 'config.block.feedForward.activation',
      actual: ff.activation,
      expected: 'gelu',
      why: 'the exact GELU',
    },
    {
      field: 'config.block.feedForward.useBias',
      actual: ff.useBias ?? ff.kind === 'mlp',
      expected: true,
    },
    { field: 'config.block.attentionBias', actual: attentionBias, expected: true },
    {
      field: 'config.block.attentionOutputBias',
      actual: block.attentionOutputBias ?? attentionBias,
      expected: true,
    },
    {
      field: 'config.block.numKvHeads',
      actual: block.numKvHeads ?? block.numHeads,
      expected: block.numHeads,
      why: 'numHeads: BERT has no grouped-query attention',
    },
    {
      field: 'config.block.headDim',
      actual: block.headDim,
      oneOf: [undefined, block.dModel / block.numHeads],
      why: 'heads of hidden_size / num_attention_heads each',
    },
    {
      field: 'config.block.rope',
      actual: block.rope,
      oneOf: [undefined, false],
      why: 'BERT has learned positions',
    },
    { field: 'config.block.alibi', actual: block.alibi ?? false, expected: false },
    {
      field: 'config.block.slidingWindow',
      actual: block.slidingWindow,
      expected: undefined,
      why: 'no sliding window',
    },
  ];
}

/**
 * BERT (`model_type: "bert"`): a post-norm encoder with learned positions,
 * token-type (segment) embeddings, exact GELU and a tanh pooler, as
 * {@link encoderClassifier} / {@link encoderHiddenStates} run it.
 *
 * - `BertForSequenceClassification` (`architectures`): tensors under `bert.`
 *   plus `classifier.*`; `numClasses` is the size of `id2label` (else
 *   `num_labels`, else 2). Labels' names are not kept: `toConfigJson` writes
 *   `LABEL_0` …
 * - `BertModel` (or no `architectures`): the encoder alone, tensors without
 *   a prefix (`embeddings.*`, `encoder.layer.N.*`, `pooler.dense.*`), read
 *   as `numClasses: 0` (no head): run it with `encoderHiddenStates`. Its
 *   checkpoint must hold the pooler (HF's default `add_pooling_layer=True`).
 * - Other heads (`BertForMaskedLM`, `BertForTokenClassification`, …),
 *   `position_embedding_type` other than `absolute`, `hidden_act` other than
 *   `gelu`, `is_decoder` and `add_cross_attention` are `TfjsBlocksError`s
 *   naming the field.
 * - `hidden_dropout_prob` and `attention_probs_dropout_prob` become the
 *   blocks' `dropoutRate` / `attentionDropoutRate` (training only); BERT's
 *   dropout on the embeddings and `classifier_dropout` are not applied.
 * - The `embeddings.position_ids` / `token_type_ids` buffers are skipped.
 *
 * `toConfigJson` accepts only configs BERT can express (token types, the
 * tanh pooler, [CLS] pooling, post-norm LayerNorm, exact-GELU MLP and
 * attention with biases, even heads, no RoPE, ALiBi or window); others are
 * `TfjsBlocksError`s naming our config's field.
 *
 * @example
 * ```ts
 * const read = configJsonReader('example', {
 *   model_type: 'bert', architectures: ['BertForSequenceClassification'], vocab_size: 100,
 *   hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64,
 *   max_position_embeddings: 16, type_vocab_size: 2, id2label: { 0: 'NEG', 1: 'POS' },
 * });
 * const config = bertFamily.fromConfigJson(read); // numClasses 2, pooler 'tanh', typeVocabSize 2
 * const names = bertFamily.tensors(config).map((rule) => rule.name); // 'bert.embeddings.word_embeddings.weight', ...
 * ```
 */
export const bertFamily: PretrainedFamily<EncoderClassifierConfig> = {
  modelTypes: ['bert'],
  kind: 'encoder-classifier',
  architecture: CLASSIFIER,
  fromConfigJson(read: ConfigJsonReader): EncoderClassifierConfig {
    const architecture = readArchitecture(read);
    const dModel = read.integer('hidden_size', 768, 1);
    const numHeads = read.integer('num_attention_heads', 12, 1);
    if (dModel % numHeads !== 0)
      read.unsupported('num_attention_heads', `a divisor of hidden_size (${dModel})`);
    read.string('hidden_act', ['gelu'], 'gelu');
    read.string('position_embedding_type', ['absolute'], 'absolute');
    if (read.boolean('is_decoder', false))
      read.unsupported('is_decoder', 'false (BERT as an encoder)');
    if (read.boolean('add_cross_attention', false)) {
      read.unsupported('add_cross_attention', 'false (BERT as an encoder)');
    }
    const config = bertConfig({
      vocabSize: read.integer('vocab_size', 30522, 1),
      maxLength: read.integer('max_position_embeddings', 512, 1),
      dModel,
      numLayers: read.integer('num_hidden_layers', 12, 1),
      numHeads,
      numClasses: architecture === CLASSIFIER ? readNumLabels(read) : 0,
      typeVocabSize: read.integer('type_vocab_size', 2, 1),
      pooler: 'tanh',
    });
    return {
      ...config,
      block: {
        ...config.block,
        norm: { kind: 'layer', epsilon: read.number('layer_norm_eps', 1e-12) },
        feedForward: {
          ...config.block.feedForward,
          hidden: read.integer('intermediate_size', 4 * dModel, 1),
        },
        dropoutRate: readProbability(read, 'hidden_dropout_prob', 0.1),
        attentionDropoutRate: readProbability(read, 'attention_probs_dropout_prob', 0.1),
      },
    };
  },
  toConfigJson(config: EncoderClassifierConfig): Record<string, unknown> {
    checkWritable('bertFamily.toConfigJson', 'bert', bertFacts(config));
    const { block } = config;
    const labels = Array.from({ length: config.numClasses }, (_, i) => `LABEL_${i}`);
    return {
      architectures: [config.numClasses > 0 ? CLASSIFIER : ENCODER],
      model_type: 'bert',
      vocab_size: config.vocabSize,
      hidden_size: block.dModel,
      num_hidden_layers: config.numLayers,
      num_attention_heads: block.numHeads,
      intermediate_size: block.feedForward.hidden,
      hidden_act: 'gelu',
      hidden_dropout_prob: block.dropoutRate ?? 0,
      attention_probs_dropout_prob: block.attentionDropoutRate ?? 0,
      max_position_embeddings: config.maxLength,
      type_vocab_size: config.typeVocabSize,
      layer_norm_eps: block.norm.epsilon ?? 1e-5,
      ...(config.numClasses > 0
        ? {
            id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
            label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
          }
        : {}),
    };
  },
  tensors(config: EncoderClassifierConfig): TensorRule[] {
    const p = prefixOf(config);
    const d = config.block.dModel;
    const hidden = config.block.feedForward.hidden;
    const rules: TensorRule[] = [
      copyRule(
        `${p}embeddings.word_embeddings.weight`,
        [config.vocabSize, d],
        ['tokenEmbedding', 'table'],
      ),
      copyRule(
        `${p}embeddings.position_embeddings.weight`,
        [config.maxLength, d],
        ['positionEmbedding', 'table'],
      ),
    ];
    if (config.typeVocabSize !== undefined) {
      rules.push(
        copyRule(
          `${p}embeddings.token_type_embeddings.weight`,
          [config.typeVocabSize, d],
          ['tokenTypeEmbedding', 'table'],
        ),
      );
    }
    rules.push(...layerNorm(`${p}embeddings.LayerNorm`, d, ['embeddingNorm']));
    for (let i = 0; i < config.numLayers; i++) {
      const h = `${p}encoder.layer.${i}`;
      const at = (...rest: string[]) => blockPath(i, ...rest);
      rules.push(
        ...dense(`${h}.attention.self.query`, d, d, at('attention', 'query')),
        ...dense(`${h}.attention.self.key`, d, d, at('attention', 'key')),
        ...dense(`${h}.attention.self.value`, d, d, at('attention', 'value')),
        ...dense(`${h}.attention.output.dense`, d, d, at('attention', 'output')),
        ...layerNorm(`${h}.attention.output.LayerNorm`, d, at('attentionNorm')),
        ...dense(`${h}.intermediate.dense`, d, hidden, at('feedForward', 'up')),
        ...dense(`${h}.output.dense`, hidden, d, at('feedForward', 'down')),
        ...layerNorm(`${h}.output.LayerNorm`, d, at('feedForwardNorm')),
      );
    }
    if (config.pooler === 'tanh') rules.push(...dense(`${p}pooler.dense`, d, d, ['pooler']));
    if (config.numClasses > 0) rules.push(...dense('classifier', d, config.numClasses, ['head']));
    return rules;
  },
  isBuffer(name: string, config: EncoderClassifierConfig): boolean {
    const p = prefixOf(config);
    return name === `${p}embeddings.position_ids` || name === `${p}embeddings.token_type_ids`;
  },
};
