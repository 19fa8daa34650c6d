// savePretrained checked against what transformers was seen to open. The
// reference scripts (test/reference/write_saved_folders.ts, then
// check_saved_folders.py) wrote each folder of SAVED_FOLDERS, opened it with
// AutoModelForCausalLM / AutoModelForSequenceClassification / AutoModel and
// AutoTokenizer, matched our logits (1e-5 relative), ids and chat template,
// and recorded the files it accepted. Here each folder is written again and
// must be those files: the same names, JSON, tensor names, dtypes, shapes
// and bytes (sha256), so CI checks the saver without Python.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { savePretrained } from '../../src/node/index';
import { FIXTURES, loadSavedFolderModel, SAVED_FOLDERS } from '../helpers/saved-folders';

type FileEntry = {
  sha256?: string;
  json?: unknown;
  metadata?: Record<string, string> | null;
  tensors?: Record<string, { dtype: string; shape: number[]; sha256: string }>;
};
const expected: {
  tolerance: number;
  checked: Record<string, { auto: string; outputRelative: number; tokenizer?: unknown }>;
  folders: Record<string, Record<string, FileEntry>>;
} = JSON.parse(readFileSync(`${FIXTURES}pretrained/saved/expected.json`, 'utf8'));

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The folder's files as check_saved_folders.py describes them. */
function describeFolder(dir: string): Record<string, FileEntry> {
  const out: Record<string, FileEntry> = {};
  for (const name of readdirSync(dir).sort()) {
    const raw = new Uint8Array(readFileSync(join(dir, name)));
    if (name.endsWith('.safetensors')) {
      const n = Number(new DataView(raw.buffer, raw.byteOffset).getBigUint64(0, true));
      const header = JSON.parse(new TextDecoder().decode(raw.subarray(8, 8 + n)));
      const data = raw.subarray(8 + n);
      const { __metadata__: metadata = null, ...rest } = header;
      const tensors: NonNullable<FileEntry['tensors']> = {};
      for (const key of Object.keys(rest).sort()) {
        const [start, end] = rest[key].data_offsets as [number, number];
        tensors[key] = {
          dtype: rest[key].dtype,
          shape: rest[key].shape,
          sha256: sha256(data.subarray(start, end)),
        };
      }
      out[name] = { metadata, tensors };
      continue;
    }
    const entry: FileEntry = { sha256: sha256(raw) };
    if (['config.json', 'generation_config.json', 'model.safetensors.index.json'].includes(name)) {
      entry.json = JSON.parse(new TextDecoder().decode(raw));
    }
    out[name] = entry;
  }
  return out;
}

describe('savePretrained writes the folders transformers was checked to open', () => {
  const root = mkdtempSync(join(tmpdir(), 'tfjs-blocks-saved-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('the record covers every folder, each opened by transformers within the tolerance', () => {
    expect(Object.keys(expected.folders).sort()).toEqual(SAVED_FOLDERS.map((s) => s.name).sort());
    for (const spec of SAVED_FOLDERS) {
      const checked = expected.checked[spec.name]!;
      expect(checked.auto).toBe(spec.auto);
      expect(checked.outputRelative).toBeLessThan(expected.tolerance);
      expect(checked.tokenizer !== undefined).toBe(spec.tokenizer !== undefined);
    }
    // At least one sharded folder, and tokenizers with chat templates of two styles.
    expect(expected.folders['llama-sharded']!['model.safetensors.index.json']).toBeDefined();
    expect(SAVED_FOLDERS.filter((s) => s.chat).map((s) => s.tokenizer)).toEqual(
      expect.arrayContaining(['gpt2', 'llama']),
    );
  });

  it.each(SAVED_FOLDERS.map((spec) => [spec.name, spec] as const))(
    '%s: the same files, JSON, tensors and bytes; nothing left behind',
    async (name, spec) => {
      const before = tf.memory().numTensors;
      const { model, tokenizer } = await loadSavedFolderModel(spec);
      const dir = join(root, name);
      await savePretrained(dir, model, tokenizer, spec.options);
      tf.dispose(model.params as unknown as tf.TensorContainer);
      expect(tf.memory().numTensors).toBe(before);
      expect(describeFolder(dir)).toEqual(expected.folders[name]);
    },
  );
});
