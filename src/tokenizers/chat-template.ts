import { Template } from '@huggingface/jinja';
import { TfjsBlocksError } from '../errors';
import { describeValue, truncateForMessage } from '../internal/checks';
import { isJsonObject, type JsonObject } from './tokenizer-files';

/**
 * One message of a conversation, as `transformers`' `apply_chat_template`
 * takes it: a `role` (`'system'`, `'user'`, `'assistant'`, ...) and its
 * `content`; templates may read more keys (`tool_calls`, `name`).
 */
export type ChatMessage = { role: string; content: string; [key: string]: unknown };

/** A compiled chat template and where it came from (for error messages). */
export type ChatTemplate = { template: Template; source: string };

/**
 * The chat template of a tokenizer folder: `chat_template.jinja`'s text if
 * given (transformers 5), else `tokenizer_config.json`'s `chat_template`
 * (a string, or a list of `{name, template}` of which `'default'` is taken),
 * parsed once. `undefined` when the folder has none.
 */
export function readChatTemplate(
  fn: string,
  jinjaText: unknown,
  config: JsonObject,
): ChatTemplate | undefined {
  if (jinjaText !== undefined) {
    if (typeof jinjaText !== 'string') {
      throw new TfjsBlocksError(fn, 'chat_template.jinja', 'a string', describeValue(jinjaText));
    }
    return compile(fn, 'chat_template.jinja', jinjaText);
  }
  const field = config.chat_template;
  if (field === undefined || field === null) return undefined;
  const argument = 'tokenizer_config.json: chat_template';
  if (typeof field === 'string') return compile(fn, argument, field);
  if (Array.isArray(field)) {
    const named = field.find((t: unknown) => isJsonObject(t) && t.name === 'default');
    if (isJsonObject(named) && typeof named.template === 'string') {
      return compile(fn, argument, named.template);
    }
  }
  throw new TfjsBlocksError(
    fn,
    argument,
    "a string or a list of {name, template} with a 'default'",
    describeValue(field),
  );
}

function compile(fn: string, source: string, text: string): ChatTemplate {
  try {
    return { template: new Template(text), source };
  } catch (e) {
    const reason = truncateForMessage((e as Error).message);
    throw new TfjsBlocksError(
      fn,
      source,
      'a Jinja template',
      `one that does not parse (${reason})`,
    );
  }
}

/**
 * Renders `chat` with the variables `transformers` passes: `messages`,
 * `add_generation_prompt`, `tools`, `documents`, the special tokens
 * (`bos_token`, `eos_token`, ...) and any extra `variables`;
 * `@huggingface/jinja` defines `raise_exception` and `strftime_now` as
 * transformers does. An error while rendering, a template's
 * `raise_exception('Roles must alternate')` included, is a typed error
 * naming `messages` with the template's message.
 */
export function renderChatTemplate(
  fn: string,
  chat: ChatTemplate,
  variables: Record<string, unknown>,
): string {
  try {
    return chat.template.render(variables);
  } catch (e) {
    throw new TfjsBlocksError(
      fn,
      'messages',
      `a conversation the chat template (${chat.source}) accepts`,
      `one it rejects: ${truncateForMessage((e as Error).message)}`,
    );
  }
}
