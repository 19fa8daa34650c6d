import { describe, expect, it } from 'vitest';
import { formatDuration, type Progress, ProgressReporter } from '../../examples/progress';

// The demo's progress bar (examples/char-gpt.ts) on a fake clock: a training
// loop whose steps take 0.1 s (the demo's speed on wasm) must be drawn at least once a second, with a
// measured ETA from the first draw on.
describe('ProgressReporter (the demo progress bar)', () => {
  it('draws from the loop at least once a second, not on every step, and at the end', () => {
    let time = 0;
    const draws: Array<Progress & { at: number }> = [];
    const reporter = new ProgressReporter({
      total: 300,
      now: () => time,
      draw: (p) => draws.push({ ...p, at: time }),
    });
    for (let step = 1; step <= 300; step++) {
      time += 100; // one synchronous training step
      reporter.step(step);
    }
    expect(draws[0]!.at).toBe(100); // the first step
    expect(draws.at(-1)!.value).toBe(300); // the last
    const gaps = draws.slice(1).map((d, i) => d.at - draws[i]!.at);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1000); // at least once a second
    expect(draws.length).toBeGreaterThanOrEqual(30);
    expect(draws.length).toBeLessThan(300 / 2); // but not on every step
  });

  it('computes the ETA from the speed so far: never 0 s while steps remain', () => {
    let time = 0;
    const draws: Progress[] = [];
    const reporter = new ProgressReporter({
      total: 2000,
      now: () => time,
      draw: (p) => draws.push(p),
    });
    expect(reporter.progress(0).etaSeconds).toBeUndefined();
    time += 90; // 90 ms per step
    reporter.step(1);
    expect(draws[0]!.etaSeconds).toBeCloseTo(1999 * 0.09, 6);
    time = 90_000;
    reporter.step(1000);
    expect(draws.at(-1)!.etaSeconds).toBeCloseTo(90, 6);
    expect(draws.at(-1)!.elapsedSeconds).toBe(90);
  });

  it('formats durations, unknown as …', () => {
    expect(formatDuration(undefined)).toBe('…');
    expect(formatDuration(0.4)).toBe('0s');
    expect(formatDuration(75)).toBe('1m 15s');
    expect(formatDuration(3725)).toBe('1h 02m');
  });
});
