import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { runScriptToCompletion } from '../helpers/child-process';
import { dropTfjsNodeBanner, TFJS_NODE_BANNER } from '../helpers/quiet-tfjs';

// tfjs-backend-cpu's Node.js banner appeared 46 times in `npm test`: once per
// test file, child process and worker thread on cpu.
describe("tfjs's Node.js banner in tests", () => {
  it('is dropped from console.warn, other warnings pass', () => {
    const seen: unknown[][] = [];
    const fake = { warn: (...args: unknown[]) => seen.push(args) } as unknown as Console;
    const realConsole = globalThis.console;
    globalThis.console = fake;
    try {
      dropTfjsNodeBanner(fake, { write: () => true });
      // A fresh cpu backend prints the banner on its first tensor, through the global console.
      const backend = new MathBackendCPU();
      backend.disposeData(backend.write(new Float32Array([1]), [1], 'float32'));
      console.warn('another warning');
    } finally {
      globalThis.console = realConsole;
    }
    expect(seen).toEqual([['another warning']]);
  });

  it('is not in the output of child processes the tests start, nor of their worker threads', async () => {
    mkdirSync('scratch', { recursive: true });
    const file = join('scratch', `tfjs-banner-${process.pid}.ts`);
    const onCpu = `const tf = require('@tensorflow/tfjs-core'); require('@tensorflow/tfjs-backend-cpu');
      tf.setBackend('cpu').then(() => { tf.tensor([1]); console.log('worker used cpu'); });`;
    writeFileSync(
      file,
      `import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
await tf.setBackend('cpu');
tf.tensor([1]);
console.log('main used cpu');
await new Promise((done) => new Worker(${JSON.stringify(onCpu)}, { eval: true }).on('exit', done));
`,
    );
    try {
      const output = await runScriptToCompletion(file, [], process.cwd());
      expect(output).toContain('main used cpu');
      expect(output).toContain('worker used cpu');
      expect(output).not.toContain(TFJS_NODE_BANNER);
    } finally {
      rmSync(file, { force: true });
    }
  }, 60_000);
});
