import { TfjsBlocksError } from '../../errors';
import { checkFlag, checkOptionKeys, optionKeys } from '../../internal/checks';
import { checkDecay } from '../hyperparameters';
import { trace } from '../transforms/trace';
import { checkSameStructure } from '../tree';
import type { GradientTransformation } from '../types';
import { type LearningRateOption, l2Recipe } from './recipe';

/** Options of {@link sgd}, as `torch.optim.SGD`'s. */
export interface SgdOptions extends LearningRateOption {
  /** Momentum factor. Default `0` (plain SGD). */
  momentum?: number;
  /** Dampening of momentum. Default `0`. */
  dampening?: number;
  /** Nesterov momentum. Default `false`. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient. Default `0`. */
  weightDecay?: number;
}

const SGD_KEYS = optionKeys<SgdOptions>({
  learningRate: true,
  momentum: true,
  dampening: true,
  nesterov: true,
  weightDecay: true,
});

/**
 * Stochastic gradient descent with PyTorch's semantics: optional L2 weight
 * decay, momentum (buffer starting at the first gradient), dampening and
 * Nesterov. Default learning rate `1e-3`.
 *
 * @example
 * ```ts
 * const optimizer = sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true });
 * ```
 */
export function sgd(options: SgdOptions = {}): GradientTransformation<unknown[]> {
  checkOptionKeys('sgd', options, SGD_KEYS);
  const nesterov = checkFlag('sgd', 'options.nesterov', options.nesterov, false);
  // Checked here: with momentum 0 no trace is built to check them (NaN and
  // negative momenta used to fall through to plain SGD).
  const momentum = checkDecay('sgd', 'options.momentum', options.momentum ?? 0);
  const dampening = checkDecay('sgd', 'options.dampening', options.dampening ?? 0);
  // As torch.optim.SGD: Nesterov's look-ahead needs momentum and no dampening.
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new TfjsBlocksError(
      'sgd',
      'options.nesterov',
      'false unless options.momentum > 0 and options.dampening = 0',
      `true with momentum ${momentum} and dampening ${dampening}`,
    );
  }
  const direction =
    momentum > 0
      ? [trace({ decay: momentum, dampening, nesterov }) as GradientTransformation<unknown>]
      : [];
  const recipe = l2Recipe('sgd', options.weightDecay, direction, options.learningRate ?? 1e-3);
  // Named here, as sgd's: plain SGD keeps no per-parameter state to check the
  // gradients against, and with momentum the trace would name itself.
  return {
    init: recipe.init,
    update(grads, state, params) {
      if (params) checkSameStructure('sgd', 'grads', grads, params);
      return recipe.update(grads, state, params);
    },
  };
}
