// Small model configs shared by the property tests that drive every export
// (option keys, error-path leaks): one definition, so both test the same shapes.
import type * as root from '../../src/index';
import { bertConfig, gpt2Config } from '../../src/index';

export const block = {
  dModel: 8,
  numHeads: 2,
  norm: { kind: 'layer', epsilon: 1e-5 },
  feedForward: { hidden: 16, kind: 'mlp', activation: 'gelu' },
} as const satisfies root.TransformerBlockConfig;

export const lm = gpt2Config({ vocabSize: 10, maxLength: 8, dModel: 8, numLayers: 1, numHeads: 2 });

export const classifier = bertConfig({
  vocabSize: 10,
  maxLength: 8,
  dModel: 8,
  numLayers: 1,
  numHeads: 2,
  numClasses: 2,
});

export const seq2seq: root.EncoderDecoderConfig = {
  sourceVocabSize: 10,
  targetVocabSize: 10,
  maxLength: 8,
  numEncoderLayers: 1,
  numDecoderLayers: 1,
  block,
};

export const vitConfig: root.VitConfig = {
  imageSize: 4,
  patchSize: 2,
  channels: 1,
  dModel: 8,
  numLayers: 1,
  numHeads: 2,
  hidden: 8,
  numClasses: 2,
  pooling: 'cls',
};
