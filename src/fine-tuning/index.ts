/**
 * Parameter-efficient fine-tuning of pretrained models on the user's own
 * device: LoRA as a transform of params, PEFT adapters in and out, the
 * `fineTune` loop and its data pipeline.
 *
 * @packageDocumentation
 */

export {
  type AdapterGradientOptions,
  type LmBatch,
  type PrivateAdapterGradientOptions,
  perExampleAdapterGradients,
  privateAdapterGradients,
} from './private';
