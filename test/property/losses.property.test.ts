import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { softmaxCrossEntropy } from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { runs } from './support';

const TOL = { rtol: 1e-5, atol: 1e-5 };

/** Logits [rows, classes] (rows = batch · time, 1-12; classes 2-6) of scale up to 30, and labels (some ignored). */
const cases = fc
  .record({
    rows: fc.integer({ min: 1, max: 12 }),
    classes: fc.integer({ min: 2, max: 6 }),
    scale: fc.constantFrom(0.1, 1, 30),
  })
  .chain(({ rows, classes, scale }) =>
    fc.record({
      rows: fc.constant(rows),
      classes: fc.constant(classes),
      logits: fc.array(
        fc.integer({ min: -1000, max: 1000 }).map((x) => (x / 1000) * scale),
        { minLength: rows * classes, maxLength: rows * classes },
      ),
      labels: fc.array(fc.oneof(fc.integer({ min: 0, max: classes - 1 }), fc.constant(-100)), {
        minLength: rows,
        maxLength: rows,
      }),
    }),
  );

/** log softmax of one row in float64. */
function logSoftmaxRow(row: number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
  return row.map((x) => x - lse);
}

function rowsOf(logits: number[], classes: number): number[][] {
  return Array.from({ length: logits.length / classes }, (_, r) =>
    logits.slice(r * classes, (r + 1) * classes),
  );
}

describeEachBackend('property: softmaxCrossEntropy == a plain logSoftmax reference', () => {
  it("integer labels with ignored targets: 'none', 'mean' and 'sum' (50 runs)", () => {
    fc.assert(
      fc.property(cases, ({ rows, classes, logits, labels }) => {
        tf.tidy(() => {
          const x = tf.tensor2d(logits, [rows, classes]);
          const y = tf.tensor1d(labels, 'int32');
          const perRow = rowsOf(logits, classes).map((row, r) =>
            labels[r] === -100 ? 0 : -logSoftmaxRow(row)[labels[r]!]!,
          );
          const count = labels.filter((l) => l !== -100).length;
          const total = perRow.reduce((s, v) => s + v, 0);
          expectClose(softmaxCrossEntropy(x, y, { reduction: 'none' }), perRow, TOL);
          const mean = softmaxCrossEntropy(x, y).dataSync()[0]!;
          const sum = softmaxCrossEntropy(x, y, { reduction: 'sum' }).dataSync()[0]!;
          expectClose(sum, total, TOL);
          // Every target ignored: the mean is 0 (PyTorch gives NaN), never NaN.
          expectClose(mean, count === 0 ? 0 : total / count, TOL);
          expectClose(sum, mean * count, TOL);
        });
      }),
      runs(50),
    );
  });

  it("probability labels: -Σ p log softmax, and 'sum' == 'mean' · rows (50 runs)", () => {
    fc.assert(
      fc.property(cases, fc.integer({ min: 0, max: 10_000 }), ({ rows, classes, logits }, seed) => {
        tf.tidy(() => {
          const x = tf.tensor2d(logits, [rows, classes]);
          const p = tf.softmax(tf.randomNormal([rows, classes], 0, 2, 'float32', seed));
          const probs = rowsOf(Array.from(p.dataSync()), classes);
          const perRow = rowsOf(logits, classes).map(
            (row, r) => -logSoftmaxRow(row).reduce((s, l, c) => s + probs[r]![c]! * l, 0),
          );
          const mean = softmaxCrossEntropy(x, p).dataSync()[0]!;
          const sum = softmaxCrossEntropy(x, p, { reduction: 'sum' }).dataSync()[0]!;
          expectClose(softmaxCrossEntropy(x, p, { reduction: 'none' }), perRow, TOL);
          expectClose(sum, mean * rows, TOL);
          expect(Number.isFinite(mean)).toBe(true);
        });
      }),
      runs(50),
    );
  });
});
