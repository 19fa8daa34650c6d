import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { loraTensors } from '../../src/fine-tuning/lora';
import { adapterFiles } from '../../src/fine-tuning/peft-adapter';
import { parseSafetensors } from '../../src/interop/safetensors';
import { loadBase, makeOurAdapter, OUR_ADAPTERS } from '../helpers/peft-adapters';

/** What check_peft_adapters.py recorded after PeftModel.from_pretrained loaded our files. */
type Recorded = Record<
  string,
  {
    adapterConfig: Record<string, unknown>;
    tensors: Record<string, { shape: number[]; sha256: string }>;
  }
>;

const RECORDED: Recorded = JSON.parse(
  readFileSync(join(__dirname, '..', 'fixtures', 'peft', 'ours.json'), 'utf8'),
);

describe('adapterFiles writes what PEFT loaded (test/fixtures/peft/ours.json)', () => {
  it('covers every adapter Python checked', () => {
    expect(OUR_ADAPTERS.map((s) => s.name).sort()).toEqual(Object.keys(RECORDED).sort());
  });

  for (const spec of OUR_ADAPTERS) {
    it(spec.name, async () => {
      const base = await loadBase(spec.family);
      const adapter = makeOurAdapter(spec, base);
      const before = tf.memory().numTensors;
      const files = adapterFiles(base, adapter);
      expect(tf.memory().numTensors).toBe(before);
      const recorded = RECORDED[spec.name]!;
      expect(JSON.parse(new TextDecoder().decode(files[0]!.bytes))).toEqual(recorded.adapterConfig);
      const { tensors } = parseSafetensors(files[1]!.bytes);
      const ours = Object.fromEntries(
        Object.entries(tensors).map(([key, t]) => [
          key,
          {
            shape: t.shape,
            sha256: createHash('sha256')
              .update(new Uint8Array((t.dataSync() as Float32Array).buffer))
              .digest('hex'),
          },
        ]),
      );
      expect(ours).toEqual(recorded.tensors);
      tf.dispose(Object.values(tensors));
      tf.dispose(Object.values(loraTensors(adapter)));
      tf.dispose(base.params as unknown as tf.TensorContainer);
    });
  }
});
