// The first-names GPT of the demos: GPT-2's architecture, small, and the
// optimizer they train it with (clipping, then AdamW on a warm-up + cosine
// schedule over the run's steps).
import {
  adamw,
  chain,
  clipByGlobalNorm,
  type GradientTransformation,
  gpt2Config,
  warmupCosineDecaySchedule,
} from 'tfjs-blocks';
import { ALPHABET } from './names-data';

/** Context: a few names. */
export const TIME = 32;

export const namesGptConfig = gpt2Config({
  vocabSize: ALPHABET.length,
  maxLength: TIME,
  dModel: 64,
  numLayers: 2,
  numHeads: 4,
});

/** `chain(clipByGlobalNorm(1), adamw(...))` with the learning rate warming up and decaying over `steps`. */
export const namesGptOptimizer = (steps: number): GradientTransformation<unknown[]> =>
  chain(
    clipByGlobalNorm(1),
    adamw({
      learningRate: warmupCosineDecaySchedule({
        peakValue: 3e-3,
        warmupSteps: Math.min(100, Math.ceil(steps / 10)),
        decaySteps: steps,
        endValue: 3e-4,
      }),
      weightDecay: 0.01,
    }),
  );
