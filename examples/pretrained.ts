// A Hugging Face model folder made here, end to end, with nothing downloaded:
// a small Llama-style decoder whose vocabulary is a tokenizer committed in
// examples/data/chat-tokenizer (a tiny SentencePiece-style BPE with a Llama-2
// chat template) learns a few dozen chat-formatted questions (capitals, days,
// months, doubles); it is saved with savePretrained as a folder that `transformers`
// opens (config.json, model.safetensors, tokenizer files); then the three
// lines a user writes load it back, format a chat prompt and stream a reply.
//   npm run example:pretrained                        (wasm, about 2 minutes on 2 cores)
//   npm run example:pretrained -- --out runs/chat-llama   (keep the folder)
//   npm run example:pretrained -- --steps 20 --min-accuracy 0   (a smoke run)
//   npm run example:pretrained -- --from DIR --ask 'What is the capital of Peru?'   (chat only)
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { MultiBar, Presets } from 'cli-progress';
import {
  adamw,
  type ChatMessage,
  chain,
  clipByGlobalNorm,
  countParameters,
  createOptimizer,
  type DecoderLmParams,
  decoderLm,
  enableWasmFastKernels,
  flattenParams,
  generate,
  initDecoderLm,
  llamaConfig,
  loadPretrained,
  loadTokenizer,
  paramsToVariables,
  seededRandom,
  softmaxCrossEntropy,
  warmupCosineDecaySchedule,
} from 'tfjs-blocks';
import { folderSource, savePretrained } from 'tfjs-blocks/node';
import { fail, readFlags, startBackend } from './cli';
import { formatDuration, ProgressReporter } from './progress';

const flags = readFlags({
  command: 'npm run example:pretrained --',
  about:
    'A small Llama learns chat-formatted questions (capitals, days, months, doubles), is saved\n' +
    'as a Hugging Face folder (savePretrained), loaded back (loadPretrained) and answers through\n' +
    'its chat template, streamed.',
  flags: {
    steps: { default: 250, help: 'training steps' },
    batch: { default: 16, help: 'windows of 64 tokens per step' },
    out: { default: '', help: 'folder to write the model to (empty: a new temporary folder)' },
    from: { default: '', help: 'a model folder to chat with, without training (empty: train one)' },
    ask: { default: '', help: 'one more question to ask' },
    seed: { default: 0, help: 'seed of the data order and the init' },
    'min-accuracy': {
      default: 0.9,
      help: 'exit 1 unless this share of the questions is answered exactly',
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
const QUESTIONS = [
  'What is the capital of Kenya?',
  'Which day comes after Friday?',
  'What is twice 7?',
  ...(flags.ask ? [flags.ask] : []),
];

/**
 * What a user writes for any chat model folder (a Hub download too): load it,
 * format each question with its chat template, stream the reply. Returns the replies.
 */
async function chat(dir: string, questions: string[]): Promise<string[]> {
  const model = await loadPretrained(folderSource(dir));
  if (model.kind !== 'decoder-lm' || !model.tokenizer)
    throw new Error(`${dir}: not a chat decoder`);
  const tokenizer = model.tokenizer;
  const replies: string[] = [];
  for (const question of questions) {
    const prompt = tokenizer.applyChatTemplate([{ role: 'user', content: question }], {
      addGenerationPrompt: true,
      tokenize: true,
    });
    process.stdout.write(`\nuser: ${question}\nassistant: `);
    const sofar: number[] = [];
    let shown = '';
    const [reply] = await generate(
      { kind: 'decoderLm', config: model.config, params: model.params },
      [prompt],
      {
        maxNewTokens: 32,
        ...model.generationConfig, // the folder's generation_config.json (ours sets 32 too)
        onToken: ([t]) => {
          if (t === null || t === undefined) return;
          sofar.push(t); // decode the whole reply: a byte-fallback token may be half a character
          const text = tokenizer.decode(sofar, { skipSpecialTokens: true });
          process.stdout.write(text.slice(shown.length));
          shown = text;
        },
      },
    );
    process.stdout.write('\n');
    replies.push(tokenizer.decode(reply!, { skipSpecialTokens: true }).trim());
  }
  tf.dispose(Object.values(flattenParams(model.params)));
  return replies;
}

// --from DIR: only chat with a folder (e.g. one trained further in PyTorch, docs/interop.md).
if (flags.from) {
  await chat(resolve(flags.from), QUESTIONS);
  process.exit(0);
}

const STEPS = flags.steps;
const BATCH = flags.batch;
const TIME = 64;
const OUT = resolve(flags.out || mkdtempSync(join(tmpdir(), 'tfjs-blocks-pretrained-')));

// ---- The tokenizer: a Hugging Face tokenizer.json + tokenizer_config.json (with its chat template).
const TOKENIZER_DIR = join(import.meta.dirname, 'data', 'chat-tokenizer');
const readJson = (name: string) => JSON.parse(readFileSync(join(TOKENIZER_DIR, name), 'utf8'));
const tokenizer = loadTokenizer({
  tokenizerJson: readJson('tokenizer.json'),
  tokenizerConfig: readJson('tokenizer_config.json'),
});
const EOS = tokenizer.eosTokenId!;
/** Greedy decoding up to the end of the turn: saved as the folder's generation_config.json. */
const GENERATION = { maxNewTokens: 32, temperature: 0, eosTokenId: EOS, padId: EOS };

// ---- The data: questions with one right answer each, generated (nothing downloads).
const CAPITALS: Array<[string, string]> = [
  ['France', 'Paris'],
  ['Germany', 'Berlin'],
  ['Italy', 'Rome'],
  ['Spain', 'Madrid'],
  ['Japan', 'Tokyo'],
  ['Egypt', 'Cairo'],
  ['Peru', 'Lima'],
  ['Kenya', 'Nairobi'],
  ['Norway', 'Oslo'],
  ['Canada', 'Ottawa'],
  ['Greece', 'Athens'],
  ['Chile', 'Santiago'],
];
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August'];
type QA = { question: string; answer: string };
// Each answer hangs on one word of its question: what a model this small learns in two minutes
// (two-operand sums, tried first, collapse to the most frequent answer at this budget).
const facts: QA[] = [
  ...CAPITALS.map(([country, city]) => ({
    question: `What is the capital of ${country}?`,
    answer: `${city}.`,
  })),
  ...DAYS.map((day, i) => ({
    question: `Which day comes after ${day}?`,
    answer: `${DAYS[(i + 1) % 7]}.`,
  })),
  ...MONTHS.slice(0, -1).map((month, i) => ({
    question: `Which month comes after ${month}?`,
    answer: `${MONTHS[i + 1]}.`,
  })),
  ...Array.from({ length: 12 }, (_, i) => ({
    question: `What is twice ${i + 1}?`,
    answer: `${2 * (i + 1)}.`,
  })),
];
/** A conversation rendered by the tokenizer's chat template: `<s>[INST] q [/INST] a </s>`. */
const conversation = ({ question, answer }: QA): number[] =>
  tokenizer.applyChatTemplate(
    [
      { role: 'user', content: question },
      { role: 'assistant', content: answer },
    ],
    { tokenize: true },
  );
/** What a user sends: the question and the header of the assistant's turn. */
const promptFor = (question: string): number[] =>
  tokenizer.applyChatTemplate([{ role: 'user', content: question }] satisfies ChatMessage[], {
    addGenerationPrompt: true,
    tokenize: true,
  });

// Training text: the conversations in shuffled order, one after another, read in windows.
const rand = seededRandom(flags.seed);
const stream: number[] = [];
for (let epoch = 0; epoch < 20; epoch++) {
  const order = facts.map((_, i) => i).sort(() => rand() - 0.5);
  for (const i of order) stream.push(...conversation(facts[i]!));
}
function batchOfWindows(): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const rows = Array.from({ length: BATCH }, () => {
    const start = Math.floor(rand() * (stream.length - TIME - 1));
    return stream.slice(start, start + TIME + 1);
  });
  return {
    x: tf.tensor2d(
      rows.map((r) => r.slice(0, TIME)),
      [BATCH, TIME],
      'int32',
    ),
    y: tf.tensor2d(
      rows.map((r) => r.slice(1)),
      [BATCH, TIME],
      'int32',
    ),
  };
}

// ---- The model: Llama's architecture (RMSNorm, RoPE, SwiGLU, grouped-query attention), small.
const config = llamaConfig({
  vocabSize: tokenizer.vocabSize,
  maxLength: 128,
  numLayers: 2,
  dModel: 96,
  numHeads: 4,
  numKvHeads: 2,
  hidden: 256,
});
const init = initDecoderLm(config, flags.seed);
const { params, variables } = paramsToVariables(init);
tf.dispose(Object.values(flattenParams(init)));
const optimizer = createOptimizer(
  chain(
    clipByGlobalNorm(1),
    adamw({
      learningRate: warmupCosineDecaySchedule({
        peakValue: 5e-3,
        warmupSteps: Math.ceil(STEPS / 10),
        decaySteps: STEPS,
        endValue: 5e-4,
      }),
      weightDecay: 0.01,
    }),
  ),
  variables,
);

/** Greedy replies of the model in memory to `questions`, in one left-padded batch. */
async function replies(p: DecoderLmParams, questions: string[]): Promise<string[]> {
  const rows = await generate(
    { kind: 'decoderLm', config, params: p },
    questions.map(promptFor),
    GENERATION,
  );
  return rows.map((r) => tokenizer.decode(r, { skipSpecialTokens: true }).trim());
}
/** Greedy answers to every question; how many are exactly right. */
async function quiz(p: DecoderLmParams): Promise<{ right: number; answers: string[] }> {
  const answers = await replies(
    p,
    facts.map((f) => f.question),
  );
  return { right: answers.filter((a, i) => a === facts[i]!.answer).length, answers };
}

console.log(
  `backend ${backend}${fastKernels ? ' (fast wasm kernels)' : ''}: a Llama of ` +
    `${countParameters(params).toLocaleString('en-US')} parameters, vocabulary ${tokenizer.vocabSize} ` +
    `(examples/data/chat-tokenizer); ${facts.length} questions, ${STEPS} steps of ${BATCH}x${TIME} tokens`,
);
console.log(
  `one training conversation: ${JSON.stringify(tokenizer.decode(conversation(facts[0]!)))}`,
);

// ---- Training: next-token cross-entropy on the conversations, the library's optimizer.
const interactive = process.stdout.isTTY === true;
const bars = new MultiBar(
  { format: ' {bar} {percentage}% | step {value}/{total} | loss {loss} | ETA {remaining}' },
  Presets.shades_classic,
);
const bar = interactive
  ? bars.create(STEPS, 0, { loss: '-', remaining: formatDuration(undefined) })
  : undefined;
const log = (line: string) => (bar ? bars.log(`${line}\n`) : console.log(line));
let smoothed: number | undefined;
const progress = new ProgressReporter({
  total: STEPS,
  draw: ({ value, etaSeconds }) => {
    bar?.update(value, {
      loss: smoothed?.toFixed(3) ?? '-',
      remaining: formatDuration(etaSeconds),
    });
    bars.update();
  },
});
const started = performance.now();
let firstLoss: number | undefined;
for (let step = 1; step <= STEPS; step++) {
  const batch = batchOfWindows();
  const loss = optimizer.minimize(
    () => softmaxCrossEntropy(decoderLm(config, params, batch.x), batch.y) as tf.Scalar,
    true,
  )!;
  const value = loss.dataSync()[0]!;
  tf.dispose([loss, batch.x, batch.y]);
  firstLoss ??= value;
  smoothed = smoothed === undefined ? value : 0.9 * smoothed + 0.1 * value;
  if (bar) progress.step(step);
  if (step % Math.max(1, Math.round(STEPS / 5)) === 0 || step === STEPS)
    log(`step ${step}: loss ${smoothed.toFixed(3)}`);
}
bars.stop();
const seconds = (performance.now() - started) / 1000;
const trained = await quiz(params);
console.log(
  `trained ${STEPS} steps in ${seconds.toFixed(0)} s: loss ${firstLoss!.toFixed(3)} -> ` +
    `${smoothed!.toFixed(3)}; ${trained.right}/${facts.length} questions answered exactly`,
);
const wrong = trained.answers.flatMap((a, i) =>
  a === facts[i]!.answer ? [] : [`${facts[i]!.question} ${a}`],
);
if (wrong.length > 0) console.log(`wrong: ${wrong.slice(0, 8).join(' | ')}`);

// What the model in memory says to the questions asked after reloading, one at a time as there.
const expected: string[] = [];
for (const q of QUESTIONS) expected.push(...(await replies(params, [q])));

// ---- savePretrained: a folder transformers' from_pretrained opens, with the tokenizer files.
await savePretrained(
  OUT,
  {
    kind: 'decoder-lm',
    modelType: 'llama',
    config,
    params,
    generationConfig: GENERATION,
  },
  tokenizer,
);
console.log(`\nsaved ${OUT}:`);
for (const name of readdirSync(OUT).sort())
  console.log(
    `  ${name.padEnd(24)} ${statSync(join(OUT, name)).size.toLocaleString('en-US')} bytes`,
  );
optimizer.dispose();
tf.dispose(Object.values(variables));

// ---- Load the folder back and chat with it.
const reloaded = await chat(OUT, QUESTIONS);

// ---- Verdicts: the folder gives the trained model's answers, and the answers are right.
if (reloaded.some((a, i) => a !== expected[i]))
  fail(
    `the reloaded model answered ${JSON.stringify(reloaded)}, the trained one ${JSON.stringify(expected)}`,
  );
else console.log(`\nthe model loaded from ${OUT} answered as the trained one did`);
const accuracy = trained.right / facts.length;
if (accuracy < flags['min-accuracy'])
  fail(
    `${(100 * accuracy).toFixed(0)}% of the questions answered exactly, under --min-accuracy ` +
      `${(100 * flags['min-accuracy']).toFixed(0)}%`,
  );
