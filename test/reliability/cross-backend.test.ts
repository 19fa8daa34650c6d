// Cross-backend agreement in Node: every case runs on cpu (the reference)
// and on wasm with the same inputs (built on cpu, copied as numbers), and
// compares the outputs and the gradients of sum(output · cotangent) with
// respect to the listed inputs. An error is |wasm - cpu| / max|cpu| over each
// tensor (the tensor's largest entry sets the scale); every case must stay
// below 1e-4. The figures are printed at the end (and written as JSON to
// $CROSS_BACKEND_REPORT when set); docs/backends.md quotes them.
// The cases and the harness live in ./cross-backend-cases.ts, shared with the
// browser suite (test/browser/cross-backend.test.ts: webgl and webgpu).
//   npx vitest run test/reliability/cross-backend.test.ts
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { CASES, compareCase, RTOL } from './cross-backend-cases';

const measured: Array<{ fn: string; variant: string; output: number; gradient: number | null }> =
  [];

describe('cross-backend agreement: wasm against cpu, outputs and gradients', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
    const width = Math.max(...measured.map((m) => `${m.fn} (${m.variant})`.length));
    console.log(
      `max relative error, wasm vs cpu (|diff| / max|cpu| per tensor):\n${measured
        .map(
          (m) =>
            `${`${m.fn} (${m.variant})`.padEnd(width)}  output ${m.output.toExponential(1)}  ` +
            `gradient ${m.gradient === null ? '-' : m.gradient.toExponential(1)}`,
        )
        .join('\n')}`,
    );
    if (process.env.CROSS_BACKEND_REPORT)
      writeFileSync(process.env.CROSS_BACKEND_REPORT, JSON.stringify(measured, null, 1));
  });

  CASES.forEach((c, index) => {
    it(`${c.fn}: ${c.variant}`, async () => {
      const { cpu, other: wasm, output, gradient } = await compareCase(c, index, 'wasm');
      measured.push({ fn: c.fn, variant: c.variant, output, gradient });
      expect(wasm.result.outputs.length).toBe(cpu.result.outputs.length);
      expect(wasm.result.grads.length).toBe(cpu.result.grads.length);
      if (c.exact) expect(output, 'exact results differ').toBe(0);
      expect(output).toBeLessThan(RTOL);
      if (gradient !== null) expect(gradient).toBeLessThan(RTOL);
      // Neither backend leaves tensors behind.
      expect([cpu.leaked, wasm.leaked]).toEqual([0, 0]);
    });
  });
});
