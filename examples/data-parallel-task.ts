// What each worker of examples/data-parallel.ts runs: the demo's
// character-level GPT, its loss and its optimizer (a schedule over the run's
// steps), with the fast wasm kernels in every worker.
import type * as tf from '@tensorflow/tfjs-core';
import { decoderLm, enableWasmFastKernels, initDecoderLm, softmaxCrossEntropy } from 'tfjs-blocks';
import { type DataParallelTaskContext, dataParallelTask } from 'tfjs-blocks/node';
import { namesGptConfig, namesGptOptimizer } from './names-gpt';

export type NamesTaskOptions = { steps: number; seed: number; fastKernels: boolean };

export default dataParallelTask((context: DataParallelTaskContext) => {
  const { steps, seed, fastKernels } = context.options as NamesTaskOptions;
  if (fastKernels) enableWasmFastKernels();
  return {
    params: initDecoderLm(namesGptConfig, seed),
    optimizer: namesGptOptimizer(steps),
    loss: (params, batch) =>
      softmaxCrossEntropy(
        decoderLm(namesGptConfig, params, batch.ids as tf.Tensor2D),
        batch.targets!,
      ) as tf.Scalar,
  };
});
