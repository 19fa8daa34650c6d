import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScriptToCompletion, startScript } from '../helpers/child-process';

// Examples run as users run them (a child `node --import tsx`), so they cannot rot.
describe('examples', () => {
  for (const backend of ['cpu', 'wasm']) {
    it(`quickstart runs to completion on ${backend}`, async () => {
      await runScriptToCompletion('examples/quickstart.ts', ['--backend', backend], process.cwd());
    }, 60_000);

    it(`fine-tune (model.fit, save, reload, fine-tune) runs to completion on ${backend}`, async () => {
      const out = mkdtempSync(join(tmpdir(), 'fine-tune-smoke-'));
      try {
        await runScriptToCompletion(
          'examples/fine-tune.ts',
          ['--backend', backend, '--epochs', '1', '--out', out],
          process.cwd(),
        );
        expect(existsSync(join(out, 'fine-tuned', 'model.json'))).toBe(true);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    }, 240_000);

    it(`the demo (char-level GPT) trains, samples, checkpoints and plots on ${backend}`, async () => {
      const out = mkdtempSync(join(tmpdir(), 'char-gpt-smoke-'));
      try {
        const output = await runScriptToCompletion(
          'examples/char-gpt.ts',
          ['--backend', backend, '--steps', '2', '--batch', '8', '--out', out],
          process.cwd(),
        );
        expect(output).toMatch(/held-out loss [\d.]+ -> [\d.]+/);
        expect(output).toMatch(/int4 weights: .* held-out perplexity/);
        expect(readFileSync(join(out, 'loss.svg'), 'utf8')).toMatch(/^<svg[^>]*>[\s\S]*<polyline/);
        expect(existsSync(join(out, 'checkpoints', 'step-2', 'params.safetensors'))).toBe(true);
        // Its model card: Hugging Face front matter, the ledger's estimated energy, no NaN.
        const card = readFileSync(join(out, 'README.md'), 'utf8');
        expect(card).toMatch(/^---\nlicense: "apache-2.0"\nlibrary_name: "tfjs-blocks"\n/);
        expect(card).toContain('## Environmental Impact');
        expect(card).toContain('(estimated from a power profile)');
        expect(card).not.toMatch(/NaN|Infinity|undefined/);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    }, 240_000);

    it(`distillation runs to completion on ${backend}`, async () => {
      const output = await runScriptToCompletion(
        'examples/distillation.ts',
        ['--backend', backend, '--steps', '40'],
        process.cwd(),
      );
      expect(output).toMatch(/distilled on 2,000 unlabelled .* test accuracy/);
    }, 240_000);

    it(`pretrained (train, savePretrained, loadPretrained, chat template, streamed generate) runs on ${backend}`, async () => {
      const out = mkdtempSync(join(tmpdir(), 'pretrained-smoke-'));
      try {
        // Too short to learn the answers (--min-accuracy 0); the example still exits 1
        // unless the folder it wrote and loaded back answers exactly as the trained model did.
        const output = await runScriptToCompletion(
          'examples/pretrained.ts',
          [
            ...['--backend', backend, '--steps', '2', '--batch', '2'],
            ...['--min-accuracy', '0', '--out', out],
          ],
          process.cwd(),
        );
        expect(output).toMatch(/saved .*:\n {2}config\.json +[\d,]+ bytes/);
        expect(output).toMatch(/ {2}model\.safetensors +1,549,296 bytes/);
        expect(output).toMatch(/user: What is the capital of Kenya\?\nassistant: /);
        expect(output).toMatch(/answered as the trained one did/);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    }, 240_000);
  }

  for (const backend of ['cpu', 'wasm']) {
    it(`lora (pretrain, savePretrained, loadPretrained, initLora, fineTune, saveAdapter, loadAdapter) runs on ${backend}`, async () => {
      const out = mkdtempSync(join(tmpdir(), 'lora-smoke-'));
      try {
        // Too short to learn the names (--min-gain=-9); the example still exits 1 unless
        // the adapter read back from its PEFT files gives the trained adapter's logits.
        const output = await runScriptToCompletion(
          'examples/lora.ts',
          [
            ...['--backend', backend, '--steps', '2', '--lora-steps', '2', '--batch', '4'],
            ...['--min-gain=-9', '--out', out],
          ],
          process.cwd(),
        );
        expect(output).toMatch(/ {2}model\.safetensors +418,376 bytes\n {2}tokenizer\.json/);
        expect(output).toMatch(
          /on 4 modules \(transformer\.h\.0\.attn\.c_attn, .*: 9,216 trainable/,
        );
        expect(output).toMatch(/held-out loss on names [\d.]+ -> [\d.]+ nats\/char/);
        expect(output).toMatch(/samples after: +\w+/);
        expect(existsSync(join(out, 'adapter', 'adapter_config.json'))).toBe(true);
        expect(existsSync(join(out, 'adapter', 'adapter_model.safetensors'))).toBe(true);
        expect(output).toMatch(/the reloaded adapter's logits differ .* by 0\.0e\+0/);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    }, 240_000);
  }

  for (const backend of ['cpu', 'wasm']) {
    it(`data-parallel training over 2 ${backend} workers lowers the held-out loss and saves a checkpoint`, async () => {
      const out = mkdtempSync(join(tmpdir(), 'data-parallel-smoke-'));
      try {
        const output = await runScriptToCompletion(
          'examples/data-parallel.ts',
          ['--backend', backend, '--workers', '2', '--steps', '12', '--batch', '8', '--out', out],
          process.cwd(),
        );
        expect(output).toMatch(new RegExp(`trained 12 steps in [\\d.]+ s on 2 ${backend} workers`));
        expect(output).toMatch(/held-out loss 3\.369 -> [\d.]+ nats\/char/);
        expect(existsSync(join(out, 'step-12', 'params.safetensors'))).toBe(true);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    }, 240_000);
  }

  it('--backend tensorflow-gpu takes the same path and says what to install when tfjs-node-gpu is absent', async () => {
    const run = startScript(
      'examples/quickstart.ts',
      ['--backend', 'tensorflow-gpu'],
      process.cwd(),
    );
    expect(await run.exit).not.toBe(0);
    expect(run.output()).toMatch(/npm install @tensorflow\/tfjs-node-gpu/);
  }, 60_000);
});
