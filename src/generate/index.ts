/**
 * tfjs-blocks/generate: autoregressive generation (greedy, sampling, beam search) with a KV cache,
 * logits processors and the byte tokenizer. Inference only: registers no gradients.
 *
 * @packageDocumentation
 */
export { type GenerateOptions, type GenerationModel, generate } from './generate';
export {
  applyLogitsProcessors,
  badWordsProcessor,
  greedyTokens,
  type LogitsProcessor,
  type LogitsProcessorContext,
  minNewTokensProcessor,
  minPProcessor,
  noRepeatNgramProcessor,
  repetitionPenaltyProcessor,
  sampleTokens,
  seededRandom,
  temperatureProcessor,
  topKProcessor,
  topPProcessor,
} from './logits-processors';
export type { GenerationLedger } from './options';
export { ByteTokenizer, type ByteTokenizerOptions, type Tokenizer } from './tokenizer';
