import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import {
  applyLogitsProcessors,
  greedyTokens,
  type LogitsProcessor,
  type LogitsProcessorContext,
  minPProcessor,
  repetitionPenaltyProcessor,
  sampleTokens,
  seededRandom,
  temperatureProcessor,
  topKProcessor,
  topPProcessor,
} from '../../src/generate/logits-processors';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections, thrownBy } from '../helpers/rejections';

// A row with known probabilities: logits are their logs, so softmax gives them back.
const PROBS = [0.4, 0.25, 0.15, 0.1, 0.06, 0.04];
const LOGITS = PROBS.map(Math.log);
const DRAWS = 5000;

function context(batch: number, tokens: number[] = []): LogitsProcessorContext {
  return { tokens: Array.from({ length: batch }, () => tokens), step: 0 };
}

/** `DRAWS` draws from `processor(LOGITS)`, as one batch of identical rows. */
function drawAfter(processor: LogitsProcessor, seed: number): number[] {
  const logits = tf.tensor2d(
    Array.from({ length: DRAWS }, () => LOGITS),
    [DRAWS, LOGITS.length],
  );
  const processed = processor(logits, context(DRAWS));
  const ids = sampleTokens(processed, seededRandom(seed));
  tf.dispose([logits, processed]);
  return ids;
}

/** The kept tokens' probabilities renormalised, 0 elsewhere. */
function renormalised(kept: number[]): number[] {
  const mass = kept.reduce((s, i) => s + PROBS[i]!, 0);
  return PROBS.map((p, i) => (kept.includes(i) ? p / mass : 0));
}

function frequencies(ids: number[], vocab: number): number[] {
  const counts = new Array<number>(vocab).fill(0);
  for (const id of ids) counts[id]!++;
  return counts.map((c) => c / ids.length);
}

function expectMatchesKeptSet(ids: number[], kept: number[]): void {
  // Never a token outside the kept set, over all draws.
  const outside = ids.filter((id) => !kept.includes(id));
  expect(outside, 'tokens drawn outside the kept set').toEqual([]);
  const observed = frequencies(ids, PROBS.length);
  const expected = renormalised(kept);
  const deviation = Math.max(...observed.map((f, i) => Math.abs(f - expected[i]!)));
  expect(deviation).toBeLessThan(0.02);
  // Chi-square over the kept tokens, below its 0.999 quantile at df = |kept| - 1.
  const quantile999 = [Number.NaN, 10.83, 13.82, 16.27, 18.47, 20.52][kept.length - 1]!;
  const chiSquare = kept.reduce((s, i) => {
    const e = expected[i]! * ids.length;
    return s + (observed[i]! * ids.length - e) ** 2 / e;
  }, 0);
  expect(chiSquare).toBeLessThan(quantile999);
}

function rows(t: tf.Tensor): number[][] {
  return t.arraySync() as number[][];
}

describeEachBackend('logits processors', () => {
  describe('filters: sampling never leaves the kept set and follows its probabilities', () => {
    it('topK(3) keeps tokens 0, 1, 2', () => {
      expectMatchesKeptSet(drawAfter(topKProcessor(3), 1), [0, 1, 2]);
    });

    it('topP(0.6) keeps tokens 0, 1 (mass 0.65 >= 0.6; 0.4 alone is not)', () => {
      expectMatchesKeptSet(drawAfter(topPProcessor(0.6), 2), [0, 1]);
    });

    it('topP(0.85) keeps tokens 0 to 3 (0.8 < 0.85 <= 0.9)', () => {
      expectMatchesKeptSet(drawAfter(topPProcessor(0.85), 3), [0, 1, 2, 3]);
    });

    it('minP(0.2) keeps tokens 0 to 3 (prob >= 0.2 * 0.4 = 0.08)', () => {
      expectMatchesKeptSet(drawAfter(minPProcessor(0.2), 4), [0, 1, 2, 3]);
    });

    it('minP(0.5) keeps tokens 0, 1 (prob >= 0.2)', () => {
      expectMatchesKeptSet(drawAfter(minPProcessor(0.5), 5), [0, 1]);
    });

    it('no processor: frequencies follow the softmax', () => {
      expectMatchesKeptSet(
        drawAfter((x) => tf.clone(x), 6),
        [0, 1, 2, 3, 4, 5],
      );
    });
  });

  describe('filters on hand examples', () => {
    it('topK keeps every token tied with the k-th value', () => {
      const logits = tf.tensor2d([
        [1, 3, 2, 2, 0],
        [5, 4, 3, 2, 1],
      ]);
      const out = topKProcessor(2)(logits, context(2));
      expect(rows(out)).toEqual([
        [-Infinity, 3, 2, 2, -Infinity],
        [5, 4, -Infinity, -Infinity, -Infinity],
      ]);
      tf.dispose([logits, out]);
    });

    it('topK with k >= vocab keeps every token', () => {
      const logits = tf.tensor2d([[1, -2, 3]]);
      const out = topKProcessor(10)(logits, context(1));
      expect(rows(out)).toEqual([[1, -2, 3]]);
      tf.dispose([logits, out]);
    });

    it('topP always keeps the top token, takes the lower id first among ties, and p = 1 keeps all', () => {
      const logits = tf.tensor2d([
        [0, 5, 0, 0],
        [1, 2, 2, 1],
      ]);
      const tiny = topPProcessor(0.01)(logits, context(2));
      // Row 1: tokens 1 and 2 tie at the top, each 0.366; p = 0.01 needs only one: the lower id.
      expect(rows(tiny)).toEqual([
        [-Infinity, 5, -Infinity, -Infinity],
        [-Infinity, 2, -Infinity, -Infinity],
      ]);
      const all = topPProcessor(1)(logits, context(2));
      expect(rows(all)).toEqual(rows(logits));
      tf.dispose([logits, tiny, all]);
    });

    it('topP keeps the smallest set whose mass reaches p exactly, and drops underflowed tokens at p = 1', () => {
      const logits = tf.tensor2d([
        [0, 0, -Infinity],
        [0, -800, 0],
      ]);
      // Row 0: one token already holds 0.5, so p = 0.5 needs no second one.
      const half = topPProcessor(0.5)(logits, context(2));
      expect(rows(half)[0]).toEqual([0, -Infinity, -Infinity]);
      // Row 1: exp(-800) underflows to 0 in float64, so the nucleus never needs token 1.
      const all = topPProcessor(1)(logits, context(2));
      expect(rows(all)).toEqual([
        [0, 0, -Infinity],
        [0, -Infinity, 0],
      ]);
      tf.dispose([logits, half, all]);
    });

    it('topP equals a plain stable-sort nucleus on random rows with many ties', () => {
      const random = seededRandom(5);
      // Logits on a coarse grid, so most rows have ties, some at the cut.
      const values = Array.from({ length: 200 }, () =>
        Array.from({ length: 12 }, () => (random() < 0.1 ? -Infinity : Math.floor(random() * 6))),
      );
      values[0] = Array.from({ length: 12 }, () => 1);
      const logits = tf.tensor2d(values);
      for (const p of [0.05, 0.3, 0.5, 0.9, 0.999, 1]) {
        const out = topPProcessor(p)(logits, context(values.length));
        const expected = values.map((row) => {
          const max = Math.max(...row);
          if (max === -Infinity) return row;
          const order = row.map((_, i) => i).sort((a, b) => row[b]! - row[a]! || a - b);
          const weights = order.map((i) => Math.exp(row[i]! - max));
          const total = weights.reduce((s, w) => s + w, 0);
          let running = 0;
          let kept = 0;
          while (kept < order.length && !(running >= p * total)) running += weights[kept++]!;
          const keep = new Set(order.slice(0, kept));
          return row.map((v, i) => (keep.has(i) ? v : -Infinity));
        });
        expect(rows(out), `p = ${p}`).toEqual(expected);
        out.dispose();
      }
      logits.dispose();
    });

    it('minP: p = 0 keeps all, p = 1 keeps only the maxima; masked tokens stay masked', () => {
      const logits = tf.tensor2d([[2, -Infinity, 2, 1]]);
      const zero = minPProcessor(0)(logits, context(1));
      const one = minPProcessor(1)(logits, context(1));
      expect(rows(zero)).toEqual([[2, -Infinity, 2, 1]]);
      expect(rows(one)).toEqual([[2, -Infinity, 2, -Infinity]]);
      tf.dispose([logits, zero, one]);
    });

    it('a fully masked row passes through top-p and min-p unchanged', () => {
      const logits = tf.tensor2d([[-Infinity, -Infinity]]);
      const p = topPProcessor(0.5)(logits, context(1));
      const m = minPProcessor(0.5)(logits, context(1));
      expect(rows(p)).toEqual([[-Infinity, -Infinity]]);
      expect(rows(m)).toEqual([[-Infinity, -Infinity]]);
      tf.dispose([logits, p, m]);
    });
  });

  describe('temperature', () => {
    it('divides the logits', () => {
      const logits = tf.tensor2d([[2, -1, 0.5, -Infinity]]);
      const out = temperatureProcessor(0.5)(logits, context(1));
      expect(rows(out)).toEqual([[4, -2, 1, -Infinity]]);
      expect(out.dtype).toBe('float32');
      tf.dispose([logits, out]);
    });

    it('temperature 1e-4 then sampling equals greedy', () => {
      const random = seededRandom(11);
      // Distinct logits with gaps of at least 0.05: 0.05 / 1e-4 = 500 nats between neighbours.
      const values = Array.from({ length: 64 }, () =>
        Array.from({ length: 32 }, (_, i) => i * 0.05).sort(() => random() - 0.5),
      );
      const logits = tf.tensor2d(values);
      const cold = temperatureProcessor(1e-4)(logits, context(64));
      expect(sampleTokens(cold, seededRandom(12))).toEqual(greedyTokens(logits));
      tf.dispose([logits, cold]);
    });
  });

  describe('sampling and seeds', () => {
    it('seededRandom: same seed, same stream; different seeds differ; values in [0, 1)', () => {
      const a = seededRandom(123);
      const b = seededRandom(123);
      const c = seededRandom(124);
      const d = seededRandom(123 + 2 ** 32);
      const sa = Array.from({ length: 1000 }, a);
      const sb = Array.from({ length: 1000 }, b);
      expect(sa).toEqual(sb);
      expect(Array.from({ length: 1000 }, c)).not.toEqual(sa);
      expect(Array.from({ length: 1000 }, d)).not.toEqual(sa);
      expect(sa.every((u) => u >= 0 && u < 1)).toBe(true);
      const mean = sa.reduce((s, u) => s + u, 0) / sa.length;
      expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
    });

    it('seeded sampling repeats exactly, and another seed gives other draws', () => {
      const processor = topKProcessor(4);
      expect(drawAfter(processor, 99)).toEqual(drawAfter(processor, 99));
      expect(drawAfter(processor, 99)).not.toEqual(drawAfter(processor, 100));
    });

    it('never draws a -Infinity token, even when random() is 0 or just below 1', () => {
      const logits = tf.tensor2d([[-Infinity, 0, -Infinity, 0, -Infinity]]);
      expect(sampleTokens(logits, () => 0)).toEqual([1]);
      expect(sampleTokens(logits, () => 1 - 2 ** -53)).toEqual([3]);
      expect(sampleTokens(logits, () => 0.49)).toEqual([1]);
      expect(sampleTokens(logits, () => 0.51)).toEqual([3]);
      logits.dispose();
    });

    it('greedy takes the lowest id among ties, per row', () => {
      const logits = tf.tensor2d([
        [0.1, 2, 2],
        [5, -1, 5],
        [-Infinity, -3, -Infinity],
      ]);
      expect(greedyTokens(logits)).toEqual([1, 0, 1]);
      logits.dispose();
    });
  });

  describe('repetition penalty', () => {
    it('divides positive and multiplies negative logits of seen tokens, once per token', () => {
      const logits = tf.tensor2d([
        [2, -1, 0.5, -3, 1],
        [2, -1, 0.5, -3, 1],
      ]);
      const out = repetitionPenaltyProcessor(2)(logits, {
        tokens: [
          [0, 1, 1, 3],
          [4, 2, 2, 2],
        ],
        step: 3,
      });
      expect(rows(out)).toEqual([
        [1, -2, 0.5, -6, 1],
        [2, -1, 0.25, -3, 0.5],
      ]);
      tf.dispose([logits, out]);
    });

    it('penalty 1 changes nothing; a zero logit stays zero', () => {
      const logits = tf.tensor2d([[0, 1.5, -2]]);
      const one = repetitionPenaltyProcessor(1)(logits, context(1, [0, 1, 2]));
      const two = repetitionPenaltyProcessor(1.3)(logits, context(1, [0]));
      expect(rows(one)).toEqual([[0, 1.5, -2]]);
      expect(rows(two)).toEqual([[0, 1.5, -2]]);
      tf.dispose([logits, one, two]);
    });
  });

  describe('composition', () => {
    // softmax([2, 1, 0]) = [0.665, 0.245, 0.090]; softmax([4, 2, 0]) = [0.867, 0.117, 0.016].
    it('temperature 0.5 then top-p 0.8 keeps one token; top-p then temperature keeps two', () => {
      const logits = tf.tensor2d([[2, 1, 0]]);
      const ctx = context(1);
      const tempFirst = applyLogitsProcessors(
        logits,
        [temperatureProcessor(0.5), topPProcessor(0.8)],
        ctx,
      );
      const topPFirst = applyLogitsProcessors(
        logits,
        [topPProcessor(0.8), temperatureProcessor(0.5)],
        ctx,
      );
      expect(rows(tempFirst)).toEqual([[4, -Infinity, -Infinity]]);
      expect(rows(topPFirst)).toEqual([[4, 2, -Infinity]]);
      tf.dispose([logits, tempFirst, topPFirst]);
    });

    it('repetition penalty then top-k on a hand example', () => {
      const logits = tf.tensor2d([[3, 2.5, 1, -1]]);
      const out = applyLogitsProcessors(
        logits,
        [repetitionPenaltyProcessor(2), topKProcessor(2)],
        context(1, [0]),
      );
      // Token 0: 3 / 2 = 1.5, now below token 1 (2.5) and above token 2 (1).
      expect(rows(out)).toEqual([[1.5, 2.5, -Infinity, -Infinity]]);
      tf.dispose([logits, out]);
    });

    it('no processors: a fresh copy, and the input is never disposed', () => {
      const logits = tf.tensor2d([[1, 2]]);
      const out = applyLogitsProcessors(logits, [], context(1));
      expect(out).not.toBe(logits);
      out.dispose();
      expect(logits.isDisposed).toBe(false);
      expectClose(logits, [1, 2]);
      logits.dispose();
    });
  });

  describe('no leaks', () => {
    const processors: Array<[string, LogitsProcessor]> = [
      ['temperature', temperatureProcessor(0.7)],
      ['topK', topKProcessor(2)],
      ['topP', topPProcessor(0.9)],
      ['minP', minPProcessor(0.1)],
      ['repetitionPenalty', repetitionPenaltyProcessor(1.2)],
    ];
    for (const [name, processor] of processors) {
      it(`${name} adds exactly its output and keeps its input`, () => {
        const logits = tf.tensor2d([
          [1, 2, 3, 4],
          [4, 3, 2, 1],
        ]);
        expectNoLeak(() => processor(logits, context(2, [0, 3])));
        expect(logits.isDisposed).toBe(false);
        logits.dispose();
      });
    }

    it('applyLogitsProcessors frees the intermediates', () => {
      const logits = tf.tensor2d([[1, 2, 3, 4]]);
      expectNoLeak(() =>
        applyLogitsProcessors(
          logits,
          processors.map(([, p]) => p),
          context(1, [2]),
        ),
      );
      expectNoLeak(() => applyLogitsProcessors(logits, [], context(1)));
      // A processor that returns its input is not disposed from under the caller.
      expectNoLeak(() => applyLogitsProcessors(logits, [(x) => x, topKProcessor(1)], context(1)));
      expect(logits.isDisposed).toBe(false);
      logits.dispose();
    });

    it('applyLogitsProcessors frees the intermediate when a later processor throws', () => {
      const logits = tf.tensor2d([[1, 2, 3, 4]]);
      const before = tf.memory().numTensors;
      const failing: LogitsProcessor = () => {
        throw new Error('processor failed');
      };
      expect(() =>
        applyLogitsProcessors(logits, [temperatureProcessor(0.5), failing], context(1)),
      ).toThrow('processor failed');
      expect(tf.memory().numTensors).toBe(before);
      expect(logits.isDisposed).toBe(false);
      logits.dispose();
    });

    it('applyLogitsProcessors names a processor that returns the wrong shape or no tensor, and frees both', () => {
      const logits = tf.tensor2d([[1, 2, 3, 4]]);
      const before = tf.memory().numTensors;
      const wrongShape: LogitsProcessor = () => tf.zeros([2, 4]) as tf.Tensor2D;
      const notATensor = (() => [[1, 2, 3, 4]]) as unknown as LogitsProcessor;
      for (const [bad, argument] of [
        [wrongShape, 'processors[1]'],
        [notATensor, 'processors[1]'],
      ] as const) {
        let error: unknown;
        try {
          applyLogitsProcessors(logits, [temperatureProcessor(0.5), bad], context(1));
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(TfjsBlocksError);
        expect((error as TfjsBlocksError).argument).toBe(argument);
        expect(tf.memory().numTensors).toBe(before);
      }
      logits.dispose();
    });

    it('greedyTokens and sampleTokens add no tensor', () => {
      const logits = tf.tensor2d([[1, 2, 3, 4]]);
      expectNoLeak(() => {
        greedyTokens(logits);
        sampleTokens(logits, seededRandom(0));
        return [];
      });
      logits.dispose();
    });
  });
});

describeRejections('logits processors reject bad options and inputs', () => {
  const logits = tf.tensor2d([[1, 2, 3]]);
  return [
    ['temperature 0', () => temperatureProcessor(0), /temperature must be .*\(0, inf\); got 0/],
    ['temperature -1', () => temperatureProcessor(-1), /temperature/],
    ['temperature NaN', () => temperatureProcessor(Number.NaN), /temperature/],
    ['topK 0', () => topKProcessor(0), /topKProcessor: k must be an integer >= 1; got number 0/],
    ['topK 1.5', () => topKProcessor(1.5), /k must be an integer/],
    ['topP 0', () => topPProcessor(0), /topPProcessor: p must be .*\(0, 1\]; got 0/],
    ['topP 1.5', () => topPProcessor(1.5), /p must be/],
    ['minP -0.1', () => minPProcessor(-0.1), /minPProcessor: p must be .*\[0, 1\]/],
    ['minP 1.1', () => minPProcessor(1.1), /p must be/],
    ['penalty 0', () => repetitionPenaltyProcessor(0), /penalty must be .*\(0, inf\)/],
    ['penalty Infinity', () => repetitionPenaltyProcessor(Infinity), /penalty/],
    ['seed 1.5', () => seededRandom(1.5), /seededRandom: seed must be a safe integer/],
    ['seed 2 ** 60', () => seededRandom(2 ** 60), /seed must be a safe integer/],
    [
      'rank-1 logits',
      () => topKProcessor(1)(tf.tensor1d([1, 2]) as unknown as tf.Tensor2D, context(1)),
      /logits must be a float32 tensor of rank 2 \[batch, vocab\]/,
    ],
    [
      'int32 logits to greedy',
      () => greedyTokens(tf.tensor2d([[1, 2]], [1, 2], 'int32')),
      /greedyTokens: logits must be a float32 tensor/,
    ],
    [
      'penalty context with the wrong batch',
      () => repetitionPenaltyProcessor(1.2)(logits, context(2)),
      /context.tokens must be one row per logits row \(1\); got 2 rows/,
    ],
    [
      'penalty context with an id out of range',
      () => repetitionPenaltyProcessor(1.2)(logits, context(1, [3])),
      /context.tokens\[0\]\[0\] must be an integer id in \[0, 3\); got number 3/,
    ],
    [
      'sampling a fully masked row',
      () => sampleTokens(tf.tensor2d([[-Infinity, -Infinity]]), Math.random),
      /sampleTokens: logits must be a row with a finite logit; got row 0 all -Infinity/,
    ],
    [
      'sampling NaN',
      () => sampleTokens(tf.tensor2d([[0, Number.NaN]]), Math.random),
      /finite or -Infinity values; got NaN in row 0/,
    ],
    [
      'random() returning 1',
      () => sampleTokens(logits, () => 1),
      /sampleTokens: random\(\) must be a finite number in \[0, 1\); got 1/,
    ],
    [
      'greedy on a fully masked row',
      () => greedyTokens(tf.tensor2d([[0], [-Infinity]])),
      /greedyTokens: logits must be a row with a logit above -Infinity; got row 1/,
    ],
    [
      'a processor that is not a function',
      () => applyLogitsProcessors(logits, [42 as unknown as LogitsProcessor], context(1)),
      /applyLogitsProcessors: processors\[0\] must be a function; got number 42/,
    ],
  ];
});

describe('logits processors name the slot at fault', () => {
  function argumentOf(call: () => unknown): string {
    try {
      call();
    } catch (e) {
      expect(e).toBeInstanceOf(TfjsBlocksError);
      return (e as TfjsBlocksError).argument;
    }
    throw new Error('did not throw');
  }
  const logits = tf.tensor2d([[1, 2, 3]]);

  it('a hole in the processor list', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
    const processors = [temperatureProcessor(1), , topKProcessor(1)] as LogitsProcessor[];
    expect(argumentOf(() => applyLogitsProcessors(logits, processors, context(1)))).toBe(
      'processors[1]',
    );
  });

  it('a hole or an out-of-range id in the repetition penalty context', () => {
    const penalise = repetitionPenaltyProcessor(1.2);
    // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
    const holed = { tokens: [[0, , 1] as number[]], step: 0 };
    expect(argumentOf(() => penalise(logits, holed))).toBe('context.tokens[0][1]');
    expect(argumentOf(() => penalise(logits, { tokens: [[0, 1, 7]], step: 0 }))).toBe(
      'context.tokens[0][2]',
    );
  });
});

describe('logits processors: edges the mutation run found untested', () => {
  // The published mulberry32 (bryc), which seededRandom is for seeds in [0, 2^32).
  function mulberry32(a: number): () => number {
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  it('seededRandom is mulberry32 for 32-bit seeds, and folds the high bits in above', () => {
    for (const seed of [0, 1, 42, 123456789, 2 ** 32 - 1]) {
      const ours = seededRandom(seed);
      const reference = mulberry32(seed);
      const a = Array.from({ length: 50 }, ours);
      expect(a, `seed ${seed}`).toEqual(Array.from({ length: 50 }, reference));
    }
    // Above 2^32 the high word, times the golden-ratio constant, is xored into the state.
    for (const [low, high] of [
      [1, 1],
      [7, 3],
      [0, 2 ** 20],
    ] as const) {
      const folded = (low ^ Math.imul(high, 0x9e3779b9)) >>> 0;
      const a = Array.from({ length: 20 }, seededRandom(low + high * 2 ** 32));
      expect(a, `${high} * 2^32 + ${low}`).toEqual(Array.from({ length: 20 }, mulberry32(folded)));
    }
    // A negative seed: its two's-complement words.
    const neg = Array.from({ length: 20 }, seededRandom(-1));
    const folded = (0xffffffff ^ Math.imul(0xffffffff, 0x9e3779b9)) >>> 0;
    expect(neg).toEqual(Array.from({ length: 20 }, mulberry32(folded)));
  });

  it('sampleTokens draws each row with its own random() value, in row order, by the running mass', () => {
    // Row 0: weights [1, 1, 2] / 4; row 1: [-Infinity, 0, 0] → [0, 1/2, 1/2].
    const logits = tf.tensor2d([
      [0, 0, Math.log(2)],
      [-Infinity, 0, 0],
    ]);
    const draw = (values: number[]) => {
      let i = 0;
      const calls: number[] = [];
      const ids = sampleTokens(logits, () => {
        calls.push(i);
        return values[i++]!;
      });
      expect(calls).toEqual([0, 1]);
      return ids;
    };
    expect(draw([0, 0])).toEqual([0, 1]);
    expect(draw([0.24, 0.49])).toEqual([0, 1]);
    expect(draw([0.26, 0.51])).toEqual([1, 2]);
    expect(draw([0.49, 0.99])).toEqual([1, 2]);
    expect(draw([0.51, 0.5 - 2 ** -20])).toEqual([2, 1]);
    logits.dispose();
  });

  it('sampleTokens: a row of large equal logits and a very negative one draw by relative weight', () => {
    // exp(logit - max) keeps the weights finite: 1000 - 1000 = 0; -1000 underflows to weight 0.
    const logits = tf.tensor2d([[1000, 1000, -1000]]);
    expect(sampleTokens(logits, () => 0.49)).toEqual([0]);
    expect(sampleTokens(logits, () => 0.51)).toEqual([1]);
    expect(sampleTokens(logits, () => 1 - 2 ** -53)).toEqual([1]);
    logits.dispose();
  });

  it('greedyTokens skips NaN and takes a lone finite logit', () => {
    const logits = tf.tensor2d([
      [Number.NaN, 1, Number.NaN, 3],
      [-Infinity, -Infinity, -5, Number.NaN],
      [-1e30, -2e30, -Infinity, -Infinity],
    ]);
    expect(greedyTokens(logits)).toEqual([3, 2, 0]);
    logits.dispose();
  });

  it('top-k, top-p and min-p on a batch whose rows differ, NaN masked by top-p and min-p', () => {
    const logits = tf.tensor2d([
      [3, 1, 2, 0],
      [0, 2, 1, 3],
      [1, Number.NaN, 1, 0],
    ]);
    const k = topKProcessor(2)(logits, context(3));
    expect(rows(k).slice(0, 2)).toEqual([
      [3, -Infinity, 2, -Infinity],
      [-Infinity, 2, -Infinity, 3],
    ]);
    const p = topPProcessor(1)(logits, context(3));
    expect(rows(p)[2]).toEqual([1, -Infinity, 1, 0]);
    // softmax(row 0) = [0.644, 0.087, 0.237, 0.032]: 0.644 < 0.7 <= 0.881.
    const p7 = topPProcessor(0.7)(logits, context(3));
    expect(rows(p7)).toEqual([
      [3, -Infinity, 2, -Infinity],
      [-Infinity, 2, -Infinity, 3],
      [1, -Infinity, 1, -Infinity],
    ]);
    // exp(-1) = 0.368 >= 0.3; exp(-2) = 0.135 < 0.3.
    const m = minPProcessor(0.3)(logits, context(3));
    expect(rows(m)).toEqual([
      [3, -Infinity, 2, -Infinity],
      [-Infinity, 2, -Infinity, 3],
      [1, -Infinity, 1, 0],
    ]);
    // min-p at exactly a token's ratio keeps it: exp(2 - 3) >= exp(-1).
    const edge = minPProcessor(Math.exp(-1))(tf.tensor2d([[3, 2]]), context(1));
    expect(rows(edge)).toEqual([[3, 2]]);
    tf.dispose([logits, k, p, p7, m, edge]);
  });

  it('top-p and min-p pass a row with no real logit (all NaN, or NaN and -Infinity) through unchanged', () => {
    const logits = tf.tensor2d([
      [Number.NaN, Number.NaN],
      [Number.NaN, -Infinity],
    ]);
    const p = topPProcessor(0.5)(logits, context(2));
    const m = minPProcessor(0.5)(logits, context(2));
    expect(rows(p)).toEqual(rows(logits));
    expect(rows(m)).toEqual(rows(logits));
    tf.dispose([logits, p, m]);
  });

  it('top-p weighs large logits relative to the row maximum (no overflow)', () => {
    // softmax([400, 399, 0]) = [0.731, 0.269, 0]: p = 0.9 needs both large tokens.
    const logits = tf.tensor2d([[400, 399, 0]]);
    const out = topPProcessor(0.9)(logits, context(1));
    expect(rows(out)).toEqual([[400, 399, -Infinity]]);
    tf.dispose([logits, out]);
  });

  it('a first processor that throws leaves the input alive and nothing behind', () => {
    const logits = tf.tensor2d([[1, 2, 3]]);
    const before = tf.memory().numTensors;
    const failing: LogitsProcessor = () => {
      throw new Error('processor failed');
    };
    expect(() => applyLogitsProcessors(logits, [failing], context(1))).toThrow('processor failed');
    expect(logits.isDisposed).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    logits.dispose();
  });

  it('top-k with k = vocab keeps the row as it is, NaN too; k = vocab - 1 drops the smallest', () => {
    const logits = tf.tensor2d([[1, Number.NaN, 2]]);
    const all = topKProcessor(3)(logits, context(1));
    expect(rows(all)[0]).toEqual([1, Number.NaN, 2]);
    const two = topKProcessor(2)(tf.tensor2d([[1, -1, 2]]), context(1));
    expect(rows(two)).toEqual([[1, -Infinity, 2]]);
    tf.dispose([logits, all, two]);
  });

  it('repetition penalty: each row uses its own tokens; an empty row changes nothing', () => {
    const logits = tf.tensor2d([
      [4, -2, 1],
      [4, -2, 1],
      [4, -2, 1],
    ]);
    const out = repetitionPenaltyProcessor(4)(logits, {
      tokens: [[0], [1, 2], []],
      step: 0,
    });
    expect(rows(out)).toEqual([
      [1, -2, 1],
      [4, -8, 0.25],
      [4, -2, 1],
    ]);
    tf.dispose([logits, out]);
  });

  it('name the bad argument: context, random, seed, processors', async () => {
    const logits = tf.tensor2d([[1, 2, 3]]);
    const two = tf.tensor2d([
      [1, 2, 3],
      [1, 2, 3],
    ]);
    const penalise = repetitionPenaltyProcessor(1.2);
    const cases: [() => unknown, string][] = [
      [() => penalise(logits, undefined as never), 'context.tokens'],
      [() => penalise(logits, { step: 0 } as never), 'context.tokens'],
      [() => penalise(logits, { tokens: 'ab' as never, step: 0 }), 'context.tokens'],
      [() => penalise(logits, { tokens: [], step: 0 }), 'context.tokens'],
      [() => penalise(logits, { tokens: [5 as never], step: 0 }), 'context.tokens[0]'],
      [() => penalise(two, { tokens: [[0], 'x' as never], step: 0 }), 'context.tokens[1]'],
      [() => penalise(logits, { tokens: [[0, -1]], step: 0 }), 'context.tokens[0][1]'],
      [() => penalise(logits, { tokens: [[1.5]], step: 0 }), 'context.tokens[0][0]'],
      [() => penalise(logits, { tokens: [['1' as never]], step: 0 }), 'context.tokens[0][0]'],
      [() => penalise(two, { tokens: [[0], [2, 3]], step: 0 }), 'context.tokens[1][1]'],
      [() => penalise(tf.tensor1d([1]) as never, context(1)), 'logits'],
      [() => temperatureProcessor(1)(tf.tensor2d([[1]], [1, 1], 'int32'), context(1)), 'logits'],
      [() => temperatureProcessor(Infinity), 'temperature'],
      [() => topPProcessor(Number.NaN), 'p'],
      [() => minPProcessor(Number.NaN), 'p'],
      [() => topKProcessor(Infinity), 'k'],
      [() => sampleTokens(logits, 42 as never), 'random'],
      [() => sampleTokens(logits, () => -0.1), 'random()'],
      [() => sampleTokens(logits, () => Number.NaN), 'random()'],
      [() => sampleTokens(tf.tensor2d([[0, Infinity]]), () => 0), 'logits'],
      [() => sampleTokens(tf.tensor1d([0]) as never, () => 0), 'logits'],
      [() => greedyTokens(tf.tensor2d([[Number.NaN, Number.NaN]])), 'logits'],
      [() => seededRandom('1' as never), 'seed'],
      [() => seededRandom(Number.NaN), 'seed'],
      [() => applyLogitsProcessors(logits, 'x' as never, context(1)), 'processors'],
      [() => applyLogitsProcessors(logits, [() => 'x' as never], context(1)), 'processors[0]'],
      [() => applyLogitsProcessors(tf.tensor1d([1]) as never, [], context(1)), 'logits'],
    ];
    for (const [call, argument] of cases) {
      expect(thrownBy(call).argument).toBe(argument);
    }
    // An async processor is named, and the tensor it resolves to is freed.
    const before = tf.memory().numTensors;
    const asyncProcessor = (async (x: tf.Tensor2D) => tf.clone(x)) as unknown as LogitsProcessor;
    expect(
      thrownBy(() => applyLogitsProcessors(logits, [asyncProcessor], context(1))).argument,
    ).toBe('processors[0]');
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([logits, two]);
  });

  it('a processor that returns its input keeps it; the chain then disposes only its own tensors', () => {
    const logits = tf.tensor2d([[1, 2, 3]]);
    const before = tf.memory().numTensors;
    const same: LogitsProcessor = (x) => x;
    const out = applyLogitsProcessors(logits, [same, same], context(1));
    expect(out).not.toBe(logits);
    expect(rows(out)).toEqual([[1, 2, 3]]);
    out.dispose();
    const chained = applyLogitsProcessors(
      logits,
      [temperatureProcessor(0.5), same, temperatureProcessor(0.5)],
      context(1),
    );
    expect(rows(chained)).toEqual([[4, 8, 12]]);
    chained.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(logits.isDisposed).toBe(false);
    logits.dispose();
  });
});
