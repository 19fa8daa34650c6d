import { TfjsBlocksError } from '../errors';
import { checkInteger, checkOptionKeys, describeValue, optionKeys } from '../internal/checks';
import type { ChatMessage } from '../tokenizers/chat-template';
import { IGNORED_LABEL, type SequenceExample } from './examples';

/**
 * What {@link chatExamples} needs from a tokenizer: its chat template, as
 * token ids. `HuggingFaceTokenizer` fits.
 *
 * @example
 * ```ts
 * declare const files: TokenizerFiles;
 * const tokenizer: ChatTokenizer = loadTokenizer(files);
 * ```
 */
export interface ChatTokenizer {
  /** The conversation rendered by the chat template and encoded (no special tokens added). */
  applyChatTemplate(
    messages: ChatMessage[],
    options: { tokenize: true; addGenerationPrompt?: boolean },
  ): number[];
  /** The padding id, if the tokenizer has one. */
  readonly padTokenId?: number | undefined;
  /** The end-of-sequence id, if the tokenizer has one. */
  readonly eosTokenId?: number | undefined;
}

/** Options of {@link chatExamples}. */
export interface ChatExamplesOptions {
  /** Tokens per example: longer conversations are cut, shorter ones padded on the right. */
  sequenceLength: number;
  /** The id that pads (never learned). Default: the tokenizer's `padTokenId`, else `eosTokenId`, else `0`. */
  padId?: number;
}

const CHAT_EXAMPLE_KEYS = optionKeys<ChatExamplesOptions>({ sequenceLength: true, padId: true });

/**
 * Turns chat-formatted conversations into training examples whose loss
 * covers the assistant turns only: each conversation is rendered by the
 * tokenizer's chat template and encoded; `labels` copies the ids of every
 * assistant message (its content and the template's end-of-turn tokens) and
 * is `-100` (ignored) on the system and user turns, the role headers and
 * the padding, as TRL's `assistant_only_loss` does.
 *
 * An assistant turn `i` spans from the end of `messages[0..i)` rendered
 * with the generation prompt to the end of `messages[0..i]`; a template
 * whose prefix does not encode to a prefix of the whole conversation
 * (it rewrites earlier turns) is rejected, naming the message.
 * Conversations longer than `sequenceLength` are truncated, shorter ones
 * padded on the right (with causal attention, padding after the tokens
 * changes nothing before it).
 *
 * @param conversations - `[{ role, content }, ...]` per conversation.
 * @returns one example per conversation, ids and labels `[sequenceLength]`.
 * @example
 * ```ts
 * declare const tokenizer: HuggingFaceTokenizer;
 * const examples = chatExamples(tokenizer, [
 *   [
 *     { role: 'user', content: 'Capital of France?' },
 *     { role: 'assistant', content: 'Paris.' },
 *   ],
 * ], { sequenceLength: 64 });
 * ```
 */
export function chatExamples(
  tokenizer: ChatTokenizer,
  conversations: readonly ChatMessage[][],
  options: ChatExamplesOptions,
): SequenceExample[] {
  const fn = 'chatExamples';
  if (tokenizer === null || typeof tokenizer?.applyChatTemplate !== 'function') {
    throw new TfjsBlocksError(
      fn,
      'tokenizer',
      'a tokenizer with a chat template (applyChatTemplate)',
      describeValue(tokenizer),
    );
  }
  if (!Array.isArray(conversations)) {
    throw new TfjsBlocksError(
      fn,
      'conversations',
      'an array of conversations',
      describeValue(conversations),
    );
  }
  checkOptionKeys(fn, options, CHAT_EXAMPLE_KEYS);
  const length = checkInteger(fn, 'options.sequenceLength', options.sequenceLength, 2);
  const pad = checkInteger(
    fn,
    'options.padId',
    options.padId ?? tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0,
    0,
  );
  return conversations.map((messages, c) => {
    if (!Array.isArray(messages) || messages.length === 0) {
      throw new TfjsBlocksError(
        fn,
        `conversations[${c}]`,
        'a non-empty array of messages',
        describeValue(messages),
      );
    }
    const ids = tokenizer.applyChatTemplate(messages, { tokenize: true });
    const labels = ids.map(() => IGNORED_LABEL);
    messages.forEach((message, i) => {
      if (message?.role !== 'assistant') return;
      const before = tokenizer.applyChatTemplate(messages.slice(0, i), {
        tokenize: true,
        addGenerationPrompt: true,
      });
      const through = tokenizer.applyChatTemplate(messages.slice(0, i + 1), { tokenize: true });
      const consistent =
        before.length <= through.length &&
        through.length <= ids.length &&
        through.every((id, t) => id === ids[t]) &&
        before.every((id, t) => id === ids[t]);
      if (!consistent) {
        throw new TfjsBlocksError(
          fn,
          `conversations[${c}][${i}]`,
          'an assistant turn whose preceding messages encode to a prefix of the conversation',
          'a chat template that renders earlier turns differently once this one follows',
        );
      }
      for (let t = before.length; t < through.length; t++) labels[t] = ids[t]!;
    });
    const kept = Math.min(length, ids.length);
    const padding = length - kept;
    return {
      ids: [...ids.slice(0, kept), ...Array<number>(padding).fill(pad)],
      labels: [...labels.slice(0, kept), ...Array<number>(padding).fill(IGNORED_LABEL)],
    };
  });
}
