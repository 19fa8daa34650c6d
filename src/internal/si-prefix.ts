/** SI prefixes from exa down to kilo, for figures printed with a unit (FLOPs, joules). */
const PREFIXES: readonly (readonly [number, string])[] = [
  [1e18, 'E'],
  [1e15, 'P'],
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
];

/**
 * `value` scaled to its largest SI prefix (`1.23e9` → `{ scaled: 1.23, prefix: 'G' }`);
 * below 1000 (and for negative or non-finite values below it) the value itself and `''`.
 */
export function siPrefix(value: number): { scaled: number; prefix: string } {
  for (const [scale, prefix] of PREFIXES) {
    if (Math.abs(value) >= scale) return { scaled: value / scale, prefix };
  }
  return { scaled: value, prefix: '' };
}
