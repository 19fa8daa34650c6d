import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScriptToCompletion } from '../helpers/child-process';

/** The ```ts blocks of a Markdown file. */
function tsBlocks(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

// Guides whose code blocks, read top to bottom, make one whole program: run
// as a reader would paste them (saved as .mts, run with tsx; `tfjs-blocks`
// resolves to src/ through the repository's tsconfig paths), each in its own
// folder under scratch/, and checked against the values their comments state.
const RUNNABLE: Array<{ file: string; expect: RegExp[] }> = [
  {
    file: 'docs/layers.md',
    expect: [/loss by epoch \[ [\d.]+, [\d.]+, [\d.]+ \]/, /restored \d+ parameters/],
  },
  {
    file: 'docs/efficiency.md',
    expect: [/^124439808$/m, /^84934656$/m, /^854438400$/m, /kwh/i],
  },
];

describe('guides: code blocks run as written', () => {
  for (const { file, expect: patterns } of RUNNABLE) {
    it(`${file}: its ts blocks run and print what they say`, async () => {
      const blocks = tsBlocks(file);
      expect(blocks.length).toBeGreaterThan(0);
      const dir = join('scratch', `docs-${process.pid}-${file.replace(/\W/g, '-')}`);
      mkdirSync(dir, { recursive: true });
      try {
        // Self-contained: every name it uses is imported or defined in the guide's blocks.
        expect(blocks[0]).toMatch(/^import /m);
        writeFileSync(join(dir, 'guide.mts'), blocks.join('\n'));
        const output = await runScriptToCompletion('guide.mts', [], dir);
        for (const pattern of patterns) expect(output).toMatch(pattern);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 240_000);
  }
});

// The README's examples table sends readers to docs/examples.md for the
// commands, data and measured results of each.
describe('docs/examples.md', () => {
  it('has a section for every command of the README examples table', () => {
    const readme = readFileSync('README.md', 'utf8');
    const table = readme.slice(readme.indexOf('## Examples'), readme.indexOf('## Guides'));
    const commands = [...table.matchAll(/^\| `(npm run [\w:-]+)`/gm)].map((m) => m[1]!);
    expect(commands.length).toBeGreaterThanOrEqual(9);
    const headings = readFileSync('docs/examples.md', 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('#'));
    const missing = commands.filter((c) => !headings.some((h) => h.includes(`\`${c}\``)));
    expect(missing).toEqual([]);
  });
});

describe('README', () => {
  it("gives the demo's time once: the first command's comment agrees with the examples table", () => {
    const readme = readFileSync('README.md', 'utf8');
    const quoted = /npm run demo +# .*~(\d+) min on 2 cores/.exec(readme);
    const measured = /\| `npm run demo` \|.*\(([\d.]+) min,/.exec(readme);
    expect(quoted, 'the first command block').not.toBeNull();
    expect(measured, 'the examples table').not.toBeNull();
    expect(Number(quoted![1])).toBe(Math.round(Number(measured![1])));
  });
});
