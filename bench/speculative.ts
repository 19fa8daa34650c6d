// Speculative decoding benchmark (issue 20): a target GPT and a draft 4-8x
// smaller, both trained briefly on the same text (the first-names data of
// the demos) so the draft agrees with the target as a real draft would;
// then greedy decoding of the target alone vs with the draft, tokens/s side
// by side, the acceptance rate, and the per-token costs that explain the
// ratio. Checks that both give the same ids.
//
//   npm run bench:speculative                      (wasm; writes docs/benchmarks.md)
//   npm run bench:speculative -- --steps 40 --no-write
//   npm run bench:speculative -- --target-d 768 --target-layers 12 --draft-d 256 --draft-layers 4
import { availableParallelism, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  countParameters,
  type DecoderLmConfig,
  decoderLm,
  enableWasmFastKernels,
  type GenerationModel,
  generate,
  gpt2Config,
  initDecoderLm,
  softmaxCrossEntropy,
} from 'tfjs-blocks';
import { makeTrainable, train } from '../examples/data-common';
import { ALPHABET, encode, loadNames, randomStarts, windows } from '../examples/names-data';
import { commitLine, cpuInfo, loadAverage } from './host';
import { flag, machineLine, reportUnlessDryRun } from './report';

const backend = flag('backend', 'wasm');
const steps = Number(flag('steps', '200'));
const newTokens = Number(flag('tokens', '48'));
const ks = flag('k', '2,4,6').split(',').map(Number);
const size = (name: string, fallback: string) => Number(flag(name, fallback));
const loadAtStart = loadAverage();
await tf.setBackend(backend);
if (backend === 'wasm') enableWasmFastKernels();

const TIME = 32;
const config = (dModel: number, numLayers: number): DecoderLmConfig =>
  gpt2Config({
    vocabSize: ALPHABET.length,
    maxLength: 128,
    dModel,
    numLayers,
    numHeads: Math.max(1, dModel / 64),
  });
const targetConfig = config(size('target-d', '256'), size('target-layers', '4'));
const draftConfig = config(size('draft-d', '128'), size('draft-layers', '2'));

let seed = 1;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
const names = loadNames(rand);

/** Trains a fresh model of `cfg` on the names for `steps` batches of 16 × 32 tokens. */
function trained(cfg: DecoderLmConfig, initSeed: number): GenerationModel & { kind: 'decoderLm' } {
  const { params, variables } = makeTrainable(initDecoderLm(cfg, initSeed));
  const start = performance.now();
  train(variables, {
    steps,
    learningRate: 2e-3,
    loss: () => {
      const batch = windows(names.trainIds, randomStarts(names.trainIds, 16, TIME, rand), TIME);
      return softmaxCrossEntropy(decoderLm(cfg, params, batch.x), batch.y) as tf.Scalar;
    },
    log: (step, loss) =>
      console.log(`  d ${cfg.block.dModel}: step ${step} loss ${loss.toFixed(3)}`),
  });
  console.log(`  trained in ${((performance.now() - start) / 1000).toFixed(0)} s`);
  return { kind: 'decoderLm', config: cfg, params };
}

console.log(
  `training the target (d ${targetConfig.block.dModel}, ${targetConfig.numLayers} layers) and the draft for ${steps} steps each`,
);
const target = trained(targetConfig, 1);
const draft = trained(draftConfig, 2);
const targetParams = countParameters(target.params);
const draftParams = countParameters(draft.params);

// Prompts: a boundary and the first two letters of held-out names.
const prompts = names.heldOut.slice(0, 6).map((n) => encode(`.${n.slice(0, 2)}`));

type Run = { ms: number; tokens: number; ids: number[][]; proposed: number; accepted: number };

/** Greedy decoding of every prompt, one at a time (batch 1), with or without the draft. */
async function run(k: number | undefined): Promise<Run> {
  const out: Run = { ms: 0, tokens: 0, ids: [], proposed: 0, accepted: 0 };
  for (const prompt of prompts) {
    const start = performance.now();
    const [ids] = await generate(target, [prompt], {
      maxNewTokens: newTokens,
      temperature: 0,
      ...(k === undefined
        ? {}
        : {
            draftModel: draft,
            numDraftTokens: k,
            onDraftRound: (r: { proposed: number; accepted: number }) => {
              out.proposed += r.proposed;
              out.accepted += r.accepted;
            },
          }),
    });
    out.ms += performance.now() - start;
    out.tokens += ids!.length;
    out.ids.push(ids!);
  }
  return out;
}

/** Median ms of one plain greedy token of `model` (cached, batch 1), over `newTokens` tokens. */
async function msPerToken(model: GenerationModel): Promise<number> {
  const stamps: number[] = [];
  await generate(model, [prompts[0]!], {
    maxNewTokens: newTokens,
    temperature: 0,
    onToken: () => {
      stamps.push(performance.now());
    },
  });
  const gaps = stamps.slice(1).map((t, i) => t - stamps[i]!);
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)]!;
}

await run(undefined); // warm-up: kernels compiled, memory allocated
await run(ks[0]);
const runs = Number(flag('runs', '3'));
const rows: string[] = [];
const tokensPerSecond = (r: Run) => (1000 * r.tokens) / r.ms;
let mismatch = false;
/** Acceptance rate (accepted / proposed) per k, summed over the runs. */
const acceptance = new Map(ks.map((k) => [k, { proposed: 0, accepted: 0 }]));
for (let i = 0; i < runs; i++) {
  const plain = await run(undefined);
  const cells = [`${tokensPerSecond(plain).toFixed(1)}`];
  for (const k of ks) {
    const spec = await run(k);
    if (JSON.stringify(spec.ids) !== JSON.stringify(plain.ids)) mismatch = true;
    acceptance.get(k)!.proposed += spec.proposed;
    acceptance.get(k)!.accepted += spec.accepted;
    cells.push(
      `${tokensPerSecond(spec).toFixed(1)} (${(tokensPerSecond(spec) / tokensPerSecond(plain)).toFixed(2)}×, ${((100 * spec.accepted) / spec.proposed).toFixed(0)}%)`,
    );
  }
  const row = `| ${i + 1} | ${cells.join(' | ')} |`;
  rows.push(row);
  console.log(row);
}
const targetMs = await msPerToken(target);
const draftMs = await msPerToken(draft);
const c = draftMs / targetMs;
/**
 * The speed-up over greedy at acceptance rate `rate` (accepted / proposed)
 * and `k` draft tokens, if the target's forward over k + 1 positions cost one
 * cached token's (its least cost, so this is the speed-up's upper bound): a
 * round emits its accepted draft tokens plus the target's own, 1 + rate·k on
 * average, for k draft steps and one target forward.
 */
const speedUp = (rate: number, k: number) => (1 + rate * k) / (k * c + 1);
/** The least acceptance rate that reaches `goal` with `k` draft tokens; NaN if none does. */
function acceptanceNeeded(goal: number, k: number): number {
  const rate = (goal * (k * c + 1) - 1) / k;
  return rate <= 1 ? Math.max(0, rate) : Number.NaN;
}
const GOAL = 1.5;
const perK = ks.map((k) => {
  const { proposed, accepted } = acceptance.get(k)!;
  const measured = proposed > 0 ? accepted / proposed : Number.NaN;
  const needed = acceptanceNeeded(GOAL, k);
  return `k = ${k}: at the measured ${(100 * measured).toFixed(0)}%, at most ${speedUp(measured, k).toFixed(2)}×; ${GOAL}× needs ${Number.isNaN(needed) ? 'c lower (unreachable even if every draft token were accepted)' : `at least ${(100 * needed).toFixed(0)}% accepted`}`;
});
const costs = [
  `Per cached token, batch 1 (median): target ${targetMs.toFixed(2)} ms, draft ${draftMs.toFixed(2)} ms (c = ${c.toFixed(2)}; the draft has ${(targetParams / draftParams).toFixed(1)}× fewer parameters and runs ${(1 / c).toFixed(1)}× faster${1 / c < targetParams / draftParams / 2 ? ": at this size a cached step costs its kernels' fixed overhead more than its arithmetic" : ''}).`,
  `A round of k draft tokens at acceptance rate r emits 1 + r·k tokens (the accepted ones and the target's own) for k draft steps and one target forward over k + 1 positions; if that forward cost one cached token's, the speed-up would be (1 + r·k) / (k·c + 1), an upper bound:`,
  '',
  ...perK.map((line) => `- ${line}.`),
].join('\n');
console.log(costs);
if (mismatch) console.log('MISMATCH: speculative ids differ from greedy ids');
const body = [
  `Greedy decoding of a target GPT-2-style model (d ${targetConfig.block.dModel}, ${targetConfig.numLayers} layers, ${(targetParams / 1e6).toFixed(2)} M parameters)`,
  `alone and with a draft (d ${draftConfig.block.dModel}, ${draftConfig.numLayers} layers, ${(draftParams / 1e6).toFixed(2)} M parameters, ${(targetParams / draftParams).toFixed(1)}× smaller), both trained`,
  `for ${steps} steps on the first-names data; backend \`${tf.getBackend()}\`, batch 1, ${prompts.length} prompts × ${newTokens} new tokens.`,
  `Cells: tokens/s (speed-up over plain greedy, acceptance rate = accepted / proposed draft tokens).`,
  `Speculative ids equal greedy ids: ${mismatch ? '**no**' : 'yes'}.`,
  '',
  `${machineLine('bench:speculative')} SIMD: ${cpuInfo().flags}. Commit ${commitLine()}.`,
  `Load average (1/5/15 min) at start ${loadAtStart}, at end ${loadAverage()}${loadavg()[0]! > availableParallelism() ? ': **provisional**, more runnable jobs than cores; compare ratios within a run only' : ''}.`,
  '',
  `| run | greedy tokens/s | ${ks.map((k) => `k = ${k}`).join(' | ')} |`,
  `|---|---|${ks.map(() => '---').join('|')}|`,
  ...rows,
  '',
  costs,
].join('\n');
reportUnlessDryRun('speculative', 'Speculative decoding', body);
if (mismatch) process.exitCode = 1;
