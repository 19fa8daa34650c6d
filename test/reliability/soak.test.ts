// The short soak: scripts/soak.ts for 60 steps on wasm (cpu's plain-JS
// kernels take ~1.2 s per step of this model; wasm ~0.2 s), checkpointing
// every 20 steps and generating every 30, in a child process. Asserts that
// tf.memory()'s tensor count and bytes are exactly flat after a 10-step
// warm-up. RSS is reported but not checked here: 50 steps are too few for a
// growth figure to mean anything (the 1,000-step run checks it).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runScriptToCompletion } from '../helpers/child-process';

const SOAK = fileURLToPath(new URL('../../scripts/soak.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface SoakReport {
  backend: string;
  steps: number;
  lossFirst: number;
  lossLast: number;
  numTensors: { warmup: number; end: number; maxDeviation: number };
  numBytes: { warmup: number; end: number; maxDeviation: number };
  rss: { atWarmup: number; end: number; growthPercent: number };
  failures: string[];
}

describe('soak (short): 60 training steps with checkpoints and generation', () => {
  it('keeps tf.memory() exactly flat after warm-up (wasm)', async () => {
    const output = await runScriptToCompletion(
      SOAK,
      [
        '--backend',
        'wasm',
        '--steps',
        '60',
        '--checkpoint-every',
        '20',
        '--generate-every',
        '30',
        '--warmup',
        '10',
        '--max-rss-growth',
        'none',
      ],
      ROOT,
    );
    const line = output.split('\n').find((l) => l.startsWith('SOAK_REPORT '));
    expect(line, output).toBeDefined();
    const report = JSON.parse(line!.slice('SOAK_REPORT '.length)) as SoakReport;
    console.log(
      `short soak: ${report.numTensors.warmup} tensors / ${report.numBytes.warmup} bytes after warm-up, ` +
        `max deviation ${report.numTensors.maxDeviation} / ${report.numBytes.maxDeviation}; ` +
        `RSS ${report.rss.growthPercent}% from step 10 to 60; loss ${report.lossFirst.toFixed(3)} -> ${report.lossLast.toFixed(3)}`,
    );
    expect(report.backend).toBe('wasm');
    expect(report.steps).toBe(60);
    expect(report.numTensors.maxDeviation).toBe(0);
    expect(report.numBytes.maxDeviation).toBe(0);
    expect(report.numTensors.end).toBe(report.numTensors.warmup);
    expect(report.failures).toEqual([]);
    // Three checkpoints and two generations ran.
    expect(output.match(/checkpoint step \d+ saved/g)).toHaveLength(3);
    expect(output.match(/generated/g)).toHaveLength(2);
    expect(report.lossLast).toBeLessThan(report.lossFirst);
  });
});
