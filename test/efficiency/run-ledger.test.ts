import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  createRunLedger,
  DEFAULT_POWER_PROFILE,
  type EnergySource,
  gpt2Config,
  modelCost,
  type RunLedgerState,
} from '../../src/index';
import { thrownWithoutLeak } from '../helpers/rejections';

const config = gpt2Config({ vocabSize: 64, maxLength: 16, dModel: 16, numHeads: 2, numLayers: 1 });
const { flopsPerToken } = modelCost(config);

/** A clock the test advances by hand (ms). */
function manualClock() {
  let now = 0;
  return { clock: () => now, advance: (ms: number) => (now += ms) };
}

describe('createRunLedger', () => {
  it('records spans: tokens and time measured, FLOPs from modelCost, energy estimated from the default power profile', () => {
    const { clock, advance } = manualClock();
    const ledger = createRunLedger({ model: config, clock });
    const timer = ledger.start('training');
    advance(2000);
    const entry = timer.end(100);
    expect(entry).toEqual({
      kind: 'training',
      tokens: 100,
      seconds: 2,
      flops: 100 * flopsPerToken.training,
      joules: 2 * DEFAULT_POWER_PROFILE.watts,
      energy: 'estimated',
      co2Grams: ((2 * 65) / 3.6e6) * 475,
    });
    ledger.record({ kind: 'inference', tokens: 10, seconds: 1 });
    const r = ledger.report();
    expect(r.spans).toBe(2);
    expect(r.tokens).toEqual({ value: 110, label: 'measured' });
    expect(r.seconds).toEqual({ value: 3, label: 'measured' });
    expect(r.flops).toEqual({
      value: 100 * flopsPerToken.training + 10 * flopsPerToken.forward,
      label: 'estimated',
    });
    expect(r.energyJoules).toEqual({ value: 3 * 65, label: 'estimated' });
    expect(r.co2Grams.label).toBe('estimated');
    expect(r.inference.tokens.value).toBe(10);
    expect(r.energySource).toBe('none');
    expect(r.power).toEqual(DEFAULT_POWER_PROFILE);
    expect(ledger.summary()).toMatch(
      /2 spans · 3 s \(measured\) · 110 tokens \(measured\) · [\d.]+ MFLOP \(estimated\) · 195 J \(estimated: 65 W, default/,
    );
  });

  it('measures energy from an energy source, and falls back to estimated (labelled) when it cannot read', () => {
    const { clock, advance } = manualClock();
    let joules = 1000;
    let readable = true;
    const meter: EnergySource = {
      name: 'fake meter',
      readJoules: () => (readable ? joules : undefined),
    };
    const ledger = createRunLedger({
      flopsPerToken: 10,
      power: { watts: 20, device: 'test' },
      gridIntensity: 100,
      energySource: meter,
      clock,
    });
    const a = ledger.start('training');
    advance(1000);
    joules += 42;
    expect(a.end(5)).toMatchObject({ joules: 42, energy: 'measured', flops: 50 });
    expect(ledger.report().energyJoules).toEqual({ value: 42, label: 'measured' });
    expect(ledger.summary()).toContain('42 J (measured by fake meter)');
    readable = false;
    const b = ledger.start('training');
    advance(500);
    expect(b.end(5)).toMatchObject({ joules: 10, energy: 'estimated' });
    const r = ledger.report();
    expect(r.energyJoules).toEqual({ value: 52, label: 'mixed' });
    expect(r.measuredJoules).toBe(42);
    expect(r.co2Grams.value).toBeCloseTo((52 / 3.6e6) * 100, 12);
    expect(ledger.summary()).toContain('mixed');
    // A throwing source counts as unreadable too.
    const broken = createRunLedger({
      flopsPerToken: 1,
      energySource: {
        name: 'broken',
        readJoules: () => {
          throw new Error('EACCES');
        },
      },
    });
    expect(broken.start('inference').end(1).energy).toBe('estimated');
  });

  it('toJSON → state restores, and merge sums totals (a resumed run)', () => {
    const first = createRunLedger({ model: config });
    first.record({ kind: 'training', tokens: 64, seconds: 1.5 });
    first.record({ kind: 'training', tokens: 64, seconds: 1.5, joules: 7 });
    const saved = JSON.parse(JSON.stringify(first.toJSON())) as RunLedgerState;
    const resumed = createRunLedger({ model: config, state: saved });
    resumed.record({ kind: 'training', tokens: 64, seconds: 1 });
    const whole = createRunLedger({ model: config });
    for (const s of [1.5, 1.5, 1]) whole.record({ kind: 'training', tokens: 64, seconds: s });
    expect(resumed.report().tokens.value).toBe(whole.report().tokens.value);
    expect(resumed.report().flops.value).toBe(whole.report().flops.value);
    expect(resumed.toJSON().training.spans).toBe(3);
    expect(resumed.toJSON().training.measuredJoules).toBe(7);
    const merged = createRunLedger({ model: config });
    merged.merge(first);
    merged.merge(saved);
    expect(merged.toJSON().training.tokens).toBe(256);
    expect(merged.toJSON().training.spans).toBe(4);
  });

  it('rejects bad options with typed errors naming the argument, leaving no tensor', () => {
    const bad = (call: () => unknown) => thrownWithoutLeak(call).argument;
    expect(bad(() => createRunLedger({}))).toBe('options.model');
    expect(bad(() => createRunLedger(undefined as never))).toBe('options');
    expect(bad(() => createRunLedger({ model: config, flopsPerToken: 1 }))).toBe(
      'options.flopsPerToken',
    );
    expect(bad(() => createRunLedger({ flopsPerToken: -1 }))).toBe('options.flopsPerToken');
    expect(bad(() => createRunLedger({ flopsPerToken: { training: 1 } as never }))).toBe(
      'options.flopsPerToken.inference',
    );
    expect(bad(() => createRunLedger({ flopsPerToken: 1, context: 8 }))).toBe('options.context');
    expect(bad(() => createRunLedger({ model: config, context: 0 }))).toBe('options.context');
    expect(bad(() => createRunLedger({ flopsPerToken: 1, power: { watts: 0 } }))).toBe(
      'options.power.watts',
    );
    expect(bad(() => createRunLedger({ flopsPerToken: 1, power: { wats: 5 } as never }))).toBe(
      'options.power.wats',
    );
    expect(bad(() => createRunLedger({ flopsPerToken: 1, power: 30 as never }))).toBe(
      'options.power',
    );
    expect(bad(() => createRunLedger({ flopsPerToken: 1, gridIntensity: Number.NaN }))).toBe(
      'options.gridIntensity',
    );
    expect(bad(() => createRunLedger({ flopsPerToken: 1, energySource: {} as never }))).toBe(
      'options.energySource',
    );
    expect(bad(() => createRunLedger({ flopsPerToken: 1, clock: 5 as never }))).toBe(
      'options.clock',
    );
    expect(bad(() => createRunLedger({ flopsPerToken: 1, state: { format: 'x' } as never }))).toBe(
      'options.state',
    );
    const state = createRunLedger({ flopsPerToken: 1 }).toJSON();
    state.training.tokens = -3;
    expect(bad(() => createRunLedger({ flopsPerToken: 1, state }))).toBe(
      'options.state.training.tokens',
    );
    const ledger = createRunLedger({ flopsPerToken: 1 });
    expect(bad(() => ledger.record({ kind: 'train' as never, tokens: 1, seconds: 1 }))).toBe(
      'span.kind',
    );
    expect(bad(() => ledger.record({ kind: 'training', tokens: 1.5, seconds: 1 }))).toBe(
      'span.tokens',
    );
    expect(bad(() => ledger.record({ kind: 'training', tokens: 1, seconds: -1 }))).toBe(
      'span.seconds',
    );
    expect(bad(() => ledger.record({ kind: 'training', tokens: 1, seconds: 1, joules: NaN }))).toBe(
      'span.joules',
    );
    expect(bad(() => ledger.start('x' as never))).toBe('kind');
    const timer = ledger.start('inference');
    expect(bad(() => timer.end(-1))).toBe('tokens');
    timer.end(1);
    expect(bad(() => timer.end(1))).toBe('this');
    expect(bad(() => ledger.merge(null as never))).toBe('other');
    // No NaN reaches a report after the rejections.
    expect(JSON.stringify(ledger.report())).not.toMatch(/null|NaN/);
  });

  it('makes no tensor', () => {
    const before = tf.memory().numTensors;
    const ledger = createRunLedger({ model: config });
    ledger.start('training').end(3);
    ledger.summary();
    expect(tf.memory().numTensors).toBe(before);
  });
});
