import {
  dispose,
  engine,
  mul,
  type NamedTensorMap,
  Optimizer,
  scalar,
  type Tensor,
  tidy,
  type Variable,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { applyUpdatesInPlace } from './apply-updates';
import { restoreOptimizerState, saveOptimizerState } from './state-io';
import { keepState, mapTensors, stateTensors } from './tree';
import type { GradientTransformation, TensorMap } from './types';

const SKELETON_NAME = '__tfjs_blocks_state__';

/** A tensor with a name, as `tf.Optimizer.getWeights` returns them. */
export type NamedTensor = {
  /** The weight's name. */
  name: string;
  /** Its value. */
  tensor: Tensor;
};

/**
 * A `tf.Optimizer` that runs a {@link GradientTransformation}, so
 * `model.compile({ optimizer })` and `model.fit` can use any chain. The
 * state is created on the first step for the variables that get gradients
 * (keyed by variable name); `getWeights`/`setWeights` save and restore it
 * with the step count, e.g. through `model.save(handler, { includeOptimizer: true })`.
 *
 * Its config holds no functions, so a model saved with it reloads without
 * the optimizer: compile the reloaded model with a new one and `setWeights`.
 *
 * @example
 * ```ts
 * model.compile({ optimizer: new TransformOptimizer(chain(clipByGlobalNorm(1), adamw({ learningRate: 1e-3 }))), loss: 'meanSquaredError' });
 * await model.fit(xs, ys, { epochs: 5 });
 * ```
 */
export class TransformOptimizer extends Optimizer {
  /** The class name tfjs uses for (de)serialisation. */
  static get className(): string {
    return 'TransformOptimizer';
  }

  private state: unknown;
  private names: string[] | undefined;

  /**
   * Multiplies every update (default 1). Learning-rate callbacks for
   * `model.fit` set it, since the chain's own learning rate lives inside
   * its transforms.
   */
  learningRateScale = 1;

  /**
   * Wraps a transformation as a `tf.Optimizer`.
   *
   * @param transform - the gradient transformation to apply (e.g. {@link adamw}).
   */
  constructor(readonly transform: GradientTransformation<unknown>) {
    super();
  }

  /** Applies one step of the transformation to the named variables' gradients. */
  applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
    const grads: TensorMap = Array.isArray(variableGradients)
      ? Object.fromEntries(variableGradients.map((g) => [g.name, g.tensor]))
      : variableGradients;
    const variables = this.variablesFor(Object.keys(grads));
    if (this.state === undefined) {
      this.names = Object.keys(variables);
      this.state = keepState(this.transform.init(variables));
    }
    const { updates, state } = this.transform.update(grads, this.state, variables);
    const scaled =
      this.learningRateScale === 1 ? updates : scaleAll(updates, this.learningRateScale);
    applyUpdatesInPlace(variables, scaled);
    dispose(Object.values(updates));
    if (scaled !== updates) dispose(Object.values(scaled));
    dispose(stateTensors(this.state));
    this.state = keepState(state);
    this.incrementIterations();
  }

  private variablesFor(names: string[]): Record<string, Variable> {
    const registered = engine().registeredVariables;
    const variables: Record<string, Variable> = {};
    for (const name of names) {
      const v = registered[name];
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

  /** The step count, then every state tensor, then the state's skeleton as a JSON string tensor. */
  override async getWeights(): Promise<NamedTensor[]> {
    const iterations = await this.saveIterations();
    if (this.state === undefined) return [iterations];
    const { tensors, skeleton } = saveOptimizerState({ names: this.names, state: this.state });
    const encoded = scalar(JSON.stringify(skeleton), 'string') as Tensor;
    return [
      iterations,
      ...Object.entries(tensors).map(([name, tensor]) => ({ name, tensor })),
      { name: SKELETON_NAME, tensor: encoded },
    ];
  }

  /** Restores what {@link TransformOptimizer.getWeights} returned. */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const skeletonEntry = rest.find((w) => w.name === SKELETON_NAME);
    if (!skeletonEntry) {
      if (rest.length === 0) return;
      throw new TfjsBlocksError(
        'TransformOptimizer.setWeights',
        'weightValues',
        `the entries of getWeights() including "${SKELETON_NAME}"`,
        `${rest.length} entries without it`,
      );
    }
    const skeleton = JSON.parse((await skeletonEntry.tensor.data())[0] as unknown as string);
    const tensors = Object.fromEntries(
      rest.filter((w) => w !== skeletonEntry).map((w) => [w.name, w.tensor]),
    );
    const restored = restoreOptimizerState<{ names: string[]; state: unknown }>({
      tensors,
      skeleton,
    });
    if (this.state !== undefined) dispose(stateTensors(this.state));
    this.names = restored.names;
    this.state = keepState(restored.state);
  }

  /** An empty config: transformations are functions and are not serialised. */
  getConfig(): Record<string, never> {
    return {};
  }

  /** Frees the state. */
  override dispose(): void {
    if (this.state !== undefined) dispose(stateTensors(this.state));
    this.state = undefined;
    super.dispose();
  }
}

function scaleAll(updates: TensorMap, factor: number): TensorMap {
  return tidy(() => mapTensors(updates, (u) => mul(u, factor)));
}
