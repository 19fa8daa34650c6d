import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  cosineEmbeddingLoss,
  ctcLoss,
  distillationLoss,
  focalLoss,
  huberLoss,
  infoNceLoss,
  klDivergence,
  meanAbsoluteError,
  meanSquaredError,
  sigmoidBinaryCrossEntropy,
  softmaxCrossEntropy,
  tripletMarginLoss,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import {
  decode,
  type EncodedTensor,
  expectMatchesGolden,
  type GradientGolden,
  loadGoldens,
  values,
} from '../helpers/goldens';

interface LossGolden extends GradientGolden {
  constants: Record<string, EncodedTensor>;
  options: Record<string, unknown> & { inputLengths?: number[]; targetLengths?: number[] };
}
const goldens = loadGoldens<Record<string, LossGolden>>('losses');
const TOL = { rtol: 1e-5, atol: 1e-6 };

type Call = (
  inputs: Record<string, tf.Tensor>,
  c: Record<string, tf.Tensor>,
  // biome-ignore lint/suspicious/noExplicitAny: golden options pass through as recorded.
  o: any,
) => tf.Tensor;
const ce: Call = ({ logits }, { labels, weights }, o) =>
  softmaxCrossEntropy(logits!, labels!, { ...o, weights });
const ctc: Call = ({ logits }, { targets }, o) => {
  const { inputLengths, targetLengths, ...options } = o;
  return ctcLoss(
    tf.logSoftmax(logits!) as tf.Tensor3D,
    targets!,
    inputLengths!,
    targetLengths!,
    options,
  );
};

/** How each golden case calls our loss. */
const CALLS: Record<string, Call> = {
  ce_int: ce,
  ce_int_weights_smoothing_ignore: ce,
  ce_int_sum: ce,
  ce_int_none: ce,
  ce_all_ignored: ce,
  ce_probs_smoothing_weights: ce,
  ce_zloss: ce,
  ce_extreme: ce,
  ce_masked_mean: ce,
  ce_masked_sum: ce,
  ce_masked_none: ce,
  ce_masked_weights: ce,
  ce_masked_weights_sum: ce,
  ce_masked_smoothing: ce,
  ce_masked_smoothing_none: ce,
  ce_masked_zloss: ce,
  ce_masked_ignore_index_7: ce,
  ce_probs_masked: ce,
  bce_pos_weight: ({ logits }, { targets, posWeight }) =>
    sigmoidBinaryCrossEntropy(logits!, targets!, { posWeight }),
  bce_extreme: ({ logits }, { targets }) => sigmoidBinaryCrossEntropy(logits!, targets!),
  focal: ({ logits }, { targets }) => focalLoss(logits!, targets!),
  mse: ({ predictions }, { targets }) => meanSquaredError(predictions!, targets!),
  mae_sum: ({ predictions }, { targets }, o) => meanAbsoluteError(predictions!, targets!, o),
  huber: ({ predictions }, { targets }, o) => huberLoss(predictions!, targets!, o),
  kl_batchmean: ({ input }, { target }, o) => klDivergence(input!, target!, o),
  kl_mean: ({ input }, { target }, o) => klDivergence(input!, target!, o),
  kl_sum: ({ input }, { target }, o) => klDivergence(input!, target!, o),
  kl_none: ({ input }, { target }, o) => klDivergence(input!, target!, o),
  kl_log_target: ({ input }, { target }, o) => klDivergence(input!, target!, o),
  cosine_embedding: ({ x1, x2 }, { y }, o) => cosineEmbeddingLoss(x1!, x2!, y!, o),
  triplet_swap_False: ({ anchor, positive, negative }, _c, o) =>
    tripletMarginLoss(anchor!, positive!, negative!, o),
  triplet_swap_True: ({ anchor, positive, negative }, _c, o) =>
    tripletMarginLoss(anchor!, positive!, negative!, o),
  triplet_p1: ({ anchor, positive, negative }, _c, o) =>
    tripletMarginLoss(anchor!, positive!, negative!, o),
  infonce: ({ a, b }, _c, o) => infoNceLoss(a!, b!, o),
  distillation: ({ student }, { teacher, labels }, o) =>
    distillationLoss(student!, teacher!, { ...o, labels }),
  ctc_basic: ctc,
  ctc_repeated: ctc,
  ctc_blank_last: ctc,
  ctc_impossible_zero_inf: ctc,
  ctc_empty_target: ctc,
};

describeEachBackend('losses vs PyTorch', () => {
  for (const [name, golden] of Object.entries(goldens)) {
    if (name === 'ctc_impossible_inf') continue;
    it(`${name}: value and gradient`, () => {
      const call = CALLS[name];
      if (!call) throw new Error(`no call for golden ${name}`);
      const constants = Object.fromEntries(
        Object.entries(golden.constants).map(([k, v]) => [k, decode(v)]),
      );
      expectMatchesGolden(golden, (inputs) => call(inputs, constants, golden.options), TOL);
      tf.dispose(constants);
    });
  }

  it('ctc: an impossible alignment costs +Infinity without zeroInfinity', () => {
    const golden = goldens.ctc_impossible_inf!;
    expect(values(golden.output)).toEqual([Number.POSITIVE_INFINITY]);
    tf.tidy(() => {
      const loss = ctc(
        { logits: decode(golden.inputs.logits!) },
        { targets: decode(golden.constants.targets!) },
        golden.options,
      );
      expect(loss.dataSync()[0]).toBe(Number.POSITIVE_INFINITY);
    });
  });
});
