import * as tf from '@tensorflow/tfjs-core';
import { it } from 'vitest';
import {
  type DecoderLmParams,
  decoderLm,
  gpt2Config,
  llamaConfig,
  type TransformerBlockConfig,
  type TransformerDecoderBlockParams,
  transformerDecoderBlock,
  transformerEncoderBlock,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { decode, type EncodedTensor, expectCloseToGolden, loadGoldens } from '../helpers/goldens';

type Encoded = EncodedTensor | { [key: string]: Encoded } | Encoded[] | number | boolean;
interface BlockGolden {
  config: TransformerBlockConfig;
  params: Encoded;
  x: EncodedTensor;
  context?: EncodedTensor;
  mask?: EncodedTensor;
  output: EncodedTensor;
}
interface ModelGolden {
  preset: 'gpt2' | 'llama';
  sizes: Parameters<typeof llamaConfig>[0];
  params: Encoded;
  ids: EncodedTensor;
  output: EncodedTensor;
}
const goldens = loadGoldens<Record<string, BlockGolden & ModelGolden>>('models');

/** Rebuilds a nested param record: encoded tensors become tensors, numbers stay. */
function decodeTree(node: Encoded): unknown {
  if (Array.isArray(node)) return node.map(decodeTree);
  if (node !== null && typeof node === 'object') {
    if ('shape' in node && 'data' in node) return decode(node as EncodedTensor);
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, decodeTree(v as Encoded)]));
  }
  return node;
}

// Whole models: "logits within 1e-4 relative" (to the largest logit).
const MODEL_TOL = { rtol: 1e-4, atol: 0 };
const BLOCK_TOL = { rtol: 1e-5, atol: 1e-6 };

describeEachBackend('Transformer blocks and models vs PyTorch', () => {
  for (const [name, golden] of Object.entries(goldens)) {
    it(name, () => {
      tf.tidy(() => {
        if (name.startsWith('encoder_block')) {
          const y = transformerEncoderBlock(
            golden.config,
            decodeTree(golden.params) as TransformerDecoderBlockParams,
            decode<tf.Tensor3D>(golden.x),
            {
              mask: decode(golden.mask!),
            },
          );
          expectCloseToGolden(y, golden.output, BLOCK_TOL);
        } else if (name.startsWith('decoder_block')) {
          const y = transformerDecoderBlock(
            golden.config,
            decodeTree(golden.params) as TransformerDecoderBlockParams,
            decode<tf.Tensor3D>(golden.x),
            {
              context: decode<tf.Tensor3D>(golden.context!),
            },
          );
          expectCloseToGolden(y, golden.output, BLOCK_TOL);
        } else {
          const config =
            golden.preset === 'gpt2' ? gpt2Config(golden.sizes) : llamaConfig(golden.sizes);
          const logits = decoderLm(
            config,
            decodeTree(golden.params) as DecoderLmParams,
            decode(golden.ids),
          );
          expectCloseToGolden(logits, golden.output, MODEL_TOL);
        }
      });
    });
  }
});
