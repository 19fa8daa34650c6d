import { describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/index';

/** One bad call: a name, the call, and the message it must throw. */
export type Rejection = [name: string, call: () => unknown, message: RegExp];

/**
 * Declares one test per bad call: each must throw a {@link TfjsBlocksError}
 * whose message matches.
 */
export function describeRejections(title: string, cases: () => Rejection[]): void {
  describe(title, () => {
    for (const [name, call, message] of cases()) {
      it(name, () => {
        expect(call).toThrow(TfjsBlocksError);
        expect(call).toThrow(message);
      });
    }
  });
}
