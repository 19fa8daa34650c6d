import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createRunLedger } from '../../src/efficiency/run-ledger';
import { generate } from '../../src/generate/generate';
import { gpt2Config, initDecoderLm, modelCost } from '../../src/index';
import { rejectionOf } from '../helpers/rejections';

const config = gpt2Config({ vocabSize: 16, maxLength: 16, dModel: 8, numHeads: 2, numLayers: 1 });
const params = initDecoderLm(config, 0);
const model = { kind: 'decoderLm' as const, config, params };

describe("generate's ledger option", () => {
  it('records one inference span of the generated tokens, FLOPs at the forward cost, leaking nothing', async () => {
    const ledger = createRunLedger({ model: config });
    const before = tf.memory().numTensors;
    const out = await generate(
      model,
      [
        [1, 2],
        [3, 4, 5],
      ],
      {
        maxNewTokens: 4,
        temperature: 0,
        ledger,
      },
    );
    expect(tf.memory().numTensors).toBe(before);
    const generated = out.reduce((s, row) => s + row.length, 0);
    expect(generated).toBe(8);
    const r = ledger.report();
    expect(r.inference.spans).toBe(1);
    expect(r.inference.tokens).toEqual({ value: generated, label: 'measured' });
    expect(r.inference.flops.value).toBe(generated * modelCost(config).flopsPerToken.forward);
    expect(r.training.spans).toBe(0);
    // Beam search is counted the same way.
    await generate(model, [[1, 2]], { maxNewTokens: 3, numBeams: 2, ledger });
    expect(ledger.report().inference.spans).toBe(2);
  });

  it('records nothing when the call rejects, and rejects a bad ledger naming options.ledger', async () => {
    const ledger = createRunLedger({ flopsPerToken: 1 });
    const controller = new AbortController();
    controller.abort();
    await expect(
      generate(model, [[1]], { maxNewTokens: 2, ledger, signal: controller.signal }),
    ).rejects.toThrow();
    expect(ledger.report().spans).toBe(0);
    const error = await rejectionOf(
      generate(model, [[1]], { maxNewTokens: 2, ledger: { start: 'x' } as never }),
    );
    expect(error.argument).toBe('options.ledger');
  });
});
