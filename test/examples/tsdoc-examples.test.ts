import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The code of the `@example` in the TSDoc right above `export (async) function <name>` in `file`. */
function tsdocExample(file: string, name: string): string {
  const source = readFileSync(file, 'utf8');
  // Generic functions (`name<T>(`) too.
  const at = source.search(new RegExp(`export (async )?function ${name}[(<]`));
  const doc = source.slice(source.lastIndexOf('/**', at), at);
  const match = /@example\s*\n\s*\*\s*```ts\n([\s\S]*?)\n\s*\*\s*```/.exec(doc);
  if (!match) throw new Error(`no @example above ${name} in ${file}`);
  return match[1]!.replace(/^\s*\* ?/gm, '');
}

// TSDoc examples that were wrong (fromHuggingFace's passed readSafetensorsFile's
// {tensors, metadata} where tensors go), type-checked with the repository's
// settings, each in a block of one module with the imports a reader adds.
const EXAMPLES = [
  { file: 'src/pretrained/load.ts', name: 'loadPretrained', imports: '' },
  { file: 'src/pretrained/save.ts', name: 'pretrainedFiles', imports: '' },
  { file: 'src/node/pretrained-node.ts', name: 'folderSource', imports: '' },
  {
    file: 'src/pretrained/hugging-face.ts',
    name: 'fromHuggingFace',
    imports: `import * as tf from '@tensorflow/tfjs-core';
import { fromHuggingFace, gpt2Config } from 'tfjs-blocks';
import { readSafetensorsFile } from 'tfjs-blocks/node';`,
  },
  {
    file: 'src/efficiency/cost.ts',
    name: 'modelCost',
    imports: `import { gpt2Config, modelCost } from 'tfjs-blocks';`,
  },
  {
    file: 'src/attention/multi-head-attention.ts',
    name: 'initAttentionCache',
    imports: `import * as tf from '@tensorflow/tfjs-core';
import { initAttentionCache, initMultiHeadAttention, multiHeadAttention } from 'tfjs-blocks';`,
  },
  {
    file: 'src/attention/multi-head-attention.ts',
    name: 'contextAttentionCache',
    imports: `import * as tf from '@tensorflow/tfjs-core';
import { contextAttentionCache, initMultiHeadAttention, multiHeadAttention } from 'tfjs-blocks';`,
  },
  {
    file: 'src/optim/transforms/stateless.ts',
    name: 'mapUpdatesTransform',
    imports: `import * as tf from '@tensorflow/tfjs-core';
import { chain, mapUpdatesTransform, scaleByLearningRate } from 'tfjs-blocks';`,
  },
  {
    file: 'src/models/encoder-classifier.ts',
    name: 'encoderHiddenStates',
    imports: `import * as tf from '@tensorflow/tfjs-core';
import { bertConfig, encoderHiddenStates, initEncoderClassifier } from 'tfjs-blocks';`,
  },
  {
    file: 'src/tokenizers/hugging-face-tokenizer.ts',
    name: 'loadTokenizer',
    imports: `import { loadTokenizer } from 'tfjs-blocks';`,
  },
  {
    file: 'src/fine-tuning/fine-tune.ts',
    name: 'fineTune',
    imports: `import { adamw, ByteTokenizer, fineTune, gpt2Config, initDecoderLm, packTexts } from 'tfjs-blocks';`,
  },
  {
    file: 'src/fine-tuning/pack-texts.ts',
    name: 'packTexts',
    imports: `import { ByteTokenizer, packTexts } from 'tfjs-blocks';`,
  },
  {
    file: 'src/fine-tuning/chat-examples.ts',
    name: 'chatExamples',
    imports: `import { chatExamples, type HuggingFaceTokenizer } from 'tfjs-blocks';`,
  },
  {
    file: 'src/fine-tuning/examples.ts',
    name: 'splitHeldOut',
    imports: `import { splitHeldOut } from 'tfjs-blocks';`,
  },
  {
    file: 'src/fine-tuning/examples.ts',
    name: 'shuffleExamples',
    imports: `import { shuffleExamples } from 'tfjs-blocks';`,
  },
  {
    file: 'src/fine-tuning/checkpoint-store.ts',
    name: 'memoryCheckpointStore',
    imports: `import { memoryCheckpointStore } from 'tfjs-blocks';`,
  },
  {
    file: 'src/node/fine-tune-checkpoint.ts',
    name: 'fineTuneCheckpointDir',
    imports: `import { type FineTuneOptions, fineTune } from 'tfjs-blocks';`,
  },
  {
    file: 'src/fine-tuning/private.ts',
    name: 'perExampleAdapterGradients',
    imports: `import * as tf from '@tensorflow/tfjs-core';
import { gpt2Config, initDecoderLm, initLora, perExampleAdapterGradients } from 'tfjs-blocks';`,
  },
  {
    file: 'src/fine-tuning/private.ts',
    name: 'privateAdapterGradients',
    imports: `import * as tf from '@tensorflow/tfjs-core';
import { gpt2Config, initDecoderLm, initLora, loraTensors, privateAdapterGradients, unflattenParams } from 'tfjs-blocks';`,
  },
  {
    file: 'src/responsible/dp-federated-averaging.ts',
    name: 'sampleClients',
    imports: `import { sampleClients } from 'tfjs-blocks';`,
  },
  {
    file: 'src/responsible/dp-federated-averaging.ts',
    name: 'computeDpFederatedEpsilon',
    imports: `import { computeDpFederatedEpsilon } from 'tfjs-blocks';`,
  },
  {
    file: 'src/responsible/privacy-budget.ts',
    name: 'noiseMultiplierForEpsilon',
    imports: `import { noiseMultiplierForEpsilon } from 'tfjs-blocks';`,
  },
  {
    file: 'src/responsible/privacy-budget.ts',
    name: 'stepsForEpsilon',
    imports: `import { stepsForEpsilon } from 'tfjs-blocks';`,
  },
  {
    file: 'src/responsible/privacy-budget.ts',
    name: 'rdpAccountant',
    imports: `import { rdpAccountant } from 'tfjs-blocks';`,
  },
  {
    file: 'src/responsible/model-card.ts',
    name: 'modelCard',
    imports: `import { gpt2Config, modelCard } from 'tfjs-blocks';`,
  },
  {
    file: 'src/responsible/reweighing.ts',
    name: 'reweighing',
    imports: `import { reweighing } from 'tfjs-blocks';`,
  },
  {
    file: 'src/responsible/group-thresholds.ts',
    name: 'groupThresholds',
    imports: `import { groupThresholds } from 'tfjs-blocks';`,
  },
  {
    file: 'src/responsible/exponentiated-gradient.ts',
    name: 'exponentiatedGradient',
    imports: `import { exponentiatedGradient } from 'tfjs-blocks';`,
  },
  {
    file: 'src/node/quantized-threads.ts',
    name: 'enableQuantizedThreads',
    imports: `import { disableQuantizedThreads, enableQuantizedThreads } from 'tfjs-blocks/node';`,
  },
  {
    file: 'src/node/quantized-threads.ts',
    name: 'disableQuantizedThreads',
    imports: `import { disableQuantizedThreads, enableQuantizedThreads } from 'tfjs-blocks/node';`,
  },
];

describe('TSDoc examples type-check', () => {
  it(`${EXAMPLES.map((e) => e.name).join(', ')}`, () => {
    const dir = join('scratch', `tsdoc-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      EXAMPLES.forEach(({ file, name, imports }, i) => {
        const code = tsdocExample(file, name);
        writeFileSync(join(dir, `example-${i}.ts`), `${imports}\n\nexport {};\n${code}\n`);
      });
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({ extends: '../../tsconfig.json', include: ['example-*.ts'] }),
      );
      const run = spawnSync('npx', ['tsc', '--noEmit', '-p', join(dir, 'tsconfig.json')], {
        encoding: 'utf8',
      });
      expect(run.stdout + run.stderr).toBe('');
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
