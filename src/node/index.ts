/**
 * tfjs-blocks/node: save and load tfjs models on Node's file system without
 * tfjs-node, atomically. Kept out of the main entry so browser bundles never
 * see `node:fs`.
 *
 * @packageDocumentation
 */

export {
  type Checkpoint,
  type LoadCheckpointOptions,
  listCheckpoints,
  loadCheckpoint,
  type SaveCheckpointOptions,
  saveCheckpoint,
} from '../interop/checkpoint';
export { readSafetensorsFile, writeSafetensorsFile } from '../interop/safetensors-node';
export {
  MODEL_JSON_FILE,
  NodeFileSystem,
  type NodeFileSystemOptions,
  nodeFileSystem,
  WEIGHTS_FILE,
} from './file-system';
export { NODE_FILE_SYSTEM_SCHEME, registerNodeFileSystemRouter } from './router';
