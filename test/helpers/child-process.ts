import { type ChildProcess, spawn } from 'node:child_process';

/** Loaded into every child: drops tfjs's Node.js banner (test/helpers/quiet-tfjs.ts). */
const QUIET = new URL('./quiet-tfjs-preload.ts', import.meta.url).href;

/** A child Node process running a TypeScript script, with its output collected. */
export interface ChildRun {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output: () => string;
  /** Resolves to the exit signal (e.g. 'SIGKILL') or code. */
  exit: Promise<NodeJS.Signals | number | null>;
}

/**
 * Starts `node --import tsx <script> ...args` in `cwd` (the crash tests kill it
 * mid-write), with tfjs's Node.js banner dropped from its output.
 */
export function startScript(script: string, args: string[], cwd: string): ChildRun {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', QUIET, script, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const exit = new Promise<NodeJS.Signals | number | null>((done) =>
    child.on('exit', (code, signal) => done(signal ?? code)),
  );
  return { child, output: () => out, exit };
}

/** Runs the script to the end; throws with its output unless it exits 0. */
export async function runScriptToCompletion(
  script: string,
  args: string[],
  cwd: string,
): Promise<string> {
  const run = startScript(script, args, cwd);
  const result = await run.exit;
  if (result !== 0) throw new Error(`child ${script} failed (${result}):\n${run.output()}`);
  return run.output();
}

/**
 * Waits until the child has printed `marker` (or has exited), SIGKILLs it
 * `delayMs` later, and resolves to its exit signal or code.
 */
export async function killAfterOutput(
  run: ChildRun,
  marker: string,
  delayMs: number,
): Promise<NodeJS.Signals | number | null> {
  await new Promise<void>((ready) => {
    run.child.stdout!.on('data', () => {
      if (run.output().includes(marker)) ready();
    });
    run.exit.then(() => ready());
  });
  await new Promise((wait) => setTimeout(wait, delayMs));
  run.child.kill('SIGKILL');
  return run.exit;
}
