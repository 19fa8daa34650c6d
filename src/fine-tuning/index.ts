/**
 * Parameter-efficient fine-tuning of pretrained models on the user's own
 * device: LoRA as a transform of params, PEFT adapters in and out, the
 * `fineTune` loop and its data pipeline.
 *
 * @packageDocumentation
 */
export {
  type ChatExamplesOptions,
  type ChatTokenizer,
  chatExamples,
} from './chat-examples';
export {
  type FineTuneCheckpoint,
  type FineTuneCheckpointMetadata,
  type FineTuneCheckpointStore,
  type FineTuneRecord,
  memoryCheckpointStore,
} from './checkpoint-store';
export {
  IGNORED_LABEL,
  type SequenceExample,
  type SplitHeldOutOptions,
  shuffleExamples,
  splitHeldOut,
} from './examples';
export {
  type EarlyStoppingOptions,
  type FineTuneData,
  type FineTuneModel,
  type FineTuneOptions,
  type FineTuneProgress,
  type FineTuneResult,
  fineTune,
} from './fine-tune';
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
export { type PackTextsOptions, packTexts } from './pack-texts';
export {
  type AdapterFilesOptions,
  adapterFiles,
  type LoadAdapterOptions,
  loadAdapter,
} from './peft-adapter';
