import {
  dispose,
  engine,
  mul,
  type NamedTensorMap,
  Optimizer,
  scalar,
  type serialization,
  Tensor,
  tidy,
  type Variable,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkNumber,
  checkOptionKeys,
  describeValue,
  optionKeys,
  parseJson,
  RENAMED_OPTIONS,
} from '../internal/checks';
import { emptyRecord, ownEntry } from '../internal/records';
import { treeLeaves } from '../tree/leaves';
import type { TensorMap } from '../tree/types';
import { applyUpdatesInPlace } from './apply-updates';
import { chain } from './chain';
import { adafactor } from './optimizers/adafactor';
import { adam, adamw } from './optimizers/adam';
import {
  adadelta,
  adagrad,
  adamax,
  lamb,
  lion,
  nadam,
  radam,
  rmsprop,
} from './optimizers/adaptive';
import { sgd } from './optimizers/sgd';
import { restoreOptimizerState, saveOptimizerState } from './state-io';
import { weightDecayMask } from './transforms/add-decayed-weights';
import { clipByGlobalNorm } from './transforms/clip';
import { keepState, mapTensors } from './tree';
import type { GradientTransformation } from './types';

const SKELETON_NAME = '__tfjs_blocks_state__';

/** A tensor with a name, as `tf.Optimizer.getWeights` returns them. */
export type NamedTensor = {
  /** The weight's name. */
  name: string;
  /** Its value. */
  tensor: Tensor;
};

/** The ready optimizers a {@link OptimizerRecipe} can name. */
const READY_OPTIMIZERS: Record<
  ReadyOptimizerName,
  (options: never) => GradientTransformation<unknown>
> = {
  sgd,
  adam,
  adamw,
  adamax,
  nadam,
  radam,
  adagrad,
  adadelta,
  rmsprop,
  lion,
  lamb,
  adafactor,
};

/**
 * The name of a ready optimizer, as an {@link OptimizerRecipe} names it:
 * `'sgd'`, `'adam'`, `'adamw'`, `'adamax'`, `'nadam'`, `'radam'`,
 * `'adagrad'`, `'adadelta'`, `'rmsprop'`, `'lion'`, `'lamb'`, `'adafactor'`.
 *
 * @example
 * ```ts
 * const name: ReadyOptimizerName = 'lion';
 * new TransformOptimizer({ optimizer: name, options: { learningRate: 1e-4 } });
 * ```
 */
export type ReadyOptimizerName =
  | 'sgd'
  | 'adam'
  | 'adamw'
  | 'adamax'
  | 'nadam'
  | 'radam'
  | 'adagrad'
  | 'adadelta'
  | 'rmsprop'
  | 'lion'
  | 'lamb'
  | 'adafactor';

/**
 * A ready optimizer by name with its options, as data: what a
 * {@link TransformOptimizer} built from it writes into a saved model, so
 * `tf.loadLayersModel` can rebuild it.
 *
 * @example
 * ```ts
 * const recipe: OptimizerRecipe = { optimizer: 'adamw', options: { learningRate: 1e-3, mask: 'weightDecayMask' }, clipByGlobalNorm: 1 };
 * model.compile({ optimizer: new TransformOptimizer(recipe), loss: 'meanSquaredError' });
 * ```
 */
export interface OptimizerRecipe {
  /** The ready optimizer, e.g. `'adamw'` for {@link adamw}. */
  optimizer: ReadyOptimizerName;
  /**
   * Its options, as JSON data: numbers, booleans, strings, arrays and plain
   * objects (a schedule function cannot be saved: drive the rate with the
   * `learningRateScheduler` callback instead). `mask: 'weightDecayMask'`
   * stands for {@link weightDecayMask}. Default `{}` (the optimizer's defaults).
   */
  options?: Record<string, unknown>;
  /** Clip the gradients to this global norm first, as `chain(clipByGlobalNorm(n), optimizer)`. Default: no clipping. */
  clipByGlobalNorm?: number;
}

const RECIPE_KEYS = optionKeys<OptimizerRecipe>({
  optimizer: true,
  options: true,
  clipByGlobalNorm: true,
});

/** Where a chain saved without its code fails: a chain is code, not data. */
function chainNotSaved(): never {
  throw new TfjsBlocksError(
    'TransformOptimizer.applyGradients',
    'transform',
    'a gradient transformation; this optimizer was loaded from a saved model, which keeps the ' +
      'state of a custom chain but not its code: compile again with new TransformOptimizer(yourChain), then setWeights(await loadedOptimizer.getWeights())',
    'no transformation',
  );
}
const CHAIN_NOT_SAVED: GradientTransformation<unknown> = {
  init: chainNotSaved,
  update: chainNotSaved,
};

/**
 * A `tf.Optimizer` that runs a {@link GradientTransformation}, so
 * `model.compile({ optimizer })` and `model.fit` can use any chain.
 *
 * The state is created on the first step for the variables that get
 * gradients. It follows the variables, not their names: a model reloaded in
 * the same process has renamed variables (tfjs-layers appends `_2`), and
 * gradients whose names the state does not know are matched to it by
 * position, as tfjs's own optimizers do. `getWeights`/`setWeights` save and
 * restore it with the step count, e.g. through
 * `model.save(handler, { includeOptimizer: true })`.
 *
 * The class is registered for serialisation. Built from an
 * {@link OptimizerRecipe}, it comes back whole from `tf.loadLayersModel`;
 * built from a custom chain (code, not data), it comes back with its state
 * but no chain: compile again with the chain and `setWeights` the state
 * (docs/optimizers.md shows both).
 *
 * @example
 * ```ts
 * model.compile({ optimizer: new TransformOptimizer(chain(clipByGlobalNorm(1), adamw({ learningRate: 1e-3 }))), loss: 'meanSquaredError' });
 * await model.fit(xs, ys, { epochs: 5 });
 * // saved with the model and rebuilt by tf.loadLayersModel:
 * new TransformOptimizer({ optimizer: 'adamw', options: { learningRate: 1e-3 }, clipByGlobalNorm: 1 });
 * ```
 */
export class TransformOptimizer extends Optimizer {
  /** The class name tfjs uses for (de)serialisation. */
  static get className(): string {
    return 'TransformOptimizer';
  }

  /** The gradient transformation each step applies. */
  readonly transform: GradientTransformation<unknown>;
  /** The recipe it was built from, if any: what `getConfig` saves. */
  readonly recipe: OptimizerRecipe | undefined;

  private state: unknown;
  /** The state's parameter keys, in the order of the variables it was made (or saved) for. */
  private keys: string[] | undefined;
  /** Variable names the state knows under another key (matched by position). */
  private readonly aliases = new Map<string, string>();
  /** Tensors made by `getWeights` (step count, skeleton): ours until the next step. */
  private exported: Tensor[] = [];

  /**
   * Multiplies every update (default 1). Learning-rate callbacks for
   * `model.fit` set it, since the chain's own learning rate lives inside
   * its transforms.
   */
  learningRateScale = 1;

  /**
   * Wraps a transformation, or a ready optimizer named by a recipe, as a `tf.Optimizer`.
   *
   * @param transform - the gradient transformation to apply (e.g. `adamw()`),
   *   or an {@link OptimizerRecipe} (saved with the model, so it reloads whole).
   */
  constructor(transform: GradientTransformation<unknown> | OptimizerRecipe) {
    super();
    if (isTransformation(transform)) {
      this.transform = transform;
      this.recipe = undefined;
    } else {
      this.recipe = checkRecipe('TransformOptimizer', transform);
      this.transform = fromRecipe(this.recipe);
    }
  }

  /** Applies one step of the transformation to the named variables' gradients. */
  applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
    const entries: [string, Tensor][] = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor])
      : Object.entries(variableGradients);
    const names = entries.map(([name]) => name);
    const variables = variablesFor(names);
    this.releaseExported();
    if (this.state === undefined) {
      this.state = keepState(this.transform.init(variables));
      this.keys = names;
      this.aliases.clear();
    }
    const { keys, aliases } = this.stateKeysFor(names);
    const grads = emptyRecord<Tensor>();
    const params = emptyRecord<Variable>();
    entries.forEach(([name, g], i) => {
      grads[keys[i]!] = g;
      params[keys[i]!] = variables[name]!;
    });
    const { updates, state } = this.transform.update(grads, this.state, params);
    for (const [name, key] of aliases) this.aliases.set(name, key);
    const scaled =
      this.learningRateScale === 1 ? updates : scaleAll(updates, this.learningRateScale);
    applyUpdatesInPlace(params, scaled);
    // The same tensors twice when unscaled: disposing a disposed tensor does nothing.
    dispose([Object.values(updates), Object.values(scaled), treeLeaves(this.state)]);
    this.state = keepState(state);
    this.incrementIterations();
  }

  /**
   * The state's key for each variable name: by name when the state knows
   * every name (directly or as an alias), else by position when there are
   * as many gradients as keys (tfjs's own rule); the new aliases are kept
   * once the step has succeeded.
   */
  private stateKeysFor(names: string[]): { keys: string[]; aliases: Map<string, string> } {
    const known = new Set(this.keys);
    const byName = names.map((n) => this.aliases.get(n) ?? (known.has(n) ? n : undefined));
    if (byName.every((k) => k !== undefined))
      return { keys: byName as string[], aliases: new Map() };
    const keys = this.keys!;
    if (names.length === keys.length) {
      const aliases = new Map(names.map((n, i) => [n, keys[i]!] as const));
      return { keys: [...keys], aliases };
    }
    const unknown = names[byName.indexOf(undefined)]!;
    throw new TfjsBlocksError(
      'TransformOptimizer.applyGradients',
      `variableGradients["${unknown}"]`,
      `the gradient of a variable the optimizer state was made for (its ${keys.length} variables, ` +
        'matched by name, or all of them in the same order)',
      `a variable it does not know, among ${names.length} gradients`,
    );
  }

  /**
   * The step count, then every state tensor, then the state's skeleton as a
   * JSON string tensor. They are the optimizer's own, as with tfjs's
   * optimizers (so `model.save` leaks nothing): valid until the next step,
   * `setWeights` or `dispose`; do not dispose them, and clone them to keep a
   * snapshot while training goes on.
   */
  override async getWeights(): Promise<NamedTensor[]> {
    const iterations = await this.saveIterations();
    this.exported.push(iterations.tensor);
    if (this.state === undefined) return [iterations];
    const { tensors, skeleton } = saveOptimizerState({ names: this.keys, state: this.state });
    const encoded = scalar(JSON.stringify(skeleton), 'string') as Tensor;
    this.exported.push(encoded);
    return [
      iterations,
      ...Object.entries(tensors).map(([name, tensor]) => ({ name, tensor })),
      { name: SKELETON_NAME, tensor: encoded },
    ];
  }

  /**
   * Restores what {@link TransformOptimizer.getWeights} returned (or what a
   * saved model holds), copying the tensors: the caller keeps ownership.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const fn = 'TransformOptimizer.setWeights';
    checkNamedTensors(fn, weightValues);
    const rest = await this.extractIterations(weightValues);
    const skeletonEntry = rest.find((w) => w.name === SKELETON_NAME);
    if (!skeletonEntry) {
      if (rest.length === 0) return;
      throw new TfjsBlocksError(
        fn,
        'weightValues',
        `the entries of getWeights() including "${SKELETON_NAME}"`,
        `${rest.length} entries without it`,
      );
    }
    const skeleton = parseSkeleton(fn, (await skeletonEntry.tensor.data())[0]);
    // The skeleton's entry too: restoreOptimizerState reads only the names its markers give.
    const tensors = Object.fromEntries(rest.map((w) => [w.name, w.tensor]));
    const restored = restoreOptimizerState<{ names: string[]; state: unknown }>({
      tensors,
      skeleton,
    });
    this.releaseExported();
    dispose(treeLeaves(this.state));
    this.keys = restored.names;
    this.aliases.clear();
    this.state = keepState(restored.state);
  }

  /**
   * What `model.save(…, { includeOptimizer: true })` writes: the recipe (as
   * a JSON string, which tfjs-layers' key conversion leaves alone) and
   * `learningRateScale`. A custom chain writes no recipe.
   */
  getConfig(): serialization.ConfigDict {
    const config: serialization.ConfigDict = { learningRateScale: this.learningRateScale };
    if (this.recipe !== undefined) config.recipe = encodeRecipe(this.recipe);
    return config;
  }

  /**
   * Rebuilds the optimizer from {@link TransformOptimizer.getConfig} (tfjs
   * calls it in `tf.loadLayersModel`); without a recipe, the optimizer holds
   * a restored state but no chain and says so at its first step.
   */
  static override fromConfig<T extends serialization.Serializable>(
    cls: serialization.SerializableConstructor<T>,
    config: serialization.ConfigDict,
  ): T {
    const fn = 'TransformOptimizer.fromConfig';
    const recipe =
      typeof config.recipe === 'string'
        ? (upgradeRecipe(parseJson(fn, 'config.recipe', config.recipe)) as OptimizerRecipe)
        : undefined;
    const optimizer = new (cls as unknown as typeof TransformOptimizer)(recipe ?? CHAIN_NOT_SAVED);
    if (config.learningRateScale !== undefined) {
      optimizer.learningRateScale = checkNumber(
        fn,
        'config.learningRateScale',
        config.learningRateScale,
        { min: 0 },
      );
    }
    return optimizer as unknown as T;
  }

  /** Frees the state. */
  override dispose(): void {
    this.releaseExported();
    dispose(treeLeaves(this.state)); // none before the first step
    this.state = undefined;
    super.dispose();
  }

  private releaseExported(): void {
    dispose(this.exported);
    this.exported = [];
  }
}

// Registered for deserialization (a model saved with its optimizer) by the
// entry modules that export it, src/index.ts and src/optim/index.ts, not here:
// package.json declares side effects for the built entries only, and the
// bundler puts this module in a shared chunk that a user's bundler may drop.

function isTransformation(x: unknown): x is GradientTransformation<unknown> {
  return (
    x !== null &&
    typeof x === 'object' &&
    typeof (x as GradientTransformation<unknown>).init === 'function' &&
    typeof (x as GradientTransformation<unknown>).update === 'function'
  );
}

/** The registered variables of these names, or a typed error naming the first one missing. */
function variablesFor(names: string[]): Record<string, Variable> {
  const registered = engine().registeredVariables;
  const variables = emptyRecord<Variable>();
  for (const name of names) {
    const v = ownEntry(registered, name);
    if (!v)
      throw new TfjsBlocksError(
        'TransformOptimizer.applyGradients',
        `gradients["${name}"]`,
        'the gradient of a registered tf.Variable',
        'no variable of that name',
      );
    variables[name] = v;
  }
  return variables;
}

/** Checks a recipe's keys, name, options (JSON data only) and clip norm; returns a deep copy. */
function checkRecipe(fn: string, recipe: unknown): OptimizerRecipe {
  if (recipe === null || typeof recipe !== 'object' || Array.isArray(recipe)) {
    throw new TfjsBlocksError(
      fn,
      'transform',
      'a gradient transformation or a recipe { optimizer, options?, clipByGlobalNorm? }',
      describeValue(recipe),
    );
  }
  checkOptionKeys(fn, recipe, RECIPE_KEYS, 'recipe');
  const { optimizer, options, clipByGlobalNorm: clip } = recipe as OptimizerRecipe;
  if (typeof optimizer !== 'string' || !Object.hasOwn(READY_OPTIMIZERS, optimizer)) {
    throw new TfjsBlocksError(
      fn,
      'recipe.optimizer',
      `one of ${Object.keys(READY_OPTIMIZERS).join(', ')}`,
      describeValue(optimizer),
    );
  }
  if (options !== undefined) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new TfjsBlocksError(fn, 'recipe.options', 'an options object', describeValue(options));
    }
    checkJsonData(fn, 'recipe.options', options);
  }
  if (clip !== undefined)
    checkNumber(fn, 'recipe.clipByGlobalNorm', clip, { min: 0, minExclusive: true });
  return JSON.parse(JSON.stringify(recipe)) as OptimizerRecipe;
}

/** Throws unless `x` survives JSON unchanged (finite numbers, strings, booleans, null, arrays, plain objects). */
function checkJsonData(fn: string, path: string, x: unknown): void {
  if (x === null || typeof x === 'string' || typeof x === 'boolean') return;
  if (Number.isFinite(x)) return; // false for every non-number
  if (Array.isArray(x)) {
    x.forEach((v, i) => {
      checkJsonData(fn, `${path}[${i}]`, v);
    });
    return;
  }
  if (typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
    for (const [k, v] of Object.entries(x)) checkJsonData(fn, `${path}.${k}`, v);
    return;
  }
  throw new TfjsBlocksError(
    fn,
    path,
    'JSON data (a finite number, string, boolean, array or plain object): a recipe is saved ' +
      'with the model; for a schedule use the learningRateScheduler callback, for a custom mask ' +
      'or chain pass the transformation itself',
    typeof x === 'function' ? 'a function' : describeValue(x),
  );
}

/** The transformation a (checked) recipe names. */
function fromRecipe(recipe: OptimizerRecipe): GradientTransformation<unknown> {
  const options: Record<string, unknown> = { ...recipe.options };
  if (options.mask === 'weightDecayMask') options.mask = weightDecayMask;
  const make = READY_OPTIMIZERS[recipe.optimizer] as (
    options: Record<string, unknown>,
  ) => GradientTransformation<unknown>;
  const optimizer = make(options);
  return recipe.clipByGlobalNorm === undefined
    ? optimizer
    : (chain(
        clipByGlobalNorm(recipe.clipByGlobalNorm) as GradientTransformation<unknown>,
        optimizer,
      ) as GradientTransformation<unknown>);
}

/**
 * A saved recipe with its renamed option names replaced by the new ones
 * (`{ eps: 1e-6 }` → `{ epsilon: 1e-6 }`), so a model saved before the
 * rename still loads; a copy, and anything else is returned as it is for the
 * constructor to check. An old name next to its new one is left alone (the
 * optimizer then rejects it as an unknown option).
 */
function upgradeRecipe(recipe: unknown): unknown {
  // JSON null has no options, nor has an array, a string, a number or a boolean.
  const options = (recipe as { options?: unknown } | null)?.options;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) return recipe;
  // fromEntries, not assignment: an own `__proto__` key stays a key for the optimizer to reject.
  const upgraded = Object.fromEntries(
    Object.entries(options).map(([key, value]) => {
      const renamed = Object.hasOwn(RENAMED_OPTIONS, key) ? RENAMED_OPTIONS[key]! : undefined;
      return [renamed !== undefined && !Object.hasOwn(options, renamed) ? renamed : key, value];
    }),
  );
  return { ...(recipe as object), options: upgraded };
}

/**
 * The recipe as a JSON string with every `_` escaped: tfjs-layers converts
 * snake_case keys and string values of a loaded training config to
 * camelCase, which would rename parameters in a mask map.
 */
function encodeRecipe(recipe: OptimizerRecipe): string {
  return JSON.stringify(recipe).replace(/_/g, '\\u005f');
}

function parseSkeleton(fn: string, value: unknown): unknown {
  if (typeof value !== 'string') {
    throw new TfjsBlocksError(
      fn,
      `weightValues["${SKELETON_NAME}"]`,
      'a string tensor',
      describeValue(value),
    );
  }
  return parseJson(fn, `weightValues["${SKELETON_NAME}"]`, value);
}

/** Throws unless `weights` is an array of `{name, tensor}` with live tensors, step count first. */
function checkNamedTensors(fn: string, weights: unknown): asserts weights is NamedTensor[] {
  if (!Array.isArray(weights) || weights.length === 0) {
    throw new TfjsBlocksError(
      fn,
      'weightValues',
      'the non-empty list getWeights() returns, step count first',
      describeValue(weights),
    );
  }
  weights.forEach((w: unknown, i) => {
    const entry = w as Partial<NamedTensor> | null;
    if (entry === null || typeof entry !== 'object' || typeof entry.name !== 'string') {
      throw new TfjsBlocksError(
        fn,
        `weightValues[${i}]`,
        'a { name, tensor } entry',
        describeValue(w),
      );
    }
    const t = entry.tensor;
    if (!(t instanceof Tensor) || t.isDisposed) {
      throw new TfjsBlocksError(
        fn,
        `weightValues["${entry.name}"]`,
        "a live tensor (getWeights() returns the optimizer's own tensors, valid until its next " +
          'step: clone them to keep a snapshot)',
        t instanceof Tensor ? 'a disposed tensor' : describeValue(t),
      );
    }
  });
}

function scaleAll(updates: TensorMap, factor: number): TensorMap {
  return tidy(() => mapTensors(updates, (u) => mul(u, factor)));
}
