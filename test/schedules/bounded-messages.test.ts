// A bad option value is described in the message, never printed whole: a
// long string is cut, a buffer or array named by its kind (issue 17, item 8).
import { describe, expect, it } from 'vitest';
import {
  joinSchedules,
  oneCycleSchedule,
  piecewiseConstantSchedule,
  ReduceLearningRateOnPlateau,
  wsdSchedule,
} from '../../src/index';
import { thrownBy } from '../helpers/rejections';

const long = 'x'.repeat(100_000);
const buffer = new Float32Array(100_000);

describe('schedule factories describe bad values', () => {
  it('cut a long name given for a choice, keeping the argument', () => {
    const cases = [
      [
        () => oneCycleSchedule({ maxValue: 1, totalSteps: 10, annealStrategy: long as never }),
        'options.annealStrategy',
      ],
      [
        () =>
          wsdSchedule({
            peakValue: 1,
            warmupSteps: 1,
            stableSteps: 1,
            decaySteps: 1,
            decayShape: long as never,
          }),
        'options.decayShape',
      ],
      [() => new ReduceLearningRateOnPlateau({ mode: long as never }), 'options.mode'],
    ] as const;
    for (const [call, argument] of cases) {
      const error = thrownBy(call);
      expect(error.argument).toBe(argument);
      expect(error.actual).toMatch(/^x+… \(\d+ more characters\)$/);
      expect(error.message.length).toBeLessThan(300);
    }
  });

  it('name a buffer or an empty array by its kind', () => {
    const monitor = thrownBy(() => new ReduceLearningRateOnPlateau({ monitor: buffer as never }));
    expect(monitor.argument).toBe('options.monitor');
    expect(monitor.actual).toBe('a Float32Array of length 100000');
    const scales = thrownBy(() =>
      piecewiseConstantSchedule({ initValue: 1, boundariesAndScales: long as never }),
    );
    expect(scales.argument).toBe('options.boundariesAndScales');
    expect(scales.message.length).toBeLessThan(300);
    const none = thrownBy(() => joinSchedules([], []));
    expect(none.argument).toBe('schedules');
    expect(none.actual).toBe('an array');
    const boundaries = thrownBy(() => joinSchedules([() => 1, () => 2], buffer as never));
    expect(boundaries.argument).toBe('boundaries');
    expect(boundaries.actual).toBe('a Float32Array of length 100000');
  });
});
