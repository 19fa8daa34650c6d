import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScriptToCompletion } from '../helpers/child-process';

/** The ```ts blocks of a Markdown file. */
function tsBlocks(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

// Guides whose code blocks are whole programs, run as a reader would paste
// them (saved as .mts, run with tsx; `tfjs-blocks` resolves to src/ through
// the repository's tsconfig paths), each in its own folder under scratch/.
const RUNNABLE: Array<{ file: string; expect: RegExp[] }> = [
  {
    file: 'docs/layers.md',
    expect: [/loss by epoch \[ [\d.]+, [\d.]+, [\d.]+ \]/, /restored \d+ parameters/],
  },
];

describe('guides: code blocks run as written', () => {
  for (const { file, expect: patterns } of RUNNABLE) {
    it(`${file}: every ts block runs and prints what it should`, async () => {
      const blocks = tsBlocks(file);
      expect(blocks.length).toBeGreaterThan(0);
      const dir = join('scratch', `docs-${process.pid}-${file.replace(/\W/g, '-')}`);
      mkdirSync(dir, { recursive: true });
      try {
        let output = '';
        for (const [i, code] of blocks.entries()) {
          // Self-contained: every name it uses is imported or defined in the block.
          expect(code).toMatch(/^import /m);
          writeFileSync(join(dir, `block-${i}.mts`), code);
          output += await runScriptToCompletion(`block-${i}.mts`, [], dir);
        }
        for (const pattern of patterns) expect(output).toMatch(pattern);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 240_000);
  }
});
