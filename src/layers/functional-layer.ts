import { serialization, type Tensor } from '@tensorflow/tfjs-core';
import { initializers, type LayerVariable, layers } from '@tensorflow/tfjs-layers';
import { TfjsBlocksError } from '../errors';
import { initLora, type LoraAdapter, withLora } from '../fine-tuning/lora';
import { checkLoraConfig, type LoraConfig } from '../fine-tuning/lora-config';
import { checkInteger, checkOptionKeys, optionKeys } from '../internal/checks';
import { treeLeaves, treeLeavesWithPath } from '../tree/leaves';
import { treeMap } from '../tree/map';

/**
 * LoRA on a layer (every `FunctionalLayer` takes it as `args.lora`): the
 * layer's own weights are frozen (non-trainable) and an adapter made by
 * `initLora(params, config, seed)` on the layer's param record (module
 * names are its dotted param paths, e.g. `query`, `attention.value`,
 * `feedForward.up`) gives the only trainable weights. Serialized with the
 * layer's config.
 *
 * @example
 * ```ts
 * const lora: LayerLoraArgs = { config: { r: 4, targetModules: ['query', 'value'] }, seed: 0 };
 * ```
 */
export type LayerLoraArgs = {
  /** Targets, rank, scale (`dropout` must be 0: a layer has no per-step seed for it). */
  config: LoraConfig;
  /** Seed of the adapter's `a` factors. Default: random, fixed at construction (so it serializes). */
  seed?: number;
};

/** The options every tfjs-layers `Layer` takes (name, inputShape, trainable, …), and LoRA. */
export type BaseLayerArgs = NonNullable<ConstructorParameters<typeof layers.Layer>[0]> & {
  /** LoRA on the layer's linears: see {@link LayerLoraArgs}. Default none. */
  lora?: LayerLoraArgs;
};

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
  lora: true,
});

const LAYER_LORA_KEYS = optionKeys<LayerLoraArgs>({ config: true, seed: true });

/** `args.lora` checked, with its seed fixed; undefined when absent. */
function checkLayerLora(
  fn: string,
  lora: unknown,
): { config: LoraConfig; seed: number } | undefined {
  if (lora === undefined) return undefined;
  checkOptionKeys(fn, lora, LAYER_LORA_KEYS, 'args.lora');
  const { config, seed } = lora as LayerLoraArgs;
  const resolved = checkLoraConfig(fn, config, 'args.lora.config');
  if (resolved.dropout !== 0) {
    throw new TfjsBlocksError(
      fn,
      'args.lora.config.dropout',
      '0 (a Layer has no per-step seed for LoRA dropout; use withLora with dropoutSeed in a functional loop)',
      String(resolved.dropout),
    );
  }
  if (seed !== undefined) checkInteger(fn, 'args.lora.seed', seed, Number.MIN_SAFE_INTEGER);
  return { config, seed: layerSeed(seed) };
}

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
  private readonly lora: { config: LoraConfig; seed: number } | undefined;
  private loraTemplate: LoraAdapter | undefined;
  private loraWeights: Array<[string, LayerVariable]> = [];

  constructor(args?: BaseLayerArgs) {
    super(args);
    this.lora = checkLayerLora('FunctionalLayer', args?.lora);
  }

  /** Creates the block's params for this input shape (tensors the layer then owns). */
  protected abstract initParams(inputShape: number[]): P;

  /** Creates one weight per tensor of the functional params. */
  override build(inputShape: number[] | number[][]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as number[];
    const params = this.initParams(shape);
    let adapter: LoraAdapter | undefined;
    try {
      adapter = this.lora && initLora(params as object, this.lora.config, this.lora.seed);
    } catch (e) {
      for (const value of treeLeaves(params)) value.dispose();
      throw e;
    }
    // With LoRA the layer's own weights are frozen: the adapter's are the trainable ones.
    this.paramWeights = this.addWeights(params, '', adapter === undefined);
    if (adapter !== undefined) {
      const { modules, modulesToSave } = adapter;
      this.loraWeights = this.addWeights({ modules, modulesToSave }, 'lora.', true);
      this.loraTemplate = adapter;
      for (const value of treeLeaves(adapter)) value.dispose();
    }
    // The template keeps the record's structure and numbers; its tensors are replaced on each call.
    this.template = params;
    for (const value of treeLeaves(params)) value.dispose();
    this.built = true;
  }

  /** One weight per tensor of `tree`, named `prefix` + its path, holding the tensor's value. */
  private addWeights(
    tree: unknown,
    prefix: string,
    trainable: boolean,
  ): Array<[string, LayerVariable]> {
    return treeLeavesWithPath(tree).map(([path, value]) => {
      const weight = this.addWeight(
        prefix + path,
        value.shape,
        'float32',
        initializers.zeros(),
        undefined,
        trainable,
      );
      weight.write(value);
      return [path, weight];
    });
  }

  /** The base config plus `lora` (with its fixed seed) when the layer has one. */
  override getConfig(): serialization.ConfigDict {
    const config = super.getConfig();
    return this.lora === undefined
      ? config
      : { ...config, lora: this.lora as unknown as serialization.ConfigDictValue };
  }

  /** The functional params, read from the layer's weights. */
  protected params(): P {
    const values = new Map(this.paramWeights.map(([path, weight]) => [path, weight.read()]));
    const params = treeMap(this.template as P, (t, path) => values.get(path) ?? t);
    if (this.loraTemplate === undefined) return params;
    const factors = new Map(this.loraWeights.map(([path, weight]) => [path, weight.read()]));
    const adapter = treeMap(this.loraTemplate, (t, path) => factors.get(path) ?? t);
    return withLora(params, adapter);
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
