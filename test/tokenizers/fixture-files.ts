// The tokenizer folders test/reference/tokenizers.py writes, read as loadTokenizer takes them.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TokenizerFiles } from '../../src/tokenizers/tokenizer-files';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/tokenizers/', import.meta.url));

/** The parsed files of the fixture tokenizer `name` (`gpt2`, `llama`, `bert`). */
export function readFiles(name: string): TokenizerFiles {
  const read = (file: string) => JSON.parse(readFileSync(`${FIXTURE_DIR}${name}/${file}`, 'utf8'));
  const jinja = `${FIXTURE_DIR}${name}/chat_template.jinja`;
  return {
    tokenizerJson: read('tokenizer.json'),
    tokenizerConfig: read('tokenizer_config.json'),
    ...(existsSync(jinja) ? { chatTemplate: readFileSync(jinja, 'utf8') } : {}),
  };
}

/** expected.json: what transformers gave for each fixture tokenizer. */
export function readExpected(): Record<string, unknown> {
  return JSON.parse(readFileSync(`${FIXTURE_DIR}expected.json`, 'utf8'));
}
