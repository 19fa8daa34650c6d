// Shared by every example: flags (`node:util`'s parseArgs, strict) with a
// usage text, and the backend, so `--backend tensorflow-gpu` takes the same
// path as `--backend cpu`. `--help` prints the usage and exits before anything
// is loaded or trained; an unknown flag or a bad value exits with status 2.
import { parseArgs } from 'node:util';
import type { BackendName } from 'tfjs-blocks';

/** One flag: its default (a number flag must be given a number), what it does, its allowed values. */
export type FlagSpec = { default: number | string; help: string; choices?: readonly string[] };

/** What an example prints for `--help`, and its flags. */
export type ExampleCli<S extends Record<string, FlagSpec>> = {
  /** How to run it, e.g. `npm run example:vit --`. */
  command: string;
  /** One or two lines on what it does. */
  about: string;
  /** Its flags (`--backend` and `--help` are added). */
  flags: S;
};

/** The values of the example's flags (numbers where the default is one), and `backend`. */
export type Flags<S extends Record<string, FlagSpec>> = {
  [K in keyof S]: S[K]['default'] extends number ? number : string;
} & { backend: string };

const BACKEND: FlagSpec = {
  default: 'wasm',
  help: 'cpu, wasm, webgl, webgpu, tensorflow (tfjs-node) or tensorflow-gpu',
};

/** The usage text of an example. */
export function usage<S extends Record<string, FlagSpec>>(cli: ExampleCli<S>): string {
  const specs: Record<string, FlagSpec> = { ...cli.flags, backend: BACKEND };
  const rows = Object.entries(specs).map(([name, spec]) => {
    const value =
      typeof spec.default === 'number' ? '<number>' : (spec.choices?.join('|') ?? '<value>');
    return [`--${name} ${value}`, `${spec.help} (default ${spec.default})`];
  });
  rows.push(['--help', 'print this and exit']);
  const width = Math.max(...rows.map(([flag]) => flag!.length));
  return [
    `Usage: ${cli.command} [flags]`,
    '',
    cli.about,
    '',
    'Flags:',
    ...rows.map(([flag, text]) => `  ${flag!.padEnd(width)}  ${text}`),
    '',
  ].join('\n');
}

/**
 * Reads the flags of `args` (default: the process's). Throws a `UsageError`
 * for an unknown flag, a missing value or a number flag given something else.
 */
export function parseFlags<S extends Record<string, FlagSpec>>(
  cli: ExampleCli<S>,
  args: string[] = process.argv.slice(2),
): Flags<S> & { help: boolean } {
  const specs: Record<string, FlagSpec> = { ...cli.flags, backend: BACKEND };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        ...Object.fromEntries(Object.keys(specs).map((k) => [k, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const out: Record<string, number | string | boolean> = { help: values.help === true };
  for (const [key, spec] of Object.entries(specs)) {
    const raw = values[key];
    if (typeof raw !== 'string') {
      out[key] = spec.default;
    } else if (typeof spec.default === 'string') {
      if (spec.choices && !spec.choices.includes(raw))
        throw new UsageError(`--${key} expects ${spec.choices.join(', ')}, got '${raw}'`);
      out[key] = raw;
    } else {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n))
        throw new UsageError(`--${key} expects a number, got '${raw}'`);
      out[key] = n;
    }
  }
  return out as Flags<S> & { help: boolean };
}

/** A bad command line: the example prints it with the usage and exits with status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * The example's flags from the command line: `--help` prints the usage and
 * exits 0; a bad flag prints what is wrong and the usage, and exits 2 (no
 * stack trace).
 */
export function readFlags<S extends Record<string, FlagSpec>>(cli: ExampleCli<S>): Flags<S> {
  try {
    const { help, ...flags } = parseFlags(cli);
    if (help) {
      process.stdout.write(usage(cli));
      process.exit(0);
    }
    return flags as unknown as Flags<S>;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n\n${usage(cli)}`);
    process.exit(2);
  }
}

/**
 * The example's verdict failed: says why on stderr and makes the process exit
 * with status 1 once it is done (a result, not a crash: no stack trace).
 */
export function fail(why: string): void {
  console.error(`FAILED: ${why}`);
  process.exitCode = 1;
}

/** Starts the backend named by `--backend` and returns its tfjs name. */
export async function startBackend(flags: { backend: string }): Promise<string> {
  // Imported here, so that the flag parsing above loads without the library (its unit test).
  const { useBackend } = await import('tfjs-blocks');
  return useBackend(flags.backend as BackendName);
}
