// Knowledge distillation, measured: a teacher MLP learns a 4-class spiral
// from 2,000 labelled points. A student 45× smaller then learns either from
// the 100 labelled points it is given, or from the teacher's soft labels on
// the same 2,000 inputs used as an unlabelled transfer set (distillationLoss
// with alpha 1, as in Hinton et al.'s transfer-set setting).
//   npm run example:distillation [-- --backend cpu --steps 600]
import * as tf from '@tensorflow/tfjs-core';
import {
  adamw,
  countParameters,
  distillationLoss,
  initLinear,
  type LinearParams,
  linear,
  softmaxCrossEntropy,
  tokenAccuracy,
} from 'tfjs-blocks';
import { fail, readFlags, startBackend } from './cli';

const flags = readFlags({
  command: 'npm run example:distillation --',
  about: "A 45x smaller student learns a 4-class spiral from a teacher's soft labels.",
  flags: { steps: { default: 600, help: 'adamw steps for the teacher and for each student' } },
});
await startBackend(flags);
const STEPS = flags.steps;

/** Four interleaved spirals in 2-D: a task a small MLP finds hard. */
function spirals(count: number, seed: number) {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const xs: number[][] = [];
  const ys: number[] = [];
  for (let i = 0; i < count; i++) {
    const label = i % 4;
    const r = rand();
    const angle = label * (Math.PI / 2) + r * 3 * Math.PI + (rand() - 0.5) * 0.3;
    xs.push([r * Math.cos(angle), r * Math.sin(angle)]);
    ys.push(label);
  }
  return { x: tf.tensor2d(xs), y: tf.tensor1d(ys, 'int32') };
}

type Mlp = LinearParams[];
const initMlp = (widths: number[], seed: number): Mlp =>
  widths.slice(1).map((w, i) => initLinear({ inFeatures: widths[i]!, outFeatures: w }, seed + i));
// Each layer's config is its kernel's [inFeatures, outFeatures].
const apply = (layer: LinearParams, h: tf.Tensor) => {
  const [inFeatures, outFeatures] = layer.kernel.shape;
  return linear({ inFeatures, outFeatures }, layer, h);
};
const forward = (mlp: Mlp, x: tf.Tensor) =>
  mlp.reduce(
    (h, layer, i) => (i === mlp.length - 1 ? apply(layer, h) : tf.relu(apply(layer, h))),
    x,
  );

function train(
  mlp: Mlp,
  inputs: tf.Tensor,
  loss: (logits: tf.Tensor) => tf.Scalar,
  steps: number,
  learningRate: number,
): Mlp {
  const optimizer = adamw({ learningRate, weightDecay: 0 });
  const flat = () =>
    Object.fromEntries(
      mlp.flatMap((l, i) => [
        [`${i}.kernel`, l.kernel],
        [`${i}.bias`, l.bias!],
      ]),
    );
  let state = optimizer.init(flat());
  for (let step = 0; step < steps; step++) {
    const names = Object.keys(flat());
    const grads = tf.tidy(() => {
      const g = tf.grads((...ws: tf.Tensor[]) => loss(forward(rebuild(ws), inputs)))(
        names.map((n) => flat()[n]!),
      );
      return Object.fromEntries(names.map((n, i) => [n, g[i]!]));
    });
    const { updates, state: next } = optimizer.update(grads, state, flat());
    const updated = tf.tidy(() => names.map((n) => tf.add(flat()[n]!, updates[n]!)));
    tf.dispose([grads, updates, state as tf.TensorContainer, Object.values(flat())]);
    mlp = rebuild(updated);
    state = next;
  }
  tf.dispose(state as tf.TensorContainer);
  return mlp;
}
const rebuild = (ws: tf.Tensor[]): Mlp =>
  Array.from({ length: ws.length / 2 }, (_, i) => ({
    kernel: ws[2 * i] as tf.Tensor2D,
    bias: ws[2 * i + 1] as tf.Tensor1D,
  }));
const accuracy = (mlp: Mlp, data: { x: tf.Tensor; y: tf.Tensor }) =>
  tf.tidy(() => tokenAccuracy(forward(mlp, data.x), data.y).dataSync()[0]!);

const { x, y } = spirals(2000, 1);
const test = spirals(1000, 2);
const few = { x: tf.slice(x, [0, 0], [100, -1]), y: tf.slice(y, [0], [100]) };
const teacher = train(
  initMlp([2, 128, 128, 4], 10),
  x,
  (l) => softmaxCrossEntropy(l, y) as tf.Scalar,
  STEPS,
  1e-2,
);
const teacherLogits = tf.tidy(() => forward(teacher, x));
const studentWidths = [2, 16, 16, 4];
const hardOnly = train(
  initMlp(studentWidths, 20),
  few.x,
  (l) => softmaxCrossEntropy(l, few.y) as tf.Scalar,
  STEPS,
  1e-2,
);
const distilled = train(
  initMlp(studentWidths, 20),
  x,
  (l) => distillationLoss(l, teacherLogits, { temperature: 2 }) as tf.Scalar,
  STEPS,
  1e-2,
);
const rows = [
  ['teacher [2, 128, 128, 4], 2,000 labels', countParameters(teacher), accuracy(teacher, test)],
  ['student [2, 16, 16, 4], 100 labels', countParameters(hardOnly), accuracy(hardOnly, test)],
  ['student, distilled on 2,000 unlabelled', countParameters(distilled), accuracy(distilled, test)],
] as const;
console.log(
  `backend ${tf.getBackend()}; 4-class spirals, 1,000 test points, ${STEPS} adamw steps each, T = 2`,
);
for (const [name, params, acc] of rows)
  console.log(
    `${name.padEnd(42)} ${String(params).padStart(6)} params  test accuracy ${(100 * acc).toFixed(1)}%`,
  );
if (!(accuracy(teacher, test) > 0.25)) fail('the teacher is no better than chance (25%)');
