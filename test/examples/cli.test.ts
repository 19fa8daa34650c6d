import { describe, expect, it } from 'vitest';
import { parseFlags, UsageError, usage } from '../../examples/cli';
import { startScript } from '../helpers/child-process';

const cli = {
  command: 'npm run example:x --',
  about: 'An example.',
  flags: {
    steps: { default: 700, help: 'training steps' },
    check: { default: 'word', help: 'what to check', choices: ['word', 'next'] },
  },
};

describe('example flags (examples/cli.ts)', () => {
  it('reads numbers, strings and --backend, with defaults', () => {
    expect(parseFlags(cli, [])).toEqual({
      steps: 700,
      check: 'word',
      backend: 'wasm',
      help: false,
    });
    expect(parseFlags(cli, ['--steps', '5', '--check=next', '--backend', 'cpu'])).toEqual({
      steps: 5,
      check: 'next',
      backend: 'cpu',
      help: false,
    });
    expect(parseFlags(cli, ['-h']).help).toBe(true);
  });

  it('rejects unknown flags, positionals, non-numbers and values outside the choices', () => {
    for (const args of [
      ['--stesp', '5'],
      ['extra'],
      ['--steps', 'many'],
      ['--steps'],
      ['--check', 'phoneme'],
    ]) {
      expect(() => parseFlags(cli, args), args.join(' ')).toThrow(UsageError);
    }
    expect(() => parseFlags(cli, ['--check', 'phoneme'])).toThrow(
      "--check expects word, next, got 'phoneme'",
    );
  });

  it('usage lists every flag with its default, and --backend and --help', () => {
    const text = usage(cli);
    expect(text).toMatch(/^Usage: npm run example:x -- \[flags\]/);
    expect(text).toMatch(/--steps <number> +training steps \(default 700\)/);
    expect(text).toMatch(/--check word\|next +what to check \(default word\)/);
    expect(text).toMatch(/--backend <value> .*\(default wasm\)/);
    expect(text).toMatch(/--help +print this and exit/);
  });
});

// Every example, run as users run it: `--help` prints the usage and exits 0,
// and an unknown flag exits 2 with the usage, both before any training (the
// full runs take minutes: these take about a second each).
const EXAMPLES = [
  'quickstart',
  'char-gpt',
  'fine-tune',
  'distillation',
  'spam-classifier',
  'g2p',
  'vit-shapes',
  'data-parallel',
  'pretrained',
  'lora',
  'fairness',
];

async function run(script: string, args: string[]) {
  const started = performance.now();
  const child = startScript(`examples/${script}.ts`, args, process.cwd());
  const code = await child.exit;
  return { code, output: child.output(), seconds: (performance.now() - started) / 1000 };
}

describe('every example', () => {
  for (const example of EXAMPLES) {
    it(`${example}: --help prints the usage and exits 0 before training; an unknown flag exits 2`, async () => {
      const help = await run(example, ['--help']);
      expect(help.code, help.output).toBe(0);
      expect(help.output).toMatch(/^Usage: npm run [\w:-]+ -- \[flags\]/);
      expect(help.output).toContain('--backend');
      expect(help.output).not.toMatch(/^backend /m); // it did not start a backend
      expect(help.seconds).toBeLessThan(20);

      const bad = await run(example, ['--no-such-flag', '1']);
      expect(bad.code, bad.output).toBe(2);
      expect(bad.output).toMatch(/Unknown option '--no-such-flag'/);
      expect(bad.output).toContain('Usage: ');
      expect(bad.output).not.toMatch(/^\s+at /m); // no stack trace
    }, 60_000);
  }

  it('a dataset example whose score misses the margin says so and exits 1, without a stack trace', async () => {
    const result = await run('vit-shapes', [
      ...'--backend cpu --steps 1 --batch 4 --test 8 --layers 1 --dim 8'.split(' '),
      ...['--margin', '0.9'],
    ]);
    expect(result.code, result.output).toBe(1);
    expect(result.output).toMatch(/FAILED: held-out accuracy .* by more than --margin 90\.0%/);
    expect(result.output).not.toMatch(/^\s+at /m);
  }, 60_000);
});
