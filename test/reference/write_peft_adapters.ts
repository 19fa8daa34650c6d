/**
 * Writes LoRA adapters of ours with `saveAdapter` for
 * test/reference/check_peft_adapters.py: each spec of OUR_ADAPTERS
 * (test/helpers/peft-adapters.ts) made on its base fixture
 * (test/fixtures/peft/base-<family>) and saved into `<dir>/<name>/`;
 * `<dir>/ours.json` holds our logits with each adapter (read back from the
 * folder with `loadAdapter`), for Python to compare with what
 * `PeftModel.from_pretrained` computes.
 *
 *   npx tsx test/reference/write_peft_adapters.ts [dir]   (default /tmp/tfjs-blocks-peft)
 *   /work/venv/bin/python test/reference/check_peft_adapters.py [dir]
 */
import '@tensorflow/tfjs-backend-cpu';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decoderLm, loadAdapter, loraTensors, withLora } from 'tfjs-blocks';
import { folderSource, saveAdapter } from 'tfjs-blocks/node';
import { loadBase, makeOurAdapter, OUR_ADAPTERS, OUR_IDS } from '../helpers/peft-adapters';

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const dir = process.argv[2] ?? '/tmp/tfjs-blocks-peft';
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const ours: Record<string, unknown> = {};
  for (const spec of OUR_ADAPTERS) {
    const base = await loadBase(spec.family);
    if (base.kind !== 'decoder-lm') throw new Error('a decoder base');
    const adapter = makeOurAdapter(spec, base);
    await saveAdapter(join(dir, spec.name), base, adapter);
    const back = await loadAdapter(folderSource(join(dir, spec.name)), base);
    const ids = tf.tensor2d(OUR_IDS, undefined, 'int32');
    const logits = decoderLm(base.config, withLora(base.params, back), ids);
    const plain = decoderLm(base.config, base.params, ids);
    ours[spec.name] = {
      family: spec.family,
      ids: OUR_IDS,
      logits: await logits.array(),
      baseLogits: await plain.array(),
    };
    tf.dispose([ids, logits, plain]);
    tf.dispose(Object.values(loraTensors(adapter)));
    tf.dispose(Object.values(loraTensors(back)));
    tf.dispose(base.params as unknown as tf.TensorContainer);
  }
  writeFileSync(join(dir, 'ours.json'), JSON.stringify(ours));
  console.log(`wrote ${OUR_ADAPTERS.length} adapters to ${dir}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
