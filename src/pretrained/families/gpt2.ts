import { type DecoderLmConfig, gpt2Config } from '../../models/decoder-lm';
import type { ConfigJsonReader } from '../config-json';
import type { PretrainedFamily, TensorRule } from './family';
import {
  blockPath,
  checkWritable,
  copyRule,
  embeddingScaleFact,
  fusedRule,
  hfActivation,
  linearRule,
  readActivation,
  type WritableFact,
} from './rules';

/**
 * What `GPT2LMHeadModel` computes: learned positions, pre-norm LayerNorm,
 * an MLP and attention with biases everywhere, heads that split `n_embd`
 * evenly, one key/value head per query head, no embedding scaling, no
 * sliding window. The sizes, activation, epsilon and `tieEmbeddings` are
 * written, so they are not facts here.
 */
function gpt2Facts(config: DecoderLmConfig): WritableFact[] {
  const { block } = config;
  const attentionBias = block.attentionBias ?? true;
  return [
    { field: 'config.positions', actual: config.positions, expected: 'learned' },
    embeddingScaleFact(config),
    { field: 'config.block.norm.kind', actual: block.norm.kind, expected: 'layer' },
    { field: 'config.block.normPosition', actual: block.normPosition ?? 'pre', expected: 'pre' },
    { field: 'config.block.feedForward.kind', actual: block.feedForward.kind, expected: 'mlp' },
    {
      field: 'config.block.feedForward.useBias',
      actual: block.feedForward.useBias ?? block.feedForward.kind === 'mlp',
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
      why: 'numHeads: GPT-2 has no grouped-query attention',
    },
    {
      field: 'config.block.headDim',
      actual: block.headDim,
      oneOf: [undefined, block.dModel / block.numHeads],
      why: 'heads of n_embd / n_head each',
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
 * GPT-2 (`model_type: "gpt2"`, `GPT2LMHeadModel`): learned positions,
 * pre-norm LayerNorm, an MLP with biases, tied embeddings. `config.json`
 * gives the sizes (`n_embd`, `n_layer`, `n_head`, `n_positions`,
 * `vocab_size`, `n_inner`), `layer_norm_epsilon` and `activation_function`
 * (`gelu_new`, `gelu_pytorch_tanh`, `gelu`, `relu`, `silu`); cross-attention,
 * attention scaled by the layer index or not scaled at all are rejected.
 * `toConfigJson` refuses a config GPT-2 cannot describe (RoPE or ALiBi,
 * RMSNorm, a gated feed-forward, missing biases, grouped-query attention,
 * a `headDim` of its own, embedding scaling, a sliding window, post-norm
 * or parallel blocks), naming our config's field.
 * The checkpoint's Conv1D weights are already `[in, out]`; `c_attn` holds
 * q, k and v side by side.
 *
 * @example
 * ```ts
 * const read = configJsonReader('example', { model_type: 'gpt2', n_embd: 64, n_layer: 2, n_head: 4, n_positions: 128, vocab_size: 100 });
 * const config = gpt2Family.fromConfigJson(read);
 * const names = gpt2Family.tensors(config).map((rule) => rule.name); // 'transformer.wte.weight', ...
 * ```
 */
export const gpt2Family: PretrainedFamily<DecoderLmConfig> = {
  modelTypes: ['gpt2'],
  kind: 'decoder-lm',
  architecture: 'GPT2LMHeadModel',
  fromConfigJson(read: ConfigJsonReader): DecoderLmConfig {
    const dModel = read.integer('n_embd', 768, 1);
    const numHeads = read.integer('n_head', 12, 1);
    if (dModel % numHeads !== 0) {
      read.unsupported('n_head', `a divisor of n_embd (${dModel})`);
    }
    const config = gpt2Config({
      vocabSize: read.integer('vocab_size', 50257, 1),
      maxLength: read.integer('n_positions', 1024, 1),
      dModel,
      numLayers: read.integer('n_layer', 12, 1),
      numHeads,
    });
    const hidden = read.has('n_inner') ? read.integer('n_inner', undefined, 1) : 4 * dModel;
    const activation = readActivation(read, 'activation_function', 'gelu_new');
    const epsilon = read.number('layer_norm_epsilon', 1e-5);
    if (!read.boolean('scale_attn_weights', true)) {
      read.unsupported('scale_attn_weights', 'true (attention scaled by 1/√headDim)');
    }
    if (read.boolean('scale_attn_by_inverse_layer_idx', false)) {
      read.unsupported('scale_attn_by_inverse_layer_idx', 'false (not implemented)');
    }
    if (read.boolean('add_cross_attention', false)) {
      read.unsupported('add_cross_attention', 'false (a decoder-only GPT-2)');
    }
    return {
      ...config,
      tieEmbeddings: read.boolean('tie_word_embeddings', true),
      block: {
        ...config.block,
        norm: { kind: 'layer', epsilon },
        feedForward: { ...config.block.feedForward, hidden, activation },
      },
    };
  },
  toConfigJson(config: DecoderLmConfig): Record<string, unknown> {
    checkWritable('gpt2Family.toConfigJson', 'gpt2', gpt2Facts(config));
    const { block } = config;
    return {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: config.vocabSize,
      n_positions: config.maxLength,
      n_embd: block.dModel,
      n_layer: config.numLayers,
      n_head: block.numHeads,
      n_inner: block.feedForward.hidden,
      activation_function: hfActivation(block.feedForward.activation),
      layer_norm_epsilon: block.norm.epsilon ?? 1e-5,
      tie_word_embeddings: config.tieEmbeddings,
    };
  },
  tensors(config: DecoderLmConfig): TensorRule[] {
    const d = config.block.dModel;
    const hidden = config.block.feedForward.hidden;
    const rules: TensorRule[] = [
      copyRule('transformer.wte.weight', [config.vocabSize, d], ['tokenEmbedding', 'table']),
      copyRule('transformer.wpe.weight', [config.maxLength, d], ['positionEmbedding', 'table']),
    ];
    for (let i = 0; i < config.numLayers; i++) {
      const h = `transformer.h.${i}`;
      const at = (...rest: string[]) => blockPath(i, ...rest);
      const parts = (part: string) =>
        ['query', 'key', 'value'].map((n) => at('attention', n, part));
      rules.push(
        copyRule(`${h}.ln_1.weight`, [d], at('attentionNorm', 'gamma')),
        copyRule(`${h}.ln_1.bias`, [d], at('attentionNorm', 'beta')),
        // c_attn packs q, k and v side by side: split on load, joined on save.
        fusedRule(`${h}.attn.c_attn.weight`, [d, 3 * d], parts('kernel'), [d, d, d], 1, false),
        fusedRule(`${h}.attn.c_attn.bias`, [3 * d], parts('bias'), [d, d, d], 0, false),
        copyRule(`${h}.attn.c_proj.weight`, [d, d], at('attention', 'output', 'kernel')),
        copyRule(`${h}.attn.c_proj.bias`, [d], at('attention', 'output', 'bias')),
        copyRule(`${h}.ln_2.weight`, [d], at('feedForwardNorm', 'gamma')),
        copyRule(`${h}.ln_2.bias`, [d], at('feedForwardNorm', 'beta')),
        copyRule(`${h}.mlp.c_fc.weight`, [d, hidden], at('feedForward', 'up', 'kernel')),
        copyRule(`${h}.mlp.c_fc.bias`, [hidden], at('feedForward', 'up', 'bias')),
        copyRule(`${h}.mlp.c_proj.weight`, [hidden, d], at('feedForward', 'down', 'kernel')),
        copyRule(`${h}.mlp.c_proj.bias`, [d], at('feedForward', 'down', 'bias')),
      );
    }
    rules.push(
      copyRule('transformer.ln_f.weight', [d], ['finalNorm', 'gamma']),
      copyRule('transformer.ln_f.bias', [d], ['finalNorm', 'beta']),
    );
    if (!config.tieEmbeddings) {
      rules.push(linearRule('lm_head.weight', [config.vocabSize, d], ['lmHead', 'kernel']));
    }
    return rules;
  },
  isBuffer(name: string, config: DecoderLmConfig): boolean {
    // The causal-mask buffers older checkpoints carry, with or without the
    // `transformer.` prefix, and the tied head's copy of the embedding.
    const mask = /^(?:transformer\.)?h\.(\d+)\.attn\.(?:bias|masked_bias)$/.exec(name);
    if (mask) return Number(mask[1]) < config.numLayers;
    return name === 'lm_head.weight' && config.tieEmbeddings;
  },
};
