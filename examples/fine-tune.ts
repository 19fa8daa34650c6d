// Fine-tuning through model.fit: a character-level language model built from
// our Layers inside a plain tf.model, trained with our adamw (TransformOptimizer),
// a warmup-cosine schedule callback and our cross-entropy loss; saved and
// reloaded with the Node handler, then fine-tuned on a second text.
//   npx tsx examples/fine-tune.ts [--backend cpu] [--epochs 12] [--out ./runs/fine-tune]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  adamw,
  learningRateScheduler,
  softmaxCrossEntropy,
  TransformOptimizer,
  toLayersLoss,
  warmupCosineDecaySchedule,
} from 'tfjs-blocks';
import {
  RMSNormalization,
  TokenAndPositionEmbedding,
  TransformerDecoderBlock,
} from 'tfjs-blocks/layers';
import { nodeFileSystem } from 'tfjs-blocks/node';
import { fail, readFlags, startBackend } from './cli';

const flags = readFlags({
  command: 'npm run example:fine-tune --',
  about:
    'Our Layers in a tf.model: model.fit with our optimizer, schedule and loss, saved, reloaded, fine-tuned.',
  flags: {
    epochs: { default: 12, help: 'epochs of pre-training' },
    out: { default: '', help: 'folder for the saved models (empty: a new temporary folder)' },
  },
});
const epochs = flags.epochs;
const out = flags.out || mkdtempSync(join(tmpdir(), 'tfjs-blocks-fine-tune-'));
console.log(`backend ${await startBackend(flags)}`);

const VOCAB = 96; // printable ASCII, ' ' = 0
const T = 32;
const BATCH = 16;

/** Generated text: nothing downloads. The two corpora share an alphabet but not their patterns. */
function corpus(kind: 'animals' | 'numbers', length: number, seed: number): string {
  let s = seed;
  const pick = <X>(xs: X[]) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return xs[s % xs.length]!;
  };
  const words =
    kind === 'animals'
      ? () =>
          `the ${pick(['cat', 'dog', 'fox', 'owl'])} ${pick(['sat', 'ran', 'hid'])} on the ${pick(['mat', 'log', 'hill'])}. `
      : () => `${pick(['one', 'two', 'six'])} plus ${pick(['one', 'two', 'six'])} is some number. `;
  let text = '';
  while (text.length < length) text += words();
  return text;
}

/** Windows of `T + 1` characters: inputs are the first T, targets (one-hot) the last T. */
function batches(text: string): { x: tf.Tensor2D; y: tf.Tensor3D } {
  const codes = Array.from(text, (c) => c.charCodeAt(0) - 32);
  const starts = Array.from({ length: Math.floor((codes.length - T - 1) / 7) }, (_, i) => i * 7);
  // Windows starting every 7 characters, shifted by `offset` (0 for inputs, 1 for targets).
  const windows = (offset: number) =>
    tf.tensor2d(
      starts.map((st) => codes.slice(st + offset, st + offset + T)),
      [starts.length, T],
      'int32',
    );
  const x = windows(0);
  const y = tf.tidy(() => tf.cast(tf.oneHot(windows(1), VOCAB), 'float32')) as tf.Tensor3D;
  return { x, y };
}

function build(): tfl.LayersModel {
  const ids = tfl.input({ shape: [T], dtype: 'int32' });
  let h = new TokenAndPositionEmbedding({
    vocabSize: VOCAB,
    maxLength: T,
    dModel: 32,
    seed: 1,
  }).apply(ids) as tfl.SymbolicTensor;
  for (let i = 0; i < 2; i++) {
    h = new TransformerDecoderBlock({
      numHeads: 4,
      norm: { kind: 'rms' },
      feedForward: { hidden: 64, kind: 'gated', activation: 'silu' },
      rope: true,
      seed: 2 + i,
    }).apply(h) as tfl.SymbolicTensor;
  }
  h = new RMSNormalization().apply(h) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: VOCAB }).apply(h) as tfl.SymbolicTensor; // tfjs's own layer
  return tfl.model({ inputs: ids, outputs: logits });
}

const loss = toLayersLoss((l, t) => softmaxCrossEntropy(l, t), { integerLabels: true });
async function train(model: tfl.LayersModel, data: { x: tf.Tensor; y: tf.Tensor }, peak: number) {
  const steps = epochs * Math.ceil(data.x.shape[0] / BATCH);
  // The schedule scales adamw's update (learningRate 1), weight decay included, as PyTorch's lr does.
  model.compile({
    optimizer: new TransformOptimizer(adamw({ learningRate: 1, weightDecay: 0.01 })),
    loss,
  });
  const schedule = warmupCosineDecaySchedule({
    peakValue: peak,
    warmupSteps: Math.ceil(steps / 10),
    decaySteps: steps,
  });
  const history = await model.fit(data.x, data.y, {
    epochs,
    batchSize: BATCH,
    shuffle: true,
    verbose: 0,
    callbacks: [learningRateScheduler(schedule, { perBatch: true })],
  });
  return history.history.loss as number[];
}
/** Mean loss on a whole text, with the same loss function as training (no compile needed). */
const evaluate = (model: tfl.LayersModel, data: { x: tf.Tensor; y: tf.Tensor }) =>
  tf.tidy(() => loss(data.y, model.predict(data.x) as tf.Tensor).dataSync()[0]!);

const animals = batches(corpus('animals', 4000, 1));
const numbers = batches(corpus('numbers', 1500, 2));
const heldOut = batches(corpus('numbers', 700, 3)); // same kind of text, other draws

const model = build();
const pre = await train(model, animals, 3e-3);
console.log(
  `pretrain on animals: loss ${pre[0]!.toFixed(3)} -> ${pre[pre.length - 1]!.toFixed(3)}`,
);
await model.save(nodeFileSystem(join(out, 'pretrained')));

const restored = await tfl.loadLayersModel(nodeFileSystem(join(out, 'pretrained')));
const gap = tf.tidy(
  () =>
    tf
      .max(
        tf.abs(
          tf.sub(model.predict(animals.x) as tf.Tensor, restored.predict(animals.x) as tf.Tensor),
        ),
      )
      .dataSync()[0]!,
);
console.log(`reloaded from ${join(out, 'pretrained')}: max |logit difference| ${gap}`);
if (gap !== 0) throw new Error('the reloaded model differs from the saved one');

const before = evaluate(restored, heldOut);
const fine = await train(restored, numbers, 1e-3);
const after = evaluate(restored, heldOut);
console.log(
  `fine-tune on numbers: held-out loss ${before.toFixed(3)} -> ${after.toFixed(3)} (last epoch ${fine[fine.length - 1]!.toFixed(3)})`,
);
await restored.save(nodeFileSystem(join(out, 'fine-tuned')));
console.log(`saved ${join(out, 'fine-tuned')}`);
if (!(after < before)) fail('fine-tuning did not lower the loss on the new text');
tf.dispose([animals.x, animals.y, numbers.x, numbers.y, heldOut.x, heldOut.y]);
