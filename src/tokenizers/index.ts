/**
 * Hugging Face tokenizers (`tokenizer.json`) behind the library's
 * `Tokenizer` interface, with special tokens, padding and chat templates.
 *
 * @packageDocumentation
 */
export type { ChatMessage } from './chat-template';
export {
  type BatchEncoding,
  type ChatTemplateOptions,
  type DecodeOptions,
  type EncodeBatchOptions,
  type EncodeOptions,
  HuggingFaceTokenizer,
  type LoadTokenizerOptions,
  loadTokenizer,
  type PaddingSide,
  type SpecialTokens,
} from './hugging-face-tokenizer';
export type { TokenizerFiles } from './tokenizer-files';
