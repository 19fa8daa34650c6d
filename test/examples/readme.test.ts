import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScriptToCompletion } from '../helpers/child-process';

/** The first ```ts block after `heading` in the README. */
function codeBlockAfter(heading: string): string {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf(heading));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error(`no ts block after ${heading}`);
  return match[1]!;
}

// The README's quickstart is run as a user would paste it, so it cannot drift from the API.
describe('README', () => {
  it('quickstart block runs and prints what its comment says', async () => {
    const code = codeBlockAfter('## Quickstart');
    expect(code.trimEnd().split('\n').length).toBeLessThanOrEqual(20);
    mkdirSync('scratch', { recursive: true });
    const file = join('scratch', `readme-quickstart-${process.pid}.ts`);
    writeFileSync(file, code);
    try {
      const output = await runScriptToCompletion(file, [], process.cwd());
      expect(output).toContain('to be or not to be, that is the ');
    } finally {
      rmSync(file, { force: true });
    }
  }, 240_000);
});
