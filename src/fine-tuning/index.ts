/**
 * Parameter-efficient fine-tuning of pretrained models on the user's own
 * device: LoRA as a transform of params, PEFT adapters in and out, the
 * `fineTune` loop and its data pipeline.
 *
 * @packageDocumentation
 */

export {
  initLora,
  type LoraAdapter,
  type LoraModule,
  loraTensors,
  type MergedLora,
  mergeLora,
  unmergeLora,
  type WithLoraOptions,
  withLora,
} from './lora';
export type { LoraConfig, ResolvedLoraConfig } from './lora-config';
export {
  type LoraBase,
  type LoraModuleNamesOptions,
  type LoraTargetMatch,
  loraModuleNames,
  matchLoraTargets,
} from './lora-modules';
export {
  type AdapterFilesOptions,
  adapterFiles,
  type LoadAdapterOptions,
  loadAdapter,
} from './peft-adapter';
