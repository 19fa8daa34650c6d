import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { ctcLoss } from '../../src/index';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { argumentOf } from './argument-of';

// biome-ignore lint/suspicious/noExplicitAny: bad arguments are the point of the rejection tests.
const bad = (x: unknown) => x as any;
const int = (values: number[], shape?: number[]) => tf.tensor(values, shape, 'int32');

/**
 * The CTC loss of one sequence by brute force: -log of the summed
 * probability of every path over the first `frames` frames that collapses
 * (merge repeats, drop blanks) to `target`. `lp[t][c]` are log-probabilities.
 */
function bruteForceCtc(lp: number[][], frames: number, target: number[], blank: number): number {
  const classes = lp[0]!.length;
  let total = 0;
  const path: number[] = [];
  const walk = (t: number, logP: number) => {
    if (t === frames) {
      const collapsed: number[] = [];
      path.forEach((c, i) => {
        if (c !== blank && (i === 0 || c !== path[i - 1])) collapsed.push(c);
      });
      if (collapsed.length === target.length && collapsed.every((c, i) => c === target[i])) {
        total += Math.exp(logP);
      }
      return;
    }
    for (let c = 0; c < classes; c++) {
      path.push(c);
      walk(t + 1, logP + lp[t]![c]!);
      path.pop();
    }
  };
  walk(0, 0);
  return -Math.log(total);
}

/** `[time, batch, classes]` log-probabilities, deterministic, and the same as nested arrays per batch entry. */
function logProbsOf(time: number, batch: number, classes: number, seed: number) {
  const lp = tf.tidy(() =>
    tf.logSoftmax(tf.randomNormal([time, batch, classes], 0, 1.5, 'float32', seed)),
  ) as tf.Tensor3D;
  const values = lp.arraySync();
  const perBatch = Array.from({ length: batch }, (_, b) => values.map((frame) => frame[b]!));
  return { lp, perBatch };
}

describe('ctcLoss against a brute-force sum over all alignments', () => {
  it('padded targets of mixed lengths (empty, repeated, distinct), shorter inputs, every reduction', () => {
    const { lp, perBatch } = logProbsOf(5, 4, 3, 11);
    // blank 0; sequence 1 repeats a label (needs a blank between), 2 is empty.
    const sequences = [[1, 2], [1, 1], [], [2]];
    const inputs = [5, 4, 3, 5];
    const targets = int([1, 2, 1, 1, 0, 0, 2, 0], [4, 2]);
    const lengths = sequences.map((s) => s.length);
    const expected = sequences.map((s, b) => bruteForceCtc(perBatch[b]!, inputs[b]!, s, 0));
    tf.tidy(() => {
      expectClose(ctcLoss(lp, targets, inputs, lengths, { reduction: 'none' }), expected, {
        rtol: 1e-5,
        atol: 1e-5,
      });
      const sum = expected.reduce((a, b) => a + b, 0);
      expectClose(ctcLoss(lp, targets, inputs, lengths, { reduction: 'sum' }), sum, {
        rtol: 1e-5,
      });
      // 'mean': each loss over its target length (1 for an empty target), then the mean.
      const mean = expected.reduce((a, l, b) => a + l / Math.max(lengths[b]!, 1), 0) / 4;
      expectClose(ctcLoss(lp, targets, inputs, lengths), mean, { rtol: 1e-5 });
    });
    tf.dispose([lp, targets]);
  });

  it('the last class as blank, labels adjacent to it, and a target filling the input', () => {
    const { lp, perBatch } = logProbsOf(4, 3, 4, 12);
    const sequences = [
      [0, 2],
      [2, 2],
      [0, 1, 2, 0],
    ];
    const inputs = [4, 4, 4];
    const targets = int([0, 2, 0, 0, 2, 2, 0, 0, 0, 1, 2, 0], [3, 4]);
    const expected = sequences.map((s, b) => bruteForceCtc(perBatch[b]!, inputs[b]!, s, 3));
    tf.tidy(() => {
      const losses = ctcLoss(lp, targets, inputs, [2, 2, 4], { blank: 3, reduction: 'none' });
      expectClose(losses, expected, { rtol: 1e-5, atol: 1e-5 });
    });
    tf.dispose([lp, targets]);
  });

  it('a blank in the middle of the classes', () => {
    const { lp, perBatch } = logProbsOf(4, 2, 3, 13);
    const sequences = [[0, 2, 0], [2]];
    const targets = int([0, 2, 0, 2, 0, 0], [2, 3]);
    const expected = sequences.map((s, b) => bruteForceCtc(perBatch[b]!, 4, s, 1));
    tf.tidy(() =>
      expectClose(ctcLoss(lp, targets, [4, 4], [3, 1], { blank: 1, reduction: 'none' }), expected, {
        rtol: 1e-5,
        atol: 1e-5,
      }),
    );
    tf.dispose([lp, targets]);
  });

  it('one frame: the loss is -log p(label), or -log p(blank) for an empty target', () => {
    const { lp, perBatch } = logProbsOf(1, 2, 3, 14);
    tf.tidy(() => {
      const losses = ctcLoss(lp, int([2, 0], [2, 1]), [1, 1], [1, 0], { reduction: 'none' });
      expectClose(losses, [-perBatch[0]![0]![2]!, -perBatch[1]![0]![0]!], { rtol: 1e-6 });
    });
    tf.dispose(lp);
  });

  it('only empty targets: each loss is -Σ log p(blank) over its frames', () => {
    const { lp, perBatch } = logProbsOf(3, 2, 3, 15);
    const expected = [
      -(perBatch[0]![0]![0]! + perBatch[0]![1]![0]! + perBatch[0]![2]![0]!),
      -(perBatch[1]![0]![0]! + perBatch[1]![1]![0]!),
    ];
    tf.tidy(() => {
      expectClose(ctcLoss(lp, int([], [2, 0]), [3, 2], [0, 0], { reduction: 'none' }), expected, {
        rtol: 1e-5,
      });
      expectClose(ctcLoss(lp, int([]), [3, 2], [0, 0], { reduction: 'none' }), expected, {
        rtol: 1e-5,
      });
      expectClose(ctcLoss(lp, int([]), [3, 2], [0, 0]), (expected[0]! + expected[1]!) / 2, {
        rtol: 1e-5,
      });
    });
    tf.dispose(lp);
  });
});

describe('ctcLoss on -Infinity log-probabilities', () => {
  it('a class that can never occur (-Infinity) changes nothing: finite loss and gradient, as by brute force', () => {
    const { perBatch } = logProbsOf(4, 1, 3, 20);
    // Class 2 impossible in every frame; the rest renormalised.
    const frames = perBatch[0]!.map((frame) => {
      const lse = Math.log(Math.exp(frame[0]!) + Math.exp(frame[1]!));
      return [frame[0]! - lse, frame[1]! - lse, Number.NEGATIVE_INFINITY];
    });
    const lp = tf.tensor3d(frames.map((f) => [f]));
    const targets = int([1, 1], [1, 2]);
    tf.tidy(() => {
      expectClose(
        ctcLoss(lp, targets, [4], [2], { reduction: 'none' }),
        [bruteForceCtc(frames, 4, [1, 1], 0)],
        { rtol: 1e-5 },
      );
      const g = tf.grad(
        (x: tf.Tensor) => ctcLoss(x as tf.Tensor3D, targets, [4], [2]) as tf.Scalar,
      )(lp);
      expect(tf.all(tf.isFinite(g)).dataSync()[0]).toBe(1);
    });
    tf.dispose([lp, targets]);
  });
});

describe('ctcLoss target and length layouts agree', () => {
  it('concatenated targets and int32 length tensors equal padded targets and arrays', () => {
    const { lp } = logProbsOf(5, 3, 4, 16);
    const padded = int([1, 2, 3, 3, 0, 0, 2, 1, 0], [3, 3]);
    const concatenated = int([1, 2, 3, 3, 2, 1]);
    const inputs = int([5, 4, 5]);
    const lengths = int([3, 1, 2]);
    tf.tidy(() => {
      const expected = ctcLoss(lp, padded, [5, 4, 5], [3, 1, 2], { reduction: 'none' });
      expectClose(ctcLoss(lp, concatenated, inputs, lengths, { reduction: 'none' }), expected, {
        rtol: 0,
        atol: 0,
      });
      expectClose(ctcLoss(lp, padded, inputs, [3, 1, 2], { reduction: 'none' }), expected, {
        rtol: 0,
        atol: 0,
      });
    });
    tf.dispose([lp, padded, concatenated, inputs, lengths]);
  });
});

describe('ctcLoss on impossible alignments', () => {
  it('+Infinity without zeroInfinity, 0 with it, and a zero gradient there either way', () => {
    const { lp, perBatch } = logProbsOf(2, 2, 3, 17);
    // [1, 1] needs three frames (1, blank, 1); sequence 1 is possible.
    const targets = int([1, 1, 2, 0], [2, 2]);
    const possible = bruteForceCtc(perBatch[1]!, 2, [2], 0);
    tf.tidy(() => {
      expectClose(
        ctcLoss(lp, targets, [2, 2], [2, 1], { reduction: 'none' }),
        [Number.POSITIVE_INFINITY, possible],
        { rtol: 1e-5 },
      );
      expectClose(
        ctcLoss(lp, targets, [2, 2], [2, 1], { reduction: 'none', zeroInfinity: true }),
        [0, possible],
        { rtol: 1e-5 },
      );
      expectClose(
        ctcLoss(lp, targets, [2, 2], [2, 1], { reduction: 'sum', zeroInfinity: false }),
        Number.POSITIVE_INFINITY,
      );
      for (const zeroInfinity of [true, false]) {
        const grad = tf.grad(
          (x: tf.Tensor) =>
            ctcLoss(x as tf.Tensor3D, targets, [2, 2], [2, 1], {
              reduction: 'sum',
              zeroInfinity,
            }) as tf.Scalar,
        )(lp);
        const g = grad.arraySync() as number[][][];
        // Sequence 0 (impossible): no gradient; sequence 1: finite, not all zero.
        expect(g.flatMap((frame) => frame[0]!)).toEqual([0, 0, 0, 0, 0, 0]);
        const row1 = g.flatMap((frame) => frame[1]!);
        expect(row1.every(Number.isFinite)).toBe(true);
        expect(row1.some((v) => v !== 0)).toBe(true);
      }
    });
    tf.dispose([lp, targets]);
  });

  it('a gradient equal to finite differences of the brute-force loss', () => {
    const { lp } = logProbsOf(3, 1, 3, 18);
    const targets = int([1, 2], [1, 2]);
    const grad = tf.tidy(() =>
      tf.grad((x: tf.Tensor) => ctcLoss(x as tf.Tensor3D, targets, [3], [2]) as tf.Scalar)(lp),
    );
    const g = grad.arraySync() as number[][][];
    const base = lp.arraySync();
    const h = 1e-3;
    for (let t = 0; t < 3; t++) {
      for (let c = 0; c < 3; c++) {
        const at = (d: number) => {
          const frames = base.map((frame, i) =>
            frame[0]!.map((v, j) => (i === t && j === c ? v + d : v)),
          );
          return bruteForceCtc(frames, 3, [1, 2], 0) / 2; // 'mean' over a target of length 2
        };
        const numeric = (at(h) - at(-h)) / (2 * h);
        expect(Math.abs(g[t]![0]![c]! - numeric), `t ${t}, c ${c}`).toBeLessThan(2e-3);
      }
    }
    tf.dispose([lp, targets, grad]);
  });
});

describe('ctcLoss memory', () => {
  it('adds exactly its output, with tensor lengths, concatenated targets and zeroInfinity', () => {
    const { lp } = logProbsOf(4, 2, 3, 19);
    const targets = int([1, 2, 2]);
    const lengths = int([2, 1]);
    expectNoLeak(() => ctcLoss(lp, targets, lengths, lengths, { zeroInfinity: true }));
    expectNoLeak(() =>
      ctcLoss(lp, targets, [4, 1], [2, 1], { reduction: 'none', zeroInfinity: true }),
    );
    tf.dispose([lp, targets, lengths]);
  });
});

describe('ctcLoss rejects bad input, naming the argument', () => {
  const cases: Array<[string, () => unknown, string]> = [
    [
      'logProbs of rank 2',
      () => ctcLoss(bad(tf.zeros([5, 4])), int([1], [1, 1]), [5], [1]),
      'logProbs',
    ],
    [
      'int32 logProbs',
      () => ctcLoss(bad(tf.zeros([5, 1, 4], 'int32')), int([1], [1, 1]), [5], [1]),
      'logProbs',
    ],
    [
      'an empty time axis',
      () => ctcLoss(tf.zeros([0, 1, 4]) as tf.Tensor3D, int([1], [1, 1]), [1], [1]),
      'logProbs',
    ],
    [
      'blank = classes',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1], [1, 1]), [5], [1], { blank: 4 }),
      'options.blank',
    ],
    [
      'a negative blank',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1], [1, 1]), [5], [1], { blank: -1 }),
      'options.blank',
    ],
    [
      'a fractional blank',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1], [1, 1]), [5], [1], { blank: 0.5 }),
      'options.blank',
    ],
    [
      'an unknown reduction',
      () =>
        ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1], [1, 1]), [5], [1], {
          reduction: bad('batchmean'),
        }),
      'options.reduction',
    ],
    [
      'options null',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1], [1, 1]), [5], [1], bad(null)),
      'options',
    ],
    [
      'float32 inputLengths',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1], [1, 1]), bad(tf.ones([1])), [1]),
      'inputLengths',
    ],
    [
      'int32 inputLengths of rank 2',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1], [1, 1]), int([5], [1, 1]), [1]),
      'inputLengths',
    ],
    [
      'inputLengths a number',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1], [1, 1]), bad(5), [1]),
      'inputLengths',
    ],
    [
      'too many targetLengths',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1], [1, 1]), [5], [1, 1]),
      'targetLengths',
    ],
    [
      'a fractional input length',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1], [1, 1]), [4.5], [1]),
      'inputLengths[0]',
    ],
    [
      'an input length of 0',
      () => ctcLoss(tf.zeros([5, 2, 4]) as tf.Tensor3D, int([1, 1], [2, 1]), [5, 0], [1, 1]),
      'inputLengths[1]',
    ],
    [
      'a negative target length',
      () => ctcLoss(tf.zeros([5, 2, 4]) as tf.Tensor3D, int([1, 1], [2, 1]), [5, 5], [1, -1]),
      'targetLengths[1]',
    ],
    [
      'float targets',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, tf.ones([1, 1]), [5], [1]),
      'targets',
    ],
    [
      'targets of rank 3',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1], [1, 1, 1]), [5], [1]),
      'targets',
    ],
    [
      'scalar targets',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, tf.scalar(1, 'int32'), [5], [1]),
      'targets',
    ],
    [
      'targets an array',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, bad([[1]]), [5], [1]),
      'targets',
    ],
    [
      'padded targets with more rows than the batch',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1, 2], [2, 1]), [5], [1]),
      'targets.shape[0]',
    ],
    [
      'a target length beyond the padded width',
      () => ctcLoss(tf.zeros([5, 2, 4]) as tf.Tensor3D, int([1, 2, 3, 1], [2, 2]), [5, 5], [2, 3]),
      'targetLengths[1]',
    ],
    [
      "lengths not summing to the concatenated targets' size",
      () => ctcLoss(tf.zeros([5, 2, 4]) as tf.Tensor3D, int([1, 2, 3]), [5, 5], [1, 1]),
      'targetLengths',
    ],
    [
      'lengths summing past the concatenated targets',
      () => ctcLoss(tf.zeros([5, 2, 4]) as tf.Tensor3D, int([1, 2, 3]), [5, 5], [2, 2]),
      'targetLengths',
    ],
    [
      'a label = classes',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1, 4], [1, 2]), [5], [2]),
      'targets (sequence 0, position 1)',
    ],
    [
      'a negative label',
      () => ctcLoss(tf.zeros([5, 2, 4]) as tf.Tensor3D, int([1, 2, -1]), [5, 5], [1, 2]),
      'targets (sequence 1, position 1)',
    ],
    [
      'the blank (3) as a label',
      () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([3], [1, 1]), [5], [1], { blank: 3 }),
      'targets (sequence 0, position 0)',
    ],
  ];
  for (const [name, call, argument] of cases) {
    it(`${name}: ${argument}`, () => {
      expect(argumentOf(call)).toBe(argument);
    });
  }

  it('accepts the boundaries: input length = time, target length = width, label = classes - 1, blank = classes - 1', () => {
    tf.tidy(() => {
      const lp = tf.logSoftmax(tf.zeros([3, 1, 4])) as tf.Tensor3D;
      const ok = ctcLoss(lp, int([2, 0], [1, 2]), [3], [2], { blank: 3, reduction: 'none' });
      expect(Number.isFinite(ok.dataSync()[0]!)).toBe(true);
      const labelLast = ctcLoss(lp, int([3], [1, 1]), int([3]), int([1]));
      expect(Number.isFinite(labelLast.dataSync()[0]!)).toBe(true);
    });
  });
});
