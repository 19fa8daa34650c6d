/** The most characters any one part of a {@link TfjsBlocksError} message keeps. */
const MAX_MESSAGE_PART = 1000;

/** `text` cut to {@link MAX_MESSAGE_PART} characters. */
function capPart(text: string): string {
  return text.length <= MAX_MESSAGE_PART ? text : `${text.slice(0, MAX_MESSAGE_PART)}…`;
}

/**
 * The one error class tfjs-blocks throws for invalid input.
 *
 * Every message names the function, the argument, what was expected and what
 * came, so a bad call fails at the library's door rather than deep inside a
 * tfjs kernel or as a silent NaN.
 *
 * @example
 * ```ts
 * import { scaledDotProductAttention, TfjsBlocksError } from 'tfjs-blocks';
 * try {
 *   scaledDotProductAttention(q3d, k, v);
 * } catch (e) {
 *   if (e instanceof TfjsBlocksError) console.log(e.argument, e.expected, e.actual);
 * }
 * ```
 */
export class TfjsBlocksError extends Error {
  /** The function that rejected the input, e.g. `scaledDotProductAttention`. */
  readonly functionName: string;
  /** The argument or option at fault, e.g. `q` or `options.mask`. */
  readonly argument: string;
  /** What the argument should have been. */
  readonly expected: string;
  /** What it was. */
  readonly actual: string;

  /**
   * Builds the message `<functionName>: <argument> must be <expected>; got <actual>`.
   *
   * @param functionName - the public function that rejected the input.
   * @param argument - the argument or option at fault.
   * @param expected - what was expected, in words.
   * @param actual - what came, in words.
   */
  constructor(functionName: string, argument: string, expected: string, actual: string) {
    // Callers describe values with describeValue, which already caps them;
    // capping here too covers any part built by hand from a user's string.
    [functionName, argument, expected, actual] = [functionName, argument, expected, actual].map(
      capPart,
    ) as [string, string, string, string];
    super(`${functionName}: ${argument} must be ${expected}; got ${actual}`);
    this.name = 'TfjsBlocksError';
    this.functionName = functionName;
    this.argument = argument;
    this.expected = expected;
    this.actual = actual;
  }
}
