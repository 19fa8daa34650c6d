import { io } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { describeValue } from '../internal/checks';
import { NodeFileSystem } from './file-system';

/**
 * The URL scheme {@link registerNodeFileSystemRouter} registers by default.
 *
 * @example
 * ```ts
 * registerNodeFileSystemRouter();
 * await model.save(`${NODE_FILE_SYSTEM_SCHEME}/tmp/my-model`); // 'node:///tmp/my-model'
 * ```
 */
export const NODE_FILE_SYSTEM_SCHEME = 'node://';

// tfjs-core keeps routers in a global registry with no way to remove one, and
// two routers claiming a URL make `model.save` throw: register each scheme once.
const registered = new Set<string>();

/**
 * Lets tfjs route `node://` URLs to {@link NodeFileSystem}, so
 * `model.save('node://dir')` and `tf.loadLayersModel('node://dir')` work
 * without passing a handler. It changes tfjs's global router registry, so it
 * runs only when called, never on import; calling it again is a no-op.
 *
 * @param scheme - the URL prefix to claim. Default `'node://'`. `'file://'`
 *   clashes with tfjs-node's own router when tfjs-node is loaded.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-layers';
 * import '@tensorflow/tfjs-backend-cpu';
 * import { registerNodeFileSystemRouter } from 'tfjs-blocks/node';
 *
 * registerNodeFileSystemRouter();
 * await model.save('node:///tmp/my-model');
 * const restored = await tf.loadLayersModel('node:///tmp/my-model');
 * ```
 */
export function registerNodeFileSystemRouter(scheme: string = NODE_FILE_SYSTEM_SCHEME): void {
  if (typeof scheme !== 'string' || !scheme.endsWith('://')) {
    throw new TfjsBlocksError(
      'registerNodeFileSystemRouter',
      'scheme',
      "a URL prefix ending in '://', such as 'node://'",
      describeValue(scheme),
    );
  }
  if (registered.has(scheme)) return;
  // tfjs asks every router and expects null from those a URL is not for;
  // its IORouter type omits that null.
  const router = (url: string | string[]): io.IOHandler => {
    if (typeof url !== 'string' || !url.startsWith(scheme)) return null as unknown as io.IOHandler;
    return new NodeFileSystem(url.slice(scheme.length));
  };
  io.registerSaveRouter(router);
  io.registerLoadRouter(router);
  registered.add(scheme);
}
