/**
 * Writes model folders with `savePretrained` for test/reference/check_saved_folders.py:
 * each tiny family fixture under test/fixtures/pretrained/ is loaded with
 * `loadPretrained` (a tokenizer from test/fixtures/tokenizers/ attached where
 * its family uses one) and written back into `<dir>/<name>/`; `<dir>/ours.json`
 * holds our logits for fixed ids, our token ids for a few strings and our
 * chat-template output, for Python to compare with what `transformers` reads.
 *
 *   npx tsx test/reference/write_saved_folders.ts [dir]   (default /tmp/tfjs-blocks-saved)
 *   /work/venv/bin/python test/reference/check_saved_folders.py [dir]
 *
 * The folder list (`SAVED_FOLDERS`) is shared with test/pretrained/saved-folders.test.ts,
 * which re-writes each folder and compares it with the expectations Python recorded.
 */
import '@tensorflow/tfjs-backend-cpu';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decoderLm, encoderClassifier, encoderHiddenStates, loadPretrained } from 'tfjs-blocks';
import { folderSource, savePretrained } from 'tfjs-blocks/node';
import {
  loadSavedFolderModel,
  SAVED_FOLDERS,
  SAVED_IDS,
  SAVED_STRINGS,
} from '../helpers/saved-folders';

const CONVERSATION = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hello there!' },
  { role: 'assistant', content: 'Hi.' },
  { role: 'user', content: 'What is 2 + 2?' },
];

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const dir = process.argv[2] ?? '/tmp/tfjs-blocks-saved';
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const ours: Record<string, unknown> = {};
  for (const spec of SAVED_FOLDERS) {
    const { model, tokenizer } = await loadSavedFolderModel(spec);
    await savePretrained(join(dir, spec.name), model, tokenizer, spec.options);
    // Our outputs, from the folder we wrote (so a save that loses something shows here too).
    const back = await loadPretrained(folderSource(join(dir, spec.name)));
    const ids = tf.tensor2d(SAVED_IDS, undefined, 'int32');
    const out = tf.tidy(() => {
      if (back.kind === 'decoder-lm') return decoderLm(back.config, back.params, ids);
      if (back.config.numClasses > 0) return encoderClassifier(back.config, back.params, ids);
      return encoderHiddenStates(back.config, back.params, ids).hiddenStates;
    });
    const entry: Record<string, unknown> = { output: await out.array() };
    tf.dispose([ids, out, back.params as unknown as tf.TensorContainer]);
    tf.dispose(model.params as unknown as tf.TensorContainer);
    if (back.tokenizer !== undefined) {
      const t = back.tokenizer;
      entry.ids = SAVED_STRINGS.map((s) => t.encode(s));
      entry.idsWithoutSpecial = SAVED_STRINGS.map((s) => t.encode(s, { addSpecialTokens: false }));
      if (spec.chat) {
        entry.chat = t.applyChatTemplate(CONVERSATION, { addGenerationPrompt: true });
        entry.chatIds = t.applyChatTemplate(CONVERSATION, {
          addGenerationPrompt: true,
          tokenize: true,
        });
      }
    }
    ours[spec.name] = entry;
    console.log(`wrote ${join(dir, spec.name)}`);
  }
  writeFileSync(
    join(dir, 'ours.json'),
    `${JSON.stringify({ ids: SAVED_IDS, strings: SAVED_STRINGS, conversation: CONVERSATION, models: ours })}\n`,
  );
  console.log(`numTensors left: ${tf.memory().numTensors}`);
}

await main();
