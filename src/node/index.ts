/**
 * tfjs-blocks/node: save and load tfjs models on Node's file system without
 * tfjs-node, atomically, train data-parallel over `worker_threads`, and run
 * the wasm backend on its threaded build. Kept out of the main entry so
 * browser bundles never see `node:fs` or `node:worker_threads`.
 *
 * @packageDocumentation
 */

export { saveAdapter } from './adapter-node';
export {
  type Checkpoint,
  type CheckpointWarning,
  type LoadCheckpointOptions,
  listCheckpoints,
  loadCheckpoint,
  type SaveCheckpointOptions,
  saveCheckpoint,
} from './checkpoint';
export {
  type DataParallelTask,
  type DataParallelTaskContext,
  type DataParallelTaskDefinition,
  dataParallelTask,
} from './data-parallel/task';
export {
  type DataParallelCheckpoint,
  type DataParallelOptions,
  type DataParallelParam,
  type DataParallelTrainer,
  startDataParallel,
} from './data-parallel/trainer';
export {
  MODEL_JSON_FILE,
  NodeFileSystem,
  type NodeFileSystemOptions,
  nodeFileSystem,
  WEIGHTS_FILE,
} from './file-system';
export {
  type FineTuneCheckpointDirOptions,
  fineTuneCheckpointDir,
} from './fine-tune-checkpoint';
export { folderSource, savePretrained } from './pretrained-node';
export {
  disableQuantizedThreads,
  enableQuantizedThreads,
  type QuantizedThreadsOptions,
} from './quantized-threads';
export { type RaplEnergySource, type RaplOptions, raplEnergySource } from './rapl';
export { NODE_FILE_SYSTEM_SCHEME, registerNodeFileSystemRouter } from './router';
export { readSafetensorsFile, writeSafetensorsFile } from './safetensors-node';
export { disposeThreadedWasm, type ThreadedWasmOptions, useThreadedWasm } from './threaded-wasm';
