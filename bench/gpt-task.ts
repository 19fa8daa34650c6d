// The data-parallel worker of bench/training.ts: the benchmark's GPT, loss
// and AdamW, in each worker, with the fast wasm kernels when asked.
import type * as tf from '@tensorflow/tfjs-core';
import {
  adamw,
  type DecoderLmConfig,
  decoderLm,
  enableWasmFastKernels,
  initDecoderLm,
  softmaxCrossEntropy,
} from 'tfjs-blocks';
import { type DataParallelTaskContext, dataParallelTask } from 'tfjs-blocks/node';

export type GptTaskOptions = { config: DecoderLmConfig; fastKernels: boolean };

export default dataParallelTask((context: DataParallelTaskContext) => {
  const { config, fastKernels } = context.options as GptTaskOptions;
  if (fastKernels) enableWasmFastKernels();
  return {
    params: initDecoderLm(config, 0),
    optimizer: adamw({ learningRate: 1e-3, weightDecay: 0.01 }),
    loss: (params, batch) =>
      softmaxCrossEntropy(
        decoderLm(config, params, batch.ids as tf.Tensor2D),
        batch.targets!,
      ) as tf.Scalar,
  };
});
