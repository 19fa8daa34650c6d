// Compile-time checks, enforced by `tsc --noEmit` (part of `npm test`):
// expectTypeOf is a no-op at run time, so a wrong type fails the typecheck.
import { expectTypeOf, it } from 'vitest';
import {
  type AdamOptions,
  type DpSgdOptions,
  joinSchedules,
  learningRateScheduler,
  polynomialSparsitySchedule,
  type Schedule,
  scaleByLearningRate,
} from '../../src/index';

it('takes a learning rate as number | Schedule everywhere, and schedules as Schedule', () => {
  expectTypeOf(scaleByLearningRate).parameter(0).toEqualTypeOf<number | Schedule>();
  expectTypeOf<AdamOptions['learningRate']>().toEqualTypeOf<number | Schedule | undefined>();
  expectTypeOf<DpSgdOptions['learningRate']>().toEqualTypeOf<number | Schedule>();
  expectTypeOf(joinSchedules).parameter(0).toEqualTypeOf<readonly Schedule[]>();
  expectTypeOf(learningRateScheduler).parameter(0).toEqualTypeOf<Schedule>();
  expectTypeOf(polynomialSparsitySchedule).returns.toEqualTypeOf<Schedule>();
  // @ts-expect-error ScheduleLike is gone (issue 17): `number | Schedule` serves.
  type Removed = import('../../src/index').ScheduleLike;
  expectTypeOf<Removed>().toBeAny();
});
