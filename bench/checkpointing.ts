// Gradient checkpointing: peak memory and step time of one training step
// (forward + backward, tf.grads) of a GPT-2-shaped decoderLm with and
// without `gradientCheckpointing`, for full fine-tuning and for LoRA (rank 8
// on every block's query and value, only the factors differentiated).
// Activation memory = the step's peak tensor bytes (tf.profile) minus the
// bytes resident before the step (params) minus the gradients it returns.
// Prints the figures; writes nothing.
//
//   npx tsx bench/checkpointing.ts                          (cpu, d 256, 4 layers, seq 512)
//   npx tsx bench/checkpointing.ts --backend wasm --seq 256 --repeats 3
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  type DecoderLmOptions,
  type DecoderLmParams,
  decoderLm,
  gpt2Config,
  initDecoderLm,
  softmaxCrossEntropy,
  treeLeavesWithPath,
} from 'tfjs-blocks';
import { upperMedian } from './median';
import { flag } from './report';

const backend = flag('backend', 'cpu');
const seq = Number(flag('seq', '512'));
const dModel = Number(flag('d', '256'));
const numLayers = Number(flag('layers', '4'));
const batch = Number(flag('batch', '1'));
const repeats = Number(flag('repeats', '2'));
const MB = 2 ** 20;

function withLora(params: DecoderLmParams, rank: number): DecoderLmParams {
  let seed = 1000;
  const factors = (outFeatures: number) => ({
    a: tf.randomNormal([dModel, rank], 0, 0.02, 'float32', seed++) as tf.Tensor2D,
    b: tf.zeros([rank, outFeatures]) as tf.Tensor2D,
    scale: 16 / rank,
  });
  return {
    ...params,
    blocks: params.blocks.map((block) => ({
      ...block,
      attention: {
        ...block.attention,
        query: { ...block.attention.query, lora: factors(dModel) },
        value: { ...block.attention.value, lora: factors(dModel) },
      },
    })),
  };
}

async function main(): Promise<void> {
  await tf.setBackend(backend);
  await tf.ready();
  const config = gpt2Config({ vocabSize: 256, maxLength: seq, dModel, numLayers, numHeads: 4 });
  const base = initDecoderLm(config, 0);
  const lora = withLora(base, 8);
  const ids = tf.randomUniform([batch, seq], 0, 256, 'int32', 1);
  const targets = tf.randomUniform([batch, seq], 0, 256, 'int32', 2);
  const isLora = (path: string) => path.includes('.lora.');
  console.log(
    `backend ${backend}, gpt2-shaped d ${dModel}, ${numLayers} layers, 4 heads, vocab 256, ` +
      `batch ${batch}, seq ${seq}; params ${(tf.memory().numBytes / MB).toFixed(1)} MiB resident`,
  );
  const rows: Array<Record<string, string | number>> = [];
  for (const mode of ['full', 'lora'] as const) {
    const params = mode === 'full' ? base : lora;
    const xs = treeLeavesWithPath(params)
      .filter(([path]) => mode === 'full' || isLora(path))
      .map(([, t]) => t);
    const gradBytes = xs.reduce((n, t) => n + t.size * 4, 0);
    const step = (checkpointing: boolean) => {
      const options: DecoderLmOptions = {
        training: true,
        seed: 3,
        gradientCheckpointing: checkpointing && (mode === 'full' ? true : { trainable: isLora }),
      };
      tf.dispose(
        tf.grads(() => softmaxCrossEntropy(decoderLm(config, params, ids, options), targets))(xs),
      );
    };
    const byMode: Record<string, { activation: number; ms: number }> = {};
    const times: Record<string, number[]> = { false: [], true: [] };
    for (const checkpointing of [false, true]) {
      const start = tf.memory().numBytes;
      const profile = await tf.profile(() => step(checkpointing));
      byMode[String(checkpointing)] = {
        activation: profile.peakBytes - start - gradBytes,
        ms: 0,
      };
      rows.push({
        mode,
        checkpointing: String(checkpointing),
        peakMiB: Number((profile.peakBytes / MB).toFixed(1)),
        activationMiB: Number(((profile.peakBytes - start - gradBytes) / MB).toFixed(1)),
        gradientMiB: Number((gradBytes / MB).toFixed(1)),
      });
    }
    // Timed steps alternate (plain, checkpointed, plain, ...) so that load
    // changes on a shared machine hit both alike.
    for (let r = 0; r < repeats; r++) {
      for (const checkpointing of [false, true]) {
        const t0 = performance.now();
        step(checkpointing);
        times[String(checkpointing)]!.push(performance.now() - t0);
      }
    }
    for (const key of ['false', 'true']) {
      byMode[key]!.ms = upperMedian(times[key]!);
      const row = rows.find((x) => x.mode === mode && x.checkpointing === key)!;
      row.stepMs = Math.round(byMode[key]!.ms);
      console.log(JSON.stringify(row));
    }
    const off = byMode.false!;
    const on = byMode.true!;
    console.log(
      `${mode}: activation memory ${(off.activation / on.activation).toFixed(2)}x smaller with checkpointing, ` +
        `step time ${(on.ms / off.ms).toFixed(2)}x`,
    );
  }
  console.table(rows);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
