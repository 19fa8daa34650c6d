import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  constantSchedule,
  cosineDecaySchedule,
  exponentialDecaySchedule,
  inverseSqrtSchedule,
  linearSchedule,
  polynomialSchedule,
  type Schedule,
  warmupCosineDecaySchedule,
  wsdSchedule,
} from '../../src/index';
import { runs } from './support';

// Schedules are plain JS (no tensors), so they run once, not per backend.

const value = fc.double({ min: 0, max: 10, noNaN: true });
const steps = fc.integer({ min: 1, max: 10_000 });
const begin = fc.integer({ min: 0, max: 1000 });
/** Steps to evaluate at: integers and fractions, up to well past the end of every schedule. */
const at = fc.array(fc.double({ min: 0, max: 50_000, noNaN: true }), {
  minLength: 1,
  maxLength: 8,
});

const clip = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);
const halfCos = (f: number) => 0.5 * (1 + Math.cos(Math.PI * f));

/** A schedule factory with random options, and its closed form written independently. */
const cases: Array<[string, fc.Arbitrary<{ schedule: Schedule; closed: Schedule }>]> = [
  ['constantSchedule', value.map((v) => ({ schedule: constantSchedule(v), closed: () => v }))],
  [
    'linearSchedule',
    fc.record({ init: value, end: value, n: steps, b: begin }).map(({ init, end, n, b }) => ({
      schedule: linearSchedule({
        initValue: init,
        endValue: end,
        transitionSteps: n,
        transitionBegin: b,
      }),
      closed: (s) => init + ((end - init) * clip(s - b, 0, n)) / n,
    })),
  ],
  [
    'polynomialSchedule',
    fc
      .record({
        init: value,
        end: value,
        n: steps,
        b: begin,
        power: fc.double({ min: 0.1, max: 4, noNaN: true }),
      })
      .map(({ init, end, n, b, power }) => ({
        schedule: polynomialSchedule({
          initValue: init,
          endValue: end,
          power,
          transitionSteps: n,
          transitionBegin: b,
        }),
        closed: (s) => (init - end) * (1 - clip(s - b, 0, n) / n) ** power + end,
      })),
  ],
  [
    'cosineDecaySchedule',
    fc
      .record({ init: value, n: steps, alpha: fc.double({ min: 0, max: 1, noNaN: true }) })
      .map(({ init, n, alpha }) => ({
        schedule: cosineDecaySchedule({ initValue: init, decaySteps: n, alpha }),
        closed: (s) => init * ((1 - alpha) * halfCos(Math.min(s, n) / n) + alpha),
      })),
  ],
  [
    'warmupCosineDecaySchedule',
    fc
      .record({
        init: value,
        peak: value,
        end: value,
        w: fc.integer({ min: 0, max: 500 }),
        d: steps,
      })
      .map(({ init, peak, end, w, d }) => ({
        schedule: warmupCosineDecaySchedule({
          initValue: init,
          peakValue: peak,
          warmupSteps: w,
          decaySteps: w + d,
          endValue: end,
        }),
        closed: (s) =>
          s < w
            ? init + ((peak - init) * s) / w
            : end + (peak - end) * halfCos(Math.min(s - w, d) / d),
      })),
  ],
  [
    'exponentialDecaySchedule',
    fc
      .record({
        init: value,
        n: steps,
        rate: fc.double({ min: 0.01, max: 1, noNaN: true }),
        staircase: fc.boolean(),
        b: begin,
      })
      .map(({ init, n, rate, staircase, b }) => ({
        schedule: exponentialDecaySchedule({
          initValue: init,
          transitionSteps: n,
          decayRate: rate,
          staircase,
          transitionBegin: b,
        }),
        closed: (s) => {
          const e = Math.max(s - b, 0) / n;
          return init * rate ** (staircase ? Math.floor(e) : e);
        },
      })),
  ],
  [
    'inverseSqrtSchedule',
    fc.record({ peak: value, w: fc.integer({ min: 1, max: 5000 }) }).map(({ peak, w }) => ({
      schedule: inverseSqrtSchedule({ peakValue: peak, warmupSteps: w }),
      closed: (s) => peak * Math.min((s + 1) / w, Math.sqrt(w / (s + 1))),
    })),
  ],
  [
    'wsdSchedule',
    fc
      .record({
        init: value,
        peak: value,
        end: value,
        w: fc.integer({ min: 0, max: 500 }),
        st: fc.integer({ min: 0, max: 500 }),
        d: steps,
        shape: fc.constantFrom('linear' as const, 'cosine' as const, 'sqrt' as const),
      })
      .map(({ init, peak, end, w, st, d, shape }) => ({
        schedule: wsdSchedule({
          initValue: init,
          peakValue: peak,
          endValue: end,
          warmupSteps: w,
          stableSteps: st,
          decaySteps: d,
          decayShape: shape,
        }),
        closed: (s) => {
          if (s < w) return init + ((peak - init) * s) / w;
          if (s < w + st) return peak;
          const t = Math.min(s - w - st, d) / d;
          const f = { linear: 1 - t, cosine: halfCos(t), sqrt: 1 - Math.sqrt(t) }[shape];
          return end + (peak - end) * f;
        },
      })),
  ],
];

describe('property: schedules match their closed forms', () => {
  for (const [name, arbitrary] of cases) {
    it(`${name}: finite, >= 0 for non-negative options, equal to the closed form (200 runs)`, () => {
      fc.assert(
        fc.property(arbitrary, at, ({ schedule, closed }, points) => {
          for (const s of points) {
            const v = schedule(s);
            expect(Number.isFinite(v), `step ${s}: ${v}`).toBe(true);
            expect(v, `step ${s}`).toBeGreaterThanOrEqual(0);
            const c = closed(s);
            expect(Math.abs(v - c), `step ${s}: ${v} vs ${c}`).toBeLessThanOrEqual(
              1e-12 + 1e-9 * Math.abs(c),
            );
          }
        }),
        runs(200),
      );
    });
  }
});
