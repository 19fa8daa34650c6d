import {
  adadelta,
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  type GradientTransformation,
  lamb,
  lion,
  nadam,
  radam,
  rmsprop,
  sgd,
} from '../../src/index';

/**
 * Every ready optimizer with its defaults (and the variants that take another
 * code path), as factories: each test builds its own. Tests that must cover
 * all of them (NaN handling, hardening) share this one list, so a new
 * optimizer is added once.
 */
export const READY_OPTIMIZERS: Array<[string, () => GradientTransformation<unknown>]> = [
  ['sgd', () => sgd({ learningRate: 0.1 })],
  ['sgd (nesterov)', () => sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true })],
  ['adam', () => adam()],
  ['adam (amsgrad)', () => adam({ amsgrad: true })],
  ['adamw', () => adamw()],
  ['adamax', () => adamax()],
  ['nadam', () => nadam()],
  ['radam', () => radam()],
  ['lion', () => lion()],
  ['lamb', () => lamb()],
  ['rmsprop', () => rmsprop()],
  ['rmsprop (centered)', () => rmsprop({ centered: true, momentum: 0.9 })],
  ['adagrad', () => adagrad()],
  ['adadelta', () => adadelta()],
  ['adafactor', () => adafactor()],
];
