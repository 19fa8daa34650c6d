import { serialization, type Tensor } from '@tensorflow/tfjs-core';
import { initializers, type LayerVariable, layers } from '@tensorflow/tfjs-layers';
import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, optionKeys } from '../internal/checks';
import { treeLeaves, treeLeavesWithPath } from '../tree/leaves';
import { treeMap } from '../tree/map';

/** The options every tfjs-layers `Layer` takes (name, inputShape, trainable, …). */
export type BaseLayerArgs = NonNullable<ConstructorParameters<typeof layers.Layer>[0]>;

/** The args tfjs-layers' base `Layer` takes; `getConfig` writes some of them back. */
const BASE_LAYER_ARG_KEYS = optionKeys<BaseLayerArgs>({
  inputShape: true,
  batchInputShape: true,
  batchSize: true,
  dtype: true,
  name: true,
  trainable: true,
  weights: true,
  inputDType: true,
});

/**
 * Throws unless every key of a layer's constructor `args` is one of its own
 * (`own`) or a base-layer arg. `customObjects` is allowed too: tfjs-layers
 * adds it to the config it passes back through `fromConfig` when loading.
 */
export function checkLayerArgs(fn: string, args: unknown, own: readonly string[]): void {
  checkOptionKeys(fn, args, [...BASE_LAYER_ARG_KEYS, ...own, 'customObjects'], 'args');
}

/**
 * A tfjs-layers `Layer` whose weights are exactly the tensors of a
 * functional block's param record: `build` runs the block's seeded `init…`
 * and turns each tensor into a trainable weight named by its path; `call`
 * rebuilds the record from the weights and runs the functional block. One
 * implementation, two doors.
 */
export abstract class FunctionalLayer<P> extends layers.Layer {
  private template: P | undefined;
  private paramWeights: Array<[string, LayerVariable]> = [];

  /** Creates the block's params for this input shape (tensors the layer then owns). */
  protected abstract initParams(inputShape: number[]): P;

  /** Creates one weight per tensor of the functional params. */
  override build(inputShape: number[] | number[][]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as number[];
    const params = this.initParams(shape);
    this.paramWeights = treeLeavesWithPath(params).map(([path, value]) => {
      const weight = this.addWeight(
        path,
        value.shape,
        'float32',
        initializers.zeros(),
        undefined,
        true,
      );
      weight.write(value);
      return [path, weight];
    });
    // The template keeps the record's structure and numbers; its tensors are replaced on each call.
    this.template = params;
    for (const value of treeLeaves(params)) value.dispose();
    this.built = true;
  }

  /** The functional params, read from the layer's weights. */
  protected params(): P {
    const values = new Map(this.paramWeights.map(([path, weight]) => [path, weight.read()]));
    return treeMap(this.template as P, (t, path) => values.get(path) ?? t);
  }
}

/** Keyword arguments tfjs-layers passes to `call`. */
export type Kwargs = {
  /** True inside `model.fit`: dropout is on. */
  training?: boolean;
  [key: string]: unknown;
};

/** A layer's initialisation seed: the given one, or a random one fixed at construction (so it serializes). */
export function layerSeed(seed: number | undefined): number {
  return seed ?? Math.floor(Math.random() * 2 ** 31);
}

/** The last dimension of an input shape, which sizes the layer's weights. */
export function lastDim(fn: string, shape: number[]): number {
  const d = shape[shape.length - 1];
  if (d === undefined || d === null || d < 1) {
    throw new TfjsBlocksError(fn, 'inputShape', 'a known last dimension', String(d));
  }
  return d;
}

/** The first input of a layer called on one tensor or a list. */
export function firstInput(inputs: Tensor | Tensor[]): Tensor {
  return Array.isArray(inputs) ? inputs[0]! : inputs;
}

/** Drops undefined entries: tfjs configs are plain JSON. */
export function plainConfig(o: Record<string, unknown>): serialization.ConfigDict {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined),
  ) as serialization.ConfigDict;
}

/** Registers a layer class for `tf.loadLayersModel`, under the package name. */
export function registerLayer(cls: unknown): void {
  serialization.registerClass(
    cls as serialization.SerializableConstructor<serialization.Serializable>,
    'tfjs-blocks',
  );
}
