import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import { initLora, type LoraAdapter, loraTensors } from '../../src/fine-tuning/lora';
import { adapterFiles, loadAdapter } from '../../src/fine-tuning/peft-adapter';
import { saveAdapter } from '../../src/node/adapter-node';
import { folderSource } from '../../src/node/pretrained-node';
import { type LoadedPretrained, loadPretrained } from '../../src/pretrained/load';

const FIXTURES = join(__dirname, '..', 'fixtures', 'peft');

let gpt2: LoadedPretrained;
let adapter: LoraAdapter;
let scratch: string;
beforeAll(async () => {
  gpt2 = await loadPretrained(folderSource(join(FIXTURES, 'base-gpt2')));
  adapter = initLora(gpt2, { r: 2, alpha: 4, targetModules: ['c_attn'] }, 3);
  scratch = mkdtempSync(join(tmpdir(), 'tfjs-blocks-adapter-'));
});
afterAll(() => {
  tf.dispose(Object.values(loraTensors(adapter)));
  tf.dispose(gpt2.params as unknown as tf.TensorContainer);
  rmSync(scratch, { recursive: true, force: true });
});

describe('saveAdapter', () => {
  it("writes adapterFiles' bytes, atomically, and loadAdapter reads them back", async () => {
    const dir = join(scratch, 'a');
    const before = tf.memory().numTensors;
    const path = await saveAdapter(dir, gpt2, adapter, { baseModelNameOrPath: 'gpt2' });
    expect(tf.memory().numTensors).toBe(before);
    expect(path).toBe(dir);
    expect(readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const files = adapterFiles(gpt2, adapter, { baseModelNameOrPath: 'gpt2' });
    for (const file of files) {
      expect(new Uint8Array(readFileSync(join(dir, file.name)))).toEqual(file.bytes);
    }
    expect(JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')).fan_in_fan_out).toBe(
      true,
    );
    const back = await loadAdapter(folderSource(dir), gpt2);
    const name = 'transformer.h.0.attn.c_attn';
    expect(back.modules[name]!.b.length).toBe(3);
    expect(await back.modules[name]!.a.array()).toEqual(await adapter.modules[name]!.a.array());
    tf.dispose(Object.values(loraTensors(back)));
    // Replacing an adapter folder leaves no temp folder beside it.
    await saveAdapter(dir, gpt2, adapter);
    expect(readdirSync(scratch).filter((n) => n.startsWith('a'))).toEqual(['a']);
  });

  it('refuses a folder holding other files, an empty path, a bad adapter, before writing', async () => {
    const other = join(scratch, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    const reject = async (call: () => Promise<unknown>) => {
      const before = tf.memory().numTensors;
      const e = await call().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TfjsBlocksError);
      expect(tf.memory().numTensors).toBe(before);
      return e as TfjsBlocksError;
    };
    expect((await reject(() => saveAdapter(other, gpt2, adapter))).argument).toBe('dir');
    expect(readdirSync(other)).toEqual(['notes.txt']);
    expect((await reject(() => saveAdapter('', gpt2, adapter))).argument).toBe('dir');
    const fresh = join(scratch, 'never');
    expect(
      (await reject(() => saveAdapter(fresh, gpt2, { ...adapter, modules: {} }))).argument,
    ).toBe('adapter.modules');
    expect(readdirSync(scratch)).not.toContain('never');
  });
});
