import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { it } from 'vitest';
import {
  adadelta,
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  applyUpdates,
  type GradientTransformation,
  lamb,
  lion,
  nadam,
  radam,
  rmsprop,
  sgd,
  type TensorMap,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectCloseToGolden } from '../helpers/goldens';

interface Trajectory {
  optimizer: string;
  options: Record<string, unknown>;
  problem: string;
  grads: Array<Record<string, number[]>>;
  checkpoints: Record<string, Record<string, number[]>>;
}
interface Goldens {
  initial: Record<string, Record<string, { shape: number[]; data: number[] }>>;
  cases: Record<string, Trajectory>;
}
const goldens: Goldens = JSON.parse(
  readFileSync(fileURLToPath(new URL('../goldens/optimizers.json', import.meta.url)), 'utf8'),
);

// Each reference configuration's optimizer; options are passed as recorded.
const FACTORIES: Record<string, (o: never) => GradientTransformation<unknown>> = {
  sgd_momentum: sgd,
  sgd_nesterov_wd: sgd,
  sgd_dampening_wd: sgd,
  adam,
  adam_amsgrad_wd: adam,
  adamw,
  adamax_wd: adamax,
  nadam,
  radam,
  adagrad,
  adadelta,
  rmsprop_centered: rmsprop,
  rmsprop_momentum_wd: rmsprop,
  lion,
  lamb,
  adafactor_factored: adafactor,
  adafactor_momentum_wd: adafactor,
};

// "Max relative parameter error <= 1e-5", measured against each tensor's largest entry.
const TOL = { rtol: 1e-5, atol: 0 };

describeEachBackend('optimizers follow the reference trajectories for 50 steps', () => {
  for (const [name, trajectory] of Object.entries(goldens.cases)) {
    it(name, () => {
      const factory = FACTORIES[trajectory.optimizer];
      if (!factory) throw new Error(`no optimizer for ${trajectory.optimizer}`);
      const optimizer = factory(trajectory.options as never);
      const initial = goldens.initial[trajectory.problem]!;
      const shapes = Object.fromEntries(Object.entries(initial).map(([k, v]) => [k, v.shape]));
      let params: TensorMap = Object.fromEntries(
        Object.entries(initial).map(([k, v]) => [k, tf.tensor(v.data, v.shape)]),
      );
      let state = optimizer.init(params);
      trajectory.grads.forEach((stepGrads, index) => {
        const grads = Object.fromEntries(
          Object.entries(stepGrads).map(([k, data]) => [k, tf.tensor(data, shapes[k])]),
        );
        const { updates, state: next } = optimizer.update(grads, state, params);
        const newParams = applyUpdates(params, updates);
        tf.dispose([grads, updates, params, state as tf.TensorContainer]);
        params = newParams;
        state = next;
        const checkpoint = trajectory.checkpoints[String(index + 1)];
        if (checkpoint) {
          for (const [k, data] of Object.entries(checkpoint)) {
            expectCloseToGolden(params[k]!, { shape: shapes[k]!, data }, TOL);
          }
        }
      });
      tf.dispose([params, state as tf.TensorContainer]);
    });
  }
});
