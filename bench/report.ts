import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';

const PATH = 'docs/benchmarks.md';
const HEADER = [
  '# Benchmarks',
  '',
  'Written by the scripts under `bench/` (`npm run bench`); each section says the',
  'machine and the command that produced it. Compare ratios within one run: absolute',
  'times vary by ±30% between runs on shared machines.',
  '',
].join('\n');

/**
 * Replaces (or appends) the section `id` of docs/benchmarks.md, leaving the
 * other benchmarks' sections as they are. Written to a temp file and renamed.
 * `level` is the heading's (2: `##`; 3 for a subsection whose markers sit
 * inside another section).
 */
export function updateBenchmarkSection(id: string, title: string, body: string, level = 2): void {
  const start = `<!-- bench:${id} -->`;
  const end = `<!-- /bench:${id} -->`;
  const section = `${start}\n${'#'.repeat(level)} ${title}\n\n${body}\n${end}`;
  const current = existsSync(PATH) ? readFileSync(PATH, 'utf8') : HEADER;
  const pattern = new RegExp(`${start}[\\s\\S]*?${end}`);
  const next = pattern.test(current)
    ? current.replace(pattern, section)
    : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(`${PATH}.tmp`, next);
  renameSync(`${PATH}.tmp`, PATH);
}

/** The line naming the machine and the command, for a section's body. */
export function machineLine(script: string): string {
  const args = process.argv.slice(2).join(' ');
  const command = args ? `npm run ${script} -- ${args}` : `npm run ${script}`;
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `Machine: ${cpu}, ${cpus().length} cores, Node ${process.version}. Command: \`${command}\`.`;
}

/** Writes the section unless `--no-write` was given. */
export function reportUnlessDryRun(id: string, title: string, body: string, level = 2): void {
  if (process.argv.includes('--no-write')) return;
  updateBenchmarkSection(id, title, body, level);
  console.log('wrote docs/benchmarks.md');
}

/** The value after `--<name>` on the command line, or `fallback`. */
export function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
