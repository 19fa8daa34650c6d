import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// What a first-time user meets on npm: the package page's links, the README
// inside the tarball, and the first release's version. scripts/check-dist.mjs
// repeats the link check on the packed tarball after the build.
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const REPO = 'https://github.com/tfjs-blocks/tfjs-blocks';

/** The targets of the Markdown links and images of `markdown`, code blocks left out. */
function linkTargets(markdown: string): string[] {
  const text = markdown.replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

describe('package', () => {
  it('names its repository, homepage and issue tracker', () => {
    expect(pkg.repository).toEqual({ type: 'git', url: `git+${REPO}.git` });
    expect(pkg.homepage).toBe(`${REPO}#readme`);
    expect(pkg.bugs).toEqual({ url: `${REPO}/issues` });
  });

  it("every relative link of the README resolves inside the tarball (the npm page's README)", () => {
    const [packed] = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--json'], { encoding: 'utf8', stdio: 'pipe' }),
    );
    const files = new Set((packed.files as Array<{ path: string }>).map((f) => f.path));
    expect(files.has('README.md')).toBe(true);
    const relative = linkTargets(readFileSync('README.md', 'utf8')).filter(
      (t) => !/^[a-z]+:/i.test(t) && !t.startsWith('#'),
    );
    const dead = relative.filter((t) => !files.has(t.split('#')[0]!.replace(/^\.\//, '')));
    expect(dead).toEqual([]);
  }, 60_000);

  it('files lists only what exists, and CHANGELOG.md, which `changeset version` writes', () => {
    const missing = (pkg.files as string[]).filter((f) => !existsSync(f));
    expect(missing.filter((f) => f !== 'CHANGELOG.md' && f !== 'dist')).toEqual([]);
  });

  it('the first release is 0.1.0: version 0.0.0 and no pending changeset asks for a major bump', () => {
    expect(pkg.version).toBe('0.0.0');
    const bumps = readdirSync('.changeset')
      .filter((f) => f.endsWith('.md') && f !== 'README.md')
      .map((f) => {
        const front = /^---\n([\s\S]*?)\n---/.exec(readFileSync(`.changeset/${f}`, 'utf8'));
        const bump = /["']tfjs-blocks["']:\s*(\w+)/.exec(front?.[1] ?? '')?.[1];
        return `${f}: ${bump}`;
      });
    expect(bumps.length).toBeGreaterThan(0);
    expect(bumps.filter((b) => !/: (minor|patch)$/.test(b))).toEqual([]);
    expect(bumps.some((b) => b.endsWith(': minor'))).toBe(true);
  });
});
