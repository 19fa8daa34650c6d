// What each worker of examples/data-parallel.ts runs: the demo's
// character-level GPT, its loss and its optimizer (a schedule over the run's
// steps), with the fast wasm kernels in every worker.
import type * as tf from '@tensorflow/tfjs-core';
import {
  adamw,
  chain,
  clipByGlobalNorm,
  decoderLm,
  enableWasmFastKernels,
  gpt2Config,
  initDecoderLm,
  softmaxCrossEntropy,
  warmupCosineDecaySchedule,
} from 'tfjs-blocks';
import { type DataParallelTaskContext, dataParallelTask } from 'tfjs-blocks/node';
import { ALPHABET } from './names-data';

export const TIME = 32;
export const namesGptConfig = gpt2Config({
  vocabSize: ALPHABET.length,
  maxLength: TIME,
  dModel: 64,
  numLayers: 2,
  numHeads: 4,
});

export type NamesTaskOptions = { steps: number; seed: number; fastKernels: boolean };

export default dataParallelTask((context: DataParallelTaskContext) => {
  const { steps, seed, fastKernels } = context.options as NamesTaskOptions;
  if (fastKernels) enableWasmFastKernels();
  return {
    params: initDecoderLm(namesGptConfig, seed),
    optimizer: chain(
      clipByGlobalNorm(1),
      adamw({
        learningRate: warmupCosineDecaySchedule({
          peakValue: 3e-3,
          warmupSteps: Math.min(100, Math.ceil(steps / 10)),
          decaySteps: steps,
          endValue: 3e-4,
        }),
        weightDecay: 0.01,
      }),
    ),
    loss: (params, batch) =>
      softmaxCrossEntropy(
        decoderLm(namesGptConfig, params, batch.ids as tf.Tensor2D),
        batch.targets!,
      ) as tf.Scalar,
  };
});
