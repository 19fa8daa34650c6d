// Timing of cached decoding, shared by bench/generation.ts and bench/training.ts.
import { type GenerationModel, generate, gpt2Config } from 'tfjs-blocks';

/** The tiny GPT-2-style model both inference benchmarks decode with (vocab 64, d 128, 2 layers). */
export const decodingConfig = gpt2Config({
  vocabSize: 64,
  maxLength: 1024,
  dModel: 128,
  numLayers: 2,
  numHeads: 4,
});

/** A deterministic prompt of `context` tokens. */
const promptOf = (context: number) => Array.from({ length: context }, (_, i) => (i * 7) % 64);

/** Two greedy tokens after the prompt, untimed: compiles and allocates what the timed runs reuse. */
export async function warmUpDecoding(
  model: GenerationModel,
  context: number,
  useCache = true,
): Promise<void> {
  await generate(model, [promptOf(context)], { maxNewTokens: 2, temperature: 0, useCache });
}

/**
 * One greedy run of `newTokens` after a `context`-token prompt: the time to
 * the first token (the prompt's prefill) and each time between consecutive
 * tokens, in ms.
 */
export async function timeDecoding(
  model: GenerationModel,
  context: number,
  newTokens: number,
  useCache = true,
): Promise<{ prefillMs: number; stepMs: number[] }> {
  const prompt = promptOf(context);
  const stamps: number[] = [];
  const start = performance.now();
  await generate(model, [prompt], {
    maxNewTokens: newTokens,
    temperature: 0,
    useCache,
    onToken: () => stamps.push(performance.now()),
  });
  return { prefillMs: stamps[0]! - start, stepMs: stamps.slice(1).map((t, i) => t - stamps[i]!) };
}
