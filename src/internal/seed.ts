/**
 * Derives `count` distinct 32-bit integer seeds from one user seed, so each
 * tensor an `init…` function creates has its own reproducible stream.
 * (splitmix32: a fixed, well-mixed integer hash.)
 */
export function splitSeed(seed: number, count: number): number[] {
  let state = Math.trunc(seed) >>> 0;
  const seeds: number[] = [];
  for (let i = 0; i < count; i++) {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    seeds.push((z ^ (z >>> 16)) >>> 0);
  }
  return seeds;
}
