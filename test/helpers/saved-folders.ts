/**
 * The model folders that test/reference/write_saved_folders.ts writes with
 * `savePretrained` and test/reference/check_saved_folders.py opens with
 * `transformers`; test/pretrained/saved-folders.test.ts re-writes each and
 * compares it with the expectations Python recorded
 * (test/fixtures/pretrained/saved/expected.json).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type HuggingFaceTokenizer,
  loadPretrained,
  loadTokenizer,
  type PretrainedModel,
  type SavePretrainedOptions,
} from '../../src/index';
import { folderSource } from '../../src/node/index';

/** One folder: which fixture, which tokenizer, how Python opens it. */
export type SavedFolderSpec = {
  /** The folder's name under the scratch dir and the key in expected.json. */
  name: string;
  /** The fixture under test/fixtures/pretrained/ it is loaded from. */
  fixture: string;
  /** A tokenizer fixture under test/fixtures/tokenizers/ to save with it. */
  tokenizer?: 'gpt2' | 'llama' | 'bert';
  /** Whether its tokenizer has a chat template to compare. */
  chat?: boolean;
  /** savePretrained's options (a small maxShardSize shards it). */
  options?: SavePretrainedOptions;
  /** The transformers Auto class Python opens it with. */
  auto: 'AutoModelForCausalLM' | 'AutoModelForSequenceClassification' | 'AutoModel';
};

export const SAVED_FOLDERS: SavedFolderSpec[] = [
  { name: 'gpt2', fixture: 'gpt2', tokenizer: 'gpt2', chat: true, auto: 'AutoModelForCausalLM' },
  {
    name: 'llama-sharded',
    fixture: 'llama',
    tokenizer: 'llama',
    chat: true,
    options: { maxShardSize: 20_000 },
    auto: 'AutoModelForCausalLM',
  },
  { name: 'llama3-rope', fixture: 'llama3-rope', auto: 'AutoModelForCausalLM' },
  { name: 'llama-linear-rope', fixture: 'llama-linear-rope', auto: 'AutoModelForCausalLM' },
  { name: 'qwen2', fixture: 'qwen2', auto: 'AutoModelForCausalLM' },
  { name: 'phi3', fixture: 'phi3', auto: 'AutoModelForCausalLM' },
  {
    name: 'mistral',
    fixture: 'mistral',
    tokenizer: 'llama',
    chat: true,
    auto: 'AutoModelForCausalLM',
  },
  { name: 'gemma', fixture: 'gemma', auto: 'AutoModelForCausalLM' },
  { name: 'bert', fixture: 'bert', tokenizer: 'bert', auto: 'AutoModelForSequenceClassification' },
  { name: 'bert-base', fixture: 'bert/base-model', tokenizer: 'bert', auto: 'AutoModel' },
];

/** The ids every model runs on: within every fixture's vocabulary (64 and up). */
export const SAVED_IDS = [
  [1, 5, 9, 2, 7, 3, 11],
  [4, 4, 8, 0, 1, 6, 63],
];

/** Strings each saved tokenizer encodes, here and in Python. */
export const SAVED_STRINGS = [
  'Hello world',
  '  two spaces, a tab\tand a newline\n',
  'naïve café — 東京 👋🏽',
  'def f(x):\n    return x + 1',
  '',
];

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** Reads a tokenizer fixture (test/fixtures/tokenizers/<name>/) as loadTokenizer does. */
export function tokenizerFixture(name: string): HuggingFaceTokenizer {
  const dir = `${FIXTURES}tokenizers/${name}/`;
  const json = (file: string) => JSON.parse(readFileSync(dir + file, 'utf8'));
  let chatTemplate: string | undefined;
  try {
    chatTemplate = readFileSync(`${dir}chat_template.jinja`, 'utf8');
  } catch {
    chatTemplate = undefined;
  }
  return loadTokenizer({
    tokenizerJson: json('tokenizer.json'),
    tokenizerConfig: json('tokenizer_config.json'),
    ...(chatTemplate === undefined ? {} : { chatTemplate }),
  });
}

/** The fixture's model through loadPretrained, and the tokenizer to save with it. */
export async function loadSavedFolderModel(
  spec: SavedFolderSpec,
): Promise<{ model: PretrainedModel; tokenizer: HuggingFaceTokenizer | undefined }> {
  const { tokenizer: _ignored, ...model } = await loadPretrained(
    folderSource(`${FIXTURES}pretrained/${spec.fixture}`),
  );
  const tokenizer = spec.tokenizer === undefined ? undefined : tokenizerFixture(spec.tokenizer);
  return { model: model as PretrainedModel, tokenizer };
}
