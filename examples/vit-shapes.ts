// Shapes: a small Vision Transformer (our vit) tells circles, squares,
// triangles and crosses apart in generated 16×16 grayscale images — random
// position, size, rotation, brightness and noise — and is scored on a
// held-out set drawn with another seed against chance (25%, the classes are
// balanced). Training images are drawn fresh for every batch; nothing downloads.
//   npx tsx examples/vit-shapes.ts [--backend cpu] [--steps 700] [--batch 64] [--test 1000]
//     [--layers 2] [--dim 48] [--margin 0.15]   (or --help)
import * as tf from '@tensorflow/tfjs-core';
import {
  countParameters,
  initVit,
  seededRandom,
  softmaxCrossEntropy,
  type VitConfig,
  vit,
} from 'tfjs-blocks';
import { readFlags, startBackend } from './cli';
import {
  cpuSeconds,
  makeTrainable,
  percent,
  requireBetterThan,
  secondsSince,
  train,
} from './data-common';

const flags = readFlags({
  command: 'npm run example:vit --',
  about:
    'A small ViT tells circles, squares, triangles and crosses apart in generated 16x16 images;\n' +
    'exits non-zero unless its held-out accuracy beats chance (25%) by more than --margin.',
  flags: {
    steps: { default: 700, help: 'training steps' },
    batch: { default: 64, help: 'images per step' },
    test: { default: 1000, help: 'held-out images' },
    layers: { default: 2, help: 'Transformer blocks' },
    dim: { default: 48, help: 'model width' },
    lr: { default: 3e-3, help: 'peak learning rate' },
    // 0.15: short runs clear it too (--steps 100: 49%; the full run: 84%).
    margin: { default: 0.15, help: 'how far above chance the held-out accuracy must be' },
    seed: { default: 1, help: 'seed of the init and the images' },
  },
});
const start = performance.now();
console.log(`backend ${await startBackend(flags)}`);

const SIZE = 16;
const CLASSES = ['circle', 'square', 'triangle', 'cross'] as const;

/** Whether a point (u, v), in the shape's own frame scaled to its radius, is inside the shape. */
const inside: Record<(typeof CLASSES)[number], (u: number, v: number) => boolean> = {
  circle: (u, v) => u * u + v * v <= 1,
  square: (u, v) => Math.abs(u) <= 0.8 && Math.abs(v) <= 0.8,
  triangle: (u, v) => v <= 0.8 && Math.abs(u) <= (v + 1) / 1.8, // apex up
  cross: (u, v) =>
    (Math.abs(u) <= 0.3 && Math.abs(v) <= 1) || (Math.abs(v) <= 0.3 && Math.abs(u) <= 1),
};

/**
 * `count` images `[count, 16, 16, 1]` and labels, classes in turn. Each
 * shape: radius 3-6.5 px, anywhere it fits, rotated by up to ±0.4 rad,
 * brightness 0.5-1 on a background of 0-0.3, Gaussian noise σ = 0.1;
 * pixels are 2×2-supersampled so edges are soft.
 */
function drawShapes(count: number, seed: number) {
  const random = seededRandom(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const pixels = new Float32Array(count * SIZE * SIZE);
  const labels: number[] = [];
  for (let n = 0; n < count; n++) {
    const label = n % CLASSES.length;
    const isInside = inside[CLASSES[label]!];
    const r = 3 + 3.5 * random();
    const [cx, cy] = [r + (SIZE - 2 * r) * random(), r + (SIZE - 2 * r) * random()];
    const angle = (random() - 0.5) * 0.8;
    const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
    const [background, foreground] = [0.3 * random(), 0.5 + 0.5 * random()];
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++) {
        let covered = 0;
        for (const [dx, dy] of [
          [0.25, 0.25],
          [0.75, 0.25],
          [0.25, 0.75],
          [0.75, 0.75],
        ] as const) {
          const [px, py] = [x + dx - cx, y + dy - cy];
          if (isInside((cos * px + sin * py) / r, (-sin * px + cos * py) / r)) covered += 0.25;
        }
        pixels[(n * SIZE + y) * SIZE + x] =
          background + (foreground - background) * covered + 0.1 * gaussian();
      }
    labels.push(label);
  }
  return {
    images: tf.tensor4d(pixels, [count, SIZE, SIZE, 1]),
    labels: tf.tensor1d(labels, 'int32'),
  };
}

const config: VitConfig = {
  imageSize: SIZE,
  patchSize: 4,
  channels: 1,
  dModel: flags.dim,
  numLayers: flags.layers,
  numHeads: 4,
  hidden: 2 * flags.dim,
  numClasses: CLASSES.length,
  pooling: 'cls',
};
const { params, variables } = makeTrainable(initVit(config, flags.seed));
console.log(
  `vit: ${SIZE}×${SIZE} images in ${(SIZE / config.patchSize) ** 2} patches of ${config.patchSize}×${config.patchSize}, ${flags.layers} blocks, dModel ${flags.dim}, [CLS] pooling; ${countParameters(params)} parameters`,
);

const trainStart = performance.now();
train(variables, {
  steps: flags.steps,
  learningRate: flags.lr,
  loss: (step) => {
    const { images, labels } = drawShapes(flags.batch, 1000 * flags.seed + step);
    const logits = vit(config, params, images, { training: true });
    return softmaxCrossEntropy(logits, labels) as tf.Scalar;
  },
  log: (step, loss) =>
    console.log(`step ${step}: loss ${loss.toFixed(3)} (${secondsSince(trainStart)} s)`),
});
const trainSeconds = secondsSince(trainStart);

const test = drawShapes(flags.test, -1 - flags.seed); // a seed no training batch uses
const predicted: number[] = [];
for (let i = 0; i < flags.test; i += 250) {
  const size = Math.min(250, flags.test - i);
  const batch = tf.tidy(() =>
    tf.argMax(vit(config, params, tf.slice(test.images, [i, 0, 0, 0], [size, -1, -1, -1])), -1),
  );
  predicted.push(...batch.dataSync());
  batch.dispose();
}
const truth = Array.from(test.labels.dataSync());
const accuracy = predicted.filter((p, i) => p === truth[i]).length / flags.test;
const perClass = CLASSES.map((name, c) => {
  const rows = truth.flatMap((t, i) => (t === c ? [i] : []));
  return `${name} ${percent(rows.filter((i) => predicted[i] === c).length / rows.length)}`;
});
console.log(
  `held-out accuracy ${percent(accuracy)} on ${flags.test} images (${perClass.join(', ')}); chance ${percent(1 / CLASSES.length)}; ${flags.steps} steps of ${flags.batch} in ${trainSeconds} s, ${secondsSince(start)} s in all (${cpuSeconds()} s of CPU)`,
);
requireBetterThan('held-out accuracy', accuracy, 1 / CLASSES.length, 'chance', flags.margin);
