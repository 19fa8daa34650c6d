/**
 * What every benchmark prints about the machine it ran on: the CPU model and
 * its SIMD extensions (wasm SIMD is 128-bit everywhere while PyTorch uses the
 * widest ISA, so ratios move between hosts), the load average (these are
 * shared machines), and the commit measured.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';

/** The SIMD extensions worth naming, in the order they are printed. */
const SIMD_FLAGS = [
  'sse4_2',
  'avx',
  'avx2',
  'fma',
  'f16c',
  'avx512f',
  'avx512bw',
  'avx512vl',
  'avx512_vnni',
  'avx_vnni',
];

/** The CPU model and its SIMD flags, from /proc/cpuinfo. */
export function cpuInfo(): { model: string; flags: string } {
  if (!existsSync('/proc/cpuinfo')) return { model: 'unknown CPU', flags: 'unknown' };
  const text = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(text)?.[1]?.trim() ?? 'unknown CPU';
  const all = new Set(/flags\s*:\s*(.*)/.exec(text)?.[1]?.split(/\s+/) ?? []);
  return { model, flags: SIMD_FLAGS.filter((f) => all.has(f)).join(' ') || 'unknown' };
}

/** The 1, 5 and 15 minute load averages. */
export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** `model (flags), Node version, load average …`: the line a benchmark starts with. */
export function hostLine(): string {
  const { model, flags } = cpuInfo();
  return `${model} (${flags}), Node ${process.version}, load average ${loadAverage()}`;
}

/**
 * The short commit hash, marked when tracked files differ from it (untracked
 * ones, such as a worktree's node_modules link, do not count).
 */
export function commitLine(): string {
  const git = (...args: string[]) =>
    spawnSync('git', args, { encoding: 'utf8' }).stdout?.trim() ?? '';
  const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
  return `${git('rev-parse', '--short', 'HEAD') || 'unknown'}${dirty ? ' (with uncommitted changes)' : ''}`;
}

/**
 * The two checkouts an A/B benchmark compares, from its command line
 * (`<checkout A> <checkout B> …rest`), each with `modulePath` imported from it.
 * Both must resolve `@tensorflow/tfjs-core` to the same files (one tfjs
 * engine), as worktrees sharing node_modules do.
 */
export async function abSides<T>(
  usage: string,
  modulePath: string,
): Promise<{ sides: [string, T][]; rest: string[] }> {
  const [rootA, rootB, ...rest] = process.argv.slice(2);
  if (rootA === undefined || rootB === undefined) throw new Error(`usage: ${usage}`);
  const load = async (root: string) => (await import(resolve(root, modulePath))) as T;
  return {
    sides: [
      [`A (${rootA})`, await load(rootA)],
      [`B (${rootB})`, await load(rootB)],
    ],
    rest,
  };
}
