import * as tf from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkOptionKeys,
  describeEntry,
  describeValue,
  optionKeys,
  truncateForMessage,
} from '../internal/checks';
import {
  DECODER_LM_CONFIG_KEYS,
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderLm,
} from '../models/decoder-lm';
import {
  type ConfidenceIntervalOptions,
  checkConfidenceInterval,
  drawReplicates,
  type MetricWithInterval,
  percentileInterval,
} from './bootstrap';

/**
 * What a bias probe needs of a tokenizer: text to token ids, synchronously or
 * not. Our `Tokenizer`s (`ByteTokenizer`, `HuggingFaceTokenizer`, the one
 * `loadPretrained` returns) fit.
 */
export interface ProbeTokenizer {
  /** Text to token ids in `[0, config.vocabSize)`. */
  encode(text: string): readonly number[] | Promise<readonly number[]>;
}

/** Options of {@link biasProbe}. */
export interface BiasProbeOptions {
  /**
   * Prompt templates, at least 2 (the interval is over templates), each
   * holding `placeholder` at least once: `'The {group} worked as a'`.
   */
  templates: readonly string[];
  /**
   * The groups and their terms, at least 2 groups of at least 1 term:
   * `{ female: ['woman', 'girl'], male: ['man', 'boy'] }`. Each template is
   * filled with every term of every group.
   */
  groups: Readonly<Record<string, readonly string[]>>;
  /** The text in the templates that a group term replaces. Default `'{group}'`. */
  placeholder?: string;
  /**
   * Text scored after each filled prompt (its ids are appended to the
   * prompt's): only the continuation's tokens are scored, the prompt is
   * context. Every group is then scored on the same tokens, the cleanest
   * comparison (`'The {group} worked as a'` + `' nurse'`). Default: none, the
   * filled prompt's own tokens are scored (all but the first, unless
   * `prefixIds` gives it a context).
   */
  continuation?: string;
  /**
   * Token ids put before every prompt as context and never scored, such as a
   * beginning-of-sequence id (`[50256]` for GPT-2). Default `[]`.
   */
  prefixIds?: readonly number[];
  /** The bootstrap over templates: {@link ConfidenceIntervalOptions}. Default `{}` (1000 resamples, 0.95, seed 0). */
  confidenceInterval?: ConfidenceIntervalOptions;
}

/** One filled prompt's score. */
export interface BiasProbeScore {
  /** Index into `options.templates`. */
  template: number;
  /** The group's name. */
  group: string;
  /** The group term filled in. */
  term: string;
  /** The filled prompt (with the continuation, if any). */
  text: string;
  /** Sum of the scored tokens' log-probabilities (natural log). */
  logLikelihood: number;
  /** Scored tokens. */
  tokens: number;
}

/** One group's summary. */
export interface BiasProbeGroup {
  /**
   * Mean log-likelihood of the group's prompts: per template, the mean over
   * the group's terms, then the mean over templates; the interval resamples
   * templates.
   */
  meanLogLikelihood: MetricWithInterval;
  /** `exp(−Σ logLikelihood / Σ tokens)` over the group's prompts. */
  perplexity: number;
  /** Filled prompts (templates × terms). */
  prompts: number;
}

/** The gap between two groups. */
export interface BiasProbeGap {
  /** `[a, b]`, in the order of `options.groups`. */
  groups: [string, string];
  /**
   * `a`'s mean log-likelihood minus `b`'s, paired by template (the interval
   * resamples templates and keeps each template's two means together).
   * Positive: the model finds `a`'s prompts more likely.
   */
  logLikelihoodGap: MetricWithInterval;
  /** `a`'s perplexity over `b`'s (> 1: `a`'s prompts surprise the model more). */
  perplexityRatio: number;
}

/** What {@link biasProbe} returns. */
export interface BiasProbeResult {
  /** Per group, in the order of `options.groups`. */
  byGroup: Map<string, BiasProbeGroup>;
  /** Every pair of groups `(a, b)`, `a` before `b` in `options.groups`. */
  gaps: BiasProbeGap[];
  /** Every filled prompt's score, template by template. */
  scores: BiasProbeScore[];
}

const BIAS_PROBE_OPTION_KEYS = optionKeys<BiasProbeOptions>({
  templates: true,
  groups: true,
  placeholder: true,
  continuation: true,
  prefixIds: true,
  confidenceInterval: true,
});

function checkStrings(fn: string, name: string, x: unknown, min: number): string[] {
  if (!Array.isArray(x) || x.length < min) {
    throw new TfjsBlocksError(
      fn,
      name,
      `an array of at least ${min} string${min === 1 ? '' : 's'}`,
      describeValue(x),
    );
  }
  for (let i = 0; i < x.length; i++) {
    if (typeof x[i] !== 'string' || x[i].length === 0) {
      throw new TfjsBlocksError(fn, `${name}[${i}]`, 'a non-empty string', describeEntry(x, i));
    }
  }
  return x as string[];
}

async function encodeIds(
  fn: string,
  tokenizer: ProbeTokenizer,
  text: string,
  vocabSize: number,
): Promise<number[]> {
  const ids: unknown = await tokenizer.encode(text);
  if (!Array.isArray(ids)) {
    throw new TfjsBlocksError(fn, 'tokenizer.encode', 'an array of token ids', describeValue(ids));
  }
  for (let i = 0; i < ids.length; i++) {
    const id: unknown = ids[i];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new TfjsBlocksError(
        fn,
        'tokenizer.encode',
        `token ids in [0, ${vocabSize})`,
        `${describeEntry(ids, i)} at ${i} for ${JSON.stringify(truncateForMessage(text))}`,
      );
    }
  }
  return ids as number[];
}

/**
 * Sum of log p(ids[t] | ids[<t]) over `t >= first`, and how many tokens
 * that is: one forward of the model, batch 1.
 */
function scoreIds(
  config: DecoderLmConfig,
  params: DecoderLmParams,
  ids: readonly number[],
  first: number,
): number {
  return tf.tidy(() => {
    const input = tf.tensor2d([ids.slice(0, -1) as number[]], undefined, 'int32');
    const logits = decoderLm(config, params, input); // [1, T-1, vocab]
    const scored = tf.slice(logits, [0, first - 1, 0], [1, ids.length - first, config.vocabSize]);
    const logProbs = tf.logSoftmax(scored); // [1, S, vocab]
    const targets = tf.oneHot(tf.tensor1d(ids.slice(first) as number[], 'int32'), config.vocabSize);
    return tf.sum(tf.mul(logProbs, tf.expandDims(targets, 0))).dataSync()[0]!;
  });
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/**
 * A counterfactual bias probe for a decoder-only language model: fills
 * templated prompts with each group's terms, scores every filled prompt's
 * log-likelihood (or a fixed continuation's) with the model, and reports per
 * group the mean log-likelihood and perplexity, and for every pair of groups
 * the log-likelihood gap, with percentile bootstrap intervals over templates.
 *
 * A group's score per template is the mean over its terms, so groups with
 * more terms do not weigh more; the gap is paired by template (a template
 * that every group finds unlikely moves no gap). Without `continuation` the
 * group term's own tokens are scored, so a gap mixes "which term is more
 * frequent" with "which group the context prefers"; with a `continuation`
 * every group is scored on the same tokens, which isolates the second
 * (StereoSet/CrowS-Pairs style: `'The {group} worked as a'` + `' nurse'`).
 *
 * Templates are the resampled unit (an interval over templates, not over
 * terms), so at least 2 are needed; the interval says how much the gap
 * depends on the choice of templates.
 *
 * Runs one forward per filled prompt (batch 1); tensors live inside
 * `tf.tidy` only, so the call leaves `tf.memory()` as it found it, also when
 * it rejects.
 *
 * @param config - the model's {@link DecoderLmConfig} (`loadPretrained`'s `config` too).
 * @param params - its params.
 * @param tokenizer - text to ids ({@link ProbeTokenizer}: `ByteTokenizer`, `HuggingFaceTokenizer`).
 * @param options - {@link BiasProbeOptions}: templates, groups and what to score.
 * @returns per-group summaries, pairwise gaps and every prompt's score.
 * @throws TfjsBlocksError on fewer than 2 templates or groups, a template
 *   without the placeholder, an empty term, ids outside the vocabulary, a
 *   prompt longer than `config.maxLength` or with no token to score.
 * @example
 * ```ts
 * const config = gpt2Config({ vocabSize: 256, maxLength: 64, dModel: 16, numLayers: 1, numHeads: 2 });
 * const params = initDecoderLm(config, 0);
 * const result = await biasProbe(config, params, new ByteTokenizer(), {
 *   templates: ['The {group} worked as a', 'The {group} was known for'],
 *   groups: { female: ['woman', 'girl'], male: ['man', 'boy'] },
 *   continuation: ' nurse',
 *   confidenceInterval: { nBoot: 500, seed: 1 },
 * });
 * const gap = result.gaps[0]?.logLikelihoodGap; // female − male: { value, interval: [lo, hi], ... }
 * ```
 */
export async function biasProbe(
  config: DecoderLmConfig,
  params: DecoderLmParams,
  tokenizer: ProbeTokenizer,
  options: BiasProbeOptions,
): Promise<BiasProbeResult> {
  const fn = 'biasProbe';
  if (options === null || typeof options !== 'object') {
    throw new TfjsBlocksError(fn, 'options', 'an options object', describeValue(options));
  }
  checkOptionKeys(fn, options, BIAS_PROBE_OPTION_KEYS);
  if (typeof tokenizer?.encode !== 'function') {
    throw new TfjsBlocksError(
      fn,
      'tokenizer',
      'an object with encode(text)',
      describeValue(tokenizer),
    );
  }
  // The model checks the rest of its config (and the params) on its first forward.
  checkOptionKeys(fn, config, DECODER_LM_CONFIG_KEYS, 'config');
  const vocabSize = checkInteger(fn, 'config.vocabSize', config?.vocabSize, 1);
  const maxLength = checkInteger(fn, 'config.maxLength', config.maxLength, 1);
  const placeholder = options.placeholder ?? '{group}';
  if (typeof placeholder !== 'string' || placeholder.length === 0) {
    throw new TfjsBlocksError(
      fn,
      'options.placeholder',
      'a non-empty string',
      describeValue(placeholder),
    );
  }
  const templates = checkStrings(fn, 'options.templates', options.templates, 2);
  templates.forEach((t, i) => {
    if (!t.includes(placeholder)) {
      throw new TfjsBlocksError(
        fn,
        `options.templates[${i}]`,
        `a template holding ${JSON.stringify(placeholder)}`,
        JSON.stringify(truncateForMessage(t)),
      );
    }
  });
  const groupsOption: unknown = options.groups;
  if (groupsOption === null || typeof groupsOption !== 'object' || Array.isArray(groupsOption)) {
    throw new TfjsBlocksError(
      fn,
      'options.groups',
      'a record of group terms',
      describeValue(groupsOption),
    );
  }
  const names = Object.keys(groupsOption);
  if (names.length < 2) {
    throw new TfjsBlocksError(fn, 'options.groups', 'at least 2 groups', `${names.length}`);
  }
  const terms = names.map((g) =>
    checkStrings(fn, `options.groups.${g}`, (groupsOption as Record<string, unknown>)[g], 1),
  );
  const continuation = options.continuation;
  if (
    continuation !== undefined &&
    (typeof continuation !== 'string' || continuation.length === 0)
  ) {
    throw new TfjsBlocksError(
      fn,
      'options.continuation',
      'a non-empty string',
      describeValue(continuation),
    );
  }
  const prefixIds = options.prefixIds ?? [];
  if (!Array.isArray(prefixIds)) {
    throw new TfjsBlocksError(
      fn,
      'options.prefixIds',
      'an array of token ids',
      describeValue(prefixIds),
    );
  }
  for (let i = 0; i < prefixIds.length; i++) {
    const id = prefixIds[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new TfjsBlocksError(
        fn,
        `options.prefixIds[${i}]`,
        `a token id in [0, ${vocabSize})`,
        describeEntry(prefixIds, i),
      );
    }
  }
  const ci = checkConfidenceInterval(
    fn,
    'options.confidenceInterval',
    options.confidenceInterval ?? {},
  );

  // Tokenize everything first (the tokenizer may be asynchronous); no tensor exists yet.
  const continuationIds =
    continuation === undefined ? [] : await encodeIds(fn, tokenizer, continuation, vocabSize);
  if (continuation !== undefined && continuationIds.length === 0) {
    throw new TfjsBlocksError(
      fn,
      'options.continuation',
      'text with at least one token',
      'no tokens',
    );
  }
  const prompts: {
    template: number;
    group: number;
    term: string;
    text: string;
    ids: number[];
    first: number;
  }[] = [];
  for (let t = 0; t < templates.length; t++) {
    for (let g = 0; g < names.length; g++) {
      for (const term of terms[g]!) {
        const prompt = templates[t]!.split(placeholder).join(term);
        const promptIds = await encodeIds(fn, tokenizer, prompt, vocabSize);
        const ids = [...prefixIds, ...promptIds, ...continuationIds];
        // Scored from the continuation, else from the first token that has a context.
        const first =
          continuation === undefined
            ? Math.max(1, prefixIds.length)
            : ids.length - continuationIds.length;
        if (ids.length > maxLength + 1) {
          throw new TfjsBlocksError(
            fn,
            `options.templates[${t}]`,
            `prompts of at most ${maxLength + 1} tokens (config.maxLength + 1)`,
            `${ids.length} tokens for ${JSON.stringify(truncateForMessage(prompt))}`,
          );
        }
        if (first >= ids.length || first < 1) {
          throw new TfjsBlocksError(
            fn,
            `options.templates[${t}]`,
            'prompts with a token to score after some context (use options.prefixIds)',
            `${ids.length} token(s) for ${JSON.stringify(truncateForMessage(prompt))}`,
          );
        }
        prompts.push({
          template: t,
          group: g,
          term,
          text: prompt + (continuation ?? ''),
          ids,
          first,
        });
      }
    }
  }

  const scores: BiasProbeScore[] = prompts.map((p) => ({
    template: p.template,
    group: names[p.group]!,
    term: p.term,
    text: p.text,
    logLikelihood: scoreIds(config, params, p.ids, p.first),
    tokens: p.ids.length - p.first,
  }));

  // perTemplate[g][t]: group g's mean log-likelihood over its terms in template t.
  const perTemplate = names.map((_, g) =>
    templates.map((__, t) =>
      mean(
        scores
          .filter((s, i) => prompts[i]!.group === g && s.template === t)
          .map((s) => s.logLikelihood),
      ),
    ),
  );
  const resampled = drawReplicates(ci, (uniform) =>
    templates.map(() => Math.floor(uniform() * templates.length)),
  );
  const meanOver = (values: readonly number[], picks: readonly number[]) =>
    mean(picks.map((t) => values[t]!));
  const perplexities = names.map((name) => {
    const own = scores.filter((s) => s.group === name);
    const ll = own.reduce((sum, s) => sum + s.logLikelihood, 0);
    return Math.exp(-ll / own.reduce((sum, s) => sum + s.tokens, 0));
  });

  const byGroup = new Map<string, BiasProbeGroup>();
  names.forEach((name, g) => {
    const values = perTemplate[g]!;
    byGroup.set(name, {
      meanLogLikelihood: percentileInterval(
        fn,
        mean(values),
        resampled.map((picks) => meanOver(values, picks)),
        ci,
      ),
      perplexity: perplexities[g]!,
      prompts: terms[g]!.length * templates.length,
    });
  });
  const gaps: BiasProbeGap[] = [];
  for (let a = 0; a < names.length; a++) {
    for (let b = a + 1; b < names.length; b++) {
      const diffs = templates.map((_, t) => perTemplate[a]![t]! - perTemplate[b]![t]!);
      gaps.push({
        groups: [names[a]!, names[b]!],
        logLikelihoodGap: percentileInterval(
          fn,
          mean(diffs),
          resampled.map((picks) => meanOver(diffs, picks)),
          ci,
        ),
        perplexityRatio: perplexities[a]! / perplexities[b]!,
      });
    }
  }
  return { byGroup, gaps, scores };
}
