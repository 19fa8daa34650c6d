// Checkpoint safety (issue 16): the writer lock, checksums with fallback to
// the newest intact step, validation of checkpoint.json, old checkpoints
// without checksums, typed errors instead of ENOENT/EISDIR, and no tensor
// left behind by any failing load.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import {
  type CheckpointWarning,
  listCheckpoints,
  loadCheckpoint,
  saveCheckpoint,
} from '../../src/node/checkpoint';
import { writeSafetensorsFile } from '../../src/node/safetensors-node';
import { type ChildRun, startScript } from '../helpers/child-process';
import { rejectionOf } from '../helpers/rejections';

const CHILD = fileURLToPath(new URL('./checkpoint-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** 16 MiB per tensor file: a save the parent can catch holding its lock. */
const CHILD_ELEMENTS = 4 << 20;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-blocks-ckpt-safety-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Params = { w: tf.Tensor; b: tf.Tensor };
type State = [{ count: number; mu: { w: tf.Tensor } }];

/** Saves step `step`: w = [step, 2 step, 3 step], b = [-step], one Adam-like moment. */
async function save(step: number, options = {}): Promise<void> {
  const params = { w: tf.tensor1d([step, 2 * step, 3 * step]), b: tf.tensor1d([-step]) };
  const state: State = [{ count: step, mu: { w: tf.tensor1d([step / 10, 0, 0]) } }];
  await saveCheckpoint(
    dir,
    { params, optimizerState: state, step, metadata: { step } },
    options,
  ).finally(() => tf.dispose([params, state as never]));
}

/** Loads, returns what was loaded as plain numbers, and disposes every tensor. */
async function loadValues(options = {}) {
  const back = await loadCheckpoint<Params, State>(dir, options);
  const result = {
    step: back.step,
    w: Array.from(back.params.w.dataSync()),
    b: Array.from(back.params.b.dataSync()),
    mu: Array.from(back.optimizerState![0].mu.w.dataSync()),
    count: back.optimizerState![0].count,
  };
  tf.dispose([back.params as never, back.optimizerState as never]);
  return result;
}

const expected = (step: number) => ({
  step,
  w: [step, 2 * step, 3 * step],
  b: [-step],
  mu: [Math.fround(step / 10), 0, 0],
  count: step,
});

async function flipLastBit(path: string): Promise<void> {
  const bytes = await readFile(path);
  bytes[bytes.length - 1]! ^= 1;
  await writeFile(path, bytes);
}

// biome-ignore lint/suspicious/noExplicitAny: a test edits tampered JSON freely, field by field.
type EditableJson = Record<string, any>;

/** Rewrites step-N/checkpoint.json through `mutate`, with a fresh self-checksum (so only validation can catch it). */
async function reseal(step: number, mutate: (json: EditableJson) => void): Promise<void> {
  const path = join(dir, `step-${step}`, 'checkpoint.json');
  const json = JSON.parse(await readFile(path, 'utf8'));
  delete json.sha256;
  mutate(json);
  const seal = createHash('sha256')
    .update(JSON.stringify(json, null, 1))
    .digest('hex');
  await writeFile(path, `${JSON.stringify({ ...json, sha256: seal }, null, 1)}\n`);
}

function collect(): { warnings: CheckpointWarning[]; onWarning: (w: CheckpointWarning) => void } {
  const warnings: CheckpointWarning[] = [];
  return { warnings, onWarning: (w) => warnings.push(w) };
}

describe('checkpoint corruption is detected', () => {
  for (const file of ['params.safetensors', 'optimizer.safetensors']) {
    it(`a single bit flip in ${file}: a typed error naming the file; latest falls back to the newest intact step, with a warning`, async () => {
      await save(1);
      await save(2);
      await flipLastBit(join(dir, 'step-2', file));
      const before = tf.memory().numTensors;

      const explicit = await rejectionOf(loadCheckpoint(dir, { step: 2 }));
      expect(explicit.argument).toBe(`step-2/${file}`);
      expect(explicit.actual).toMatch(/corrupt/);
      const strict = await rejectionOf(loadCheckpoint(dir, { onCorrupt: 'throw' }));
      expect(strict.argument).toBe(`step-2/${file}`);

      const { warnings, onWarning } = collect();
      expect(await loadValues({ onWarning })).toEqual(expected(1));
      expect(warnings.map((w) => [w.kind, w.step, w.error?.argument])).toEqual([
        ['skipped-corrupt', 2, `step-2/${file}`],
      ]);
      expect(warnings[0]!.message).toMatch(/skipped step 2/);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('a bit flip in checkpoint.json (a metadata digit) fails its own checksum', async () => {
    await save(1);
    await save(2);
    const path = join(dir, 'step-2', 'checkpoint.json');
    const text = await readFile(path, 'utf8');
    await writeFile(
      path,
      text
        .replace('"step": 2,\n "w"', '"step": 3,\n "w"')
        .replace(/"metadata": \{\n {2}"step": 2/, '"metadata": {\n  "step": 3'),
    );
    expect(await readFile(path, 'utf8')).not.toBe(text);
    const e = await rejectionOf(loadCheckpoint(dir, { step: 2 }));
    expect(e.argument).toBe('step-2/checkpoint.json');
    expect(e.actual).toMatch(/corrupt/);
    const { warnings, onWarning } = collect();
    expect((await loadValues({ onWarning })).step).toBe(1);
    expect(warnings[0]!.error!.argument).toBe('step-2/checkpoint.json');
  });

  it('a truncated tensor file is reported by size, before it is hashed', async () => {
    await save(1);
    const path = join(dir, 'step-1', 'params.safetensors');
    await truncate(path, (await readFile(path)).byteLength - 1);
    const e = await rejectionOf(loadCheckpoint(dir, { step: 1 }));
    expect(e.argument).toBe('step-1/params.safetensors');
    expect(e.actual).toMatch(/truncated/);
  });

  it('every step corrupt: one typed error listing each step and why', async () => {
    await save(1);
    await save(2);
    await flipLastBit(join(dir, 'step-1', 'params.safetensors'));
    await flipLastBit(join(dir, 'step-2', 'optimizer.safetensors'));
    const before = tf.memory().numTensors;
    const { warnings, onWarning } = collect();
    const e = await rejectionOf(loadCheckpoint(dir, { onWarning }));
    expect(e.argument).toBe('directory');
    expect(e.actual).toMatch(
      /step 2: step-2\/optimizer\.safetensors.*step 1: step-1\/params\.safetensors/,
    );
    expect(warnings.map((w) => w.step)).toEqual([2, 1]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a missing file is a typed error, not ENOENT; the step is not listed and latest falls back past it', async () => {
    await save(1);
    await save(2);
    await rm(join(dir, 'step-2', 'params.safetensors'));
    expect(await listCheckpoints(dir)).toEqual([1]);
    const e = await rejectionOf(loadCheckpoint(dir, { step: 2 }));
    expect([e.argument, e.actual]).toEqual(['step-2/params.safetensors', 'missing']);
    const { warnings, onWarning } = collect();
    expect((await loadValues({ onWarning })).step).toBe(1);
    expect(warnings.map((w) => [w.step, w.error?.argument])).toEqual([
      [2, 'step-2/params.safetensors'],
    ]);
  });

  it('checkpoint.json replaced by a directory: a typed error, not EISDIR', async () => {
    await save(1);
    await rm(join(dir, 'step-1', 'checkpoint.json'));
    await mkdir(join(dir, 'step-1', 'checkpoint.json'));
    const e = await rejectionOf(loadCheckpoint(dir, { step: 1 }));
    expect([e.argument, e.actual]).toEqual(['step-1/checkpoint.json', 'a directory']);
  });
});

describe('checkpoint.json is validated (tampering that keeps its checksum consistent)', () => {
  const cases: Array<[string, (json: EditableJson) => void, string | RegExp]> = [
    ['$tensor "constructor"', (j) => (j.params.w = { $tensor: 'constructor' }), 'params.w'],
    ['$tensor "__proto__"', (j) => (j.params.w = { $tensor: '__proto__' }), 'params.w'],
    ['$tensor "toString"', (j) => (j.params.w = { $tensor: 'toString' }), 'params.w'],
    ['$tensor naming no tensor', (j) => (j.params.w = { $tensor: 'nope' }), 'params.w'],
    ['$tensor not a string', (j) => (j.params.w = { $tensor: 7 }), 'params.w'],
    ['a marker with extra keys', (j) => (j.params.w = { $tensor: 'w', x: 1 }), 'params.w'],
    ['a tensor referenced twice', (j) => (j.params.b = { $tensor: 'w' }), /^params\.(w|b)$/],
    [
      'an optimizer $tensor "constructor"',
      (j) => (j.optimizer[0].mu.w = { $tensor: 'constructor' }),
      'optimizer.0.mu.w',
    ],
    ['step -1', (j) => (j.step = -1), 'step'],
    ['step 1.5', (j) => (j.step = 1.5), 'step'],
    ['step "1"', (j) => (j.step = '1'), 'step'],
    ['step of another directory', (j) => (j.step = 2), 'step'],
    ['version 99', (j) => (j.version = 99), 'version'],
    ['another format', (j) => (j.format = 'other'), 'format'],
    ['metadata an array', (j) => (j.metadata = []), 'metadata'],
    ['no params skeleton', (j) => delete j.params, 'params'],
    [
      'a malformed file digest',
      (j) => (j.files['params.safetensors'] = { sha256: 'x', bytes: 1 }),
      'files.params.safetensors',
    ],
    [
      'no optimizer digest',
      (j) => delete j.files['optimizer.safetensors'],
      'files.optimizer.safetensors',
    ],
  ];
  for (const [name, mutate, field] of cases) {
    it(`${name}: a typed error naming the field, no tensor left`, async () => {
      await save(1);
      await reseal(1, mutate);
      const before = tf.memory().numTensors;
      const e = await rejectionOf(loadCheckpoint(dir, { step: 1 }));
      const prefix = 'step-1/checkpoint.json.';
      expect(e.argument.startsWith(prefix), e.message).toBe(true);
      if (typeof field === 'string') expect(e.argument.slice(prefix.length)).toBe(field);
      else expect(e.argument.slice(prefix.length)).toMatch(field);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('a tensor file holding a tensor checkpoint.json does not name: a typed error, no tensor left', async () => {
    await save(1);
    const path = join(dir, 'step-1', 'params.safetensors');
    const tensors = { w: tf.tensor1d([1, 2, 3]), b: tf.tensor1d([-1]), extra: tf.scalar(9) };
    await writeSafetensorsFile(path, tensors, { format: 'pt' });
    tf.dispose(Object.values(tensors));
    const bytes = await readFile(path);
    await reseal(1, (j) => {
      j.files['params.safetensors'] = {
        sha256: createHash('sha256').update(bytes).digest('hex'),
        bytes: bytes.byteLength,
      };
    });
    const before = tf.memory().numTensors;
    const e = await rejectionOf(loadCheckpoint(dir, { step: 1 }));
    expect(e.argument).toBe('step-1/params.safetensors');
    expect(e.actual).toMatch(/"extra"/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('checkpoints written before checksums (format version 1)', () => {
  /** What the previous version wrote: no `files`, no `sha256`. */
  async function writeLegacy(step: number, dropParam?: string): Promise<void> {
    const stepDir = join(dir, `step-${step}`);
    await mkdir(stepDir);
    const params: Record<string, tf.Tensor> = { w: tf.tensor1d([1, 2, 3]), b: tf.tensor1d([-1]) };
    const optimizer = { '0/mu/w': tf.tensor1d([0.5, 0, 0]) };
    const written = { ...params };
    if (dropParam) delete written[dropParam];
    await writeSafetensorsFile(join(stepDir, 'params.safetensors'), written, { format: 'pt' });
    await writeSafetensorsFile(join(stepDir, 'optimizer.safetensors'), optimizer);
    tf.dispose([...Object.values(params), ...Object.values(optimizer)]);
    const json = {
      format: 'tfjs-blocks-checkpoint',
      version: 1,
      step,
      rng: null,
      metadata: {},
      params: { w: { $tensor: 'w' }, b: { $tensor: 'b' } },
      optimizer: [{ count: step, mu: { w: { $tensor: '0/mu/w' } } }],
    };
    await writeFile(join(stepDir, 'checkpoint.json'), `${JSON.stringify(json, null, 1)}\n`);
    await writeFile(join(dir, 'latest'), `step-${step}\n`);
  }

  it('load, unverified, with an "unverified" warning (console.warn by default)', async () => {
    await writeLegacy(1);
    const { warnings, onWarning } = collect();
    expect(await loadValues({ onWarning })).toEqual({
      step: 1,
      w: [1, 2, 3],
      b: [-1],
      mu: [0.5, 0, 0],
      count: 1,
    });
    expect(warnings.map((w) => [w.kind, w.step])).toEqual([['unverified', 1]]);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      await loadValues();
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/without checksums/));
    } finally {
      warn.mockRestore();
    }
    // The next save writes checksums; the old step still loads.
    await save(2);
    const { warnings: none, onWarning: quiet } = collect();
    expect((await loadValues({ onWarning: quiet })).step).toBe(2);
    expect(none).toEqual([]);
  });

  it('a params tensor missing from the file: a typed error, and the restored optimizer state is not leaked', async () => {
    await writeLegacy(1, 'b');
    const before = tf.memory().numTensors;
    const e = await rejectionOf(loadCheckpoint(dir, { step: 1, onWarning: () => {} }));
    expect(e.argument).toBe('step-1/checkpoint.json.params.b');
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('unknown option keys and bad input are rejected before the disk is touched', () => {
  it('saveCheckpoint: options, the checkpoint record, JSON that would change, unwritable tensors', async () => {
    const w = tf.tensor1d([1]);
    const disposed = tf.scalar(1);
    disposed.dispose();
    const text = tf.tensor(['a']);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const cases: Array<[() => Promise<unknown>, string, RegExp?]> = [
      [
        () => saveCheckpoint(dir, { params: { w }, step: 1 }, { keeplast: 2 } as never),
        'options.keeplast',
        /keepLast/,
      ],
      [
        () => saveCheckpoint(dir, { params: { w }, step: 1, optimizerstate: {} } as never),
        'checkpoint.optimizerstate',
        /optimizerState/,
      ],
      [() => saveCheckpoint(dir, { params: { w }, step: 1, rng: Number.NaN }), 'checkpoint.rng'],
      [
        () => saveCheckpoint(dir, { params: { w }, step: 1, rng: { m: new Map() } }),
        'checkpoint.rng.m',
      ],
      [
        () => saveCheckpoint(dir, { params: { w }, step: 1, metadata: { t: w } }),
        'checkpoint.metadata.t',
      ],
      [
        () => saveCheckpoint(dir, { params: { w }, step: 1, metadata: cycle }),
        'checkpoint.metadata.self',
      ],
      [
        () => saveCheckpoint(dir, { params: { w }, step: 1, metadata: [] as never }),
        'checkpoint.metadata',
      ],
      [
        () => saveCheckpoint(dir, { params: { w, x: Number.POSITIVE_INFINITY }, step: 1 }),
        'params.x',
      ],
      [() => saveCheckpoint(dir, { params: { w, a: { $tensor: 'w' } }, step: 1 }), 'params.a'],
      [() => saveCheckpoint(dir, { params: { disposed }, step: 1 }), 'params.disposed'],
      [() => saveCheckpoint(dir, { params: { text }, step: 1 }), 'params.text'],
      [
        () =>
          saveCheckpoint(dir, {
            params: { w },
            step: 1,
            optimizerState: { mu: { 'a/b': w, a: { b: w } } },
          }),
        'mu/a/b',
      ],
    ];
    for (const [call, argument, message] of cases) {
      const e = await rejectionOf(call());
      expect(e.argument).toBe(argument);
      if (message) expect(e.message).toMatch(message);
    }
    expect(await readdir(dir)).toEqual([]);
    tf.dispose([w, text]);
  });

  it('loadCheckpoint: options', async () => {
    await save(1);
    const cases: Array<[unknown, string, RegExp?]> = [
      [{ stpe: 1 }, 'options.stpe', /'step'/],
      [{ onCorupt: 'throw' }, 'options.onCorupt', /onCorrupt/],
      [{ onCorrupt: 'ignore' }, 'options.onCorrupt'],
      [{ onWarning: 'log' }, 'options.onWarning'],
      [{ step: -1 }, 'options.step'],
    ];
    for (const [options, argument, message] of cases) {
      const e = await rejectionOf(loadCheckpoint(dir, options as never));
      expect(e.argument).toBe(argument);
      if (message) expect(e.message).toMatch(message);
    }
  });
});

describe('names and paths', () => {
  it('params named constructor, toString and hasOwnProperty round-trip', async () => {
    const params = {
      constructor: tf.scalar(1),
      toString: tf.scalar(2),
      hasOwnProperty: tf.scalar(3),
    };
    await saveCheckpoint(dir, { params, step: 1 });
    const back = await loadCheckpoint<typeof params>(dir);
    expect(
      [back.params.constructor, back.params.toString, back.params.hasOwnProperty].map(
        (t) => (t as tf.Tensor).dataSync()[0],
      ),
    ).toEqual([1, 2, 3]);
    tf.dispose([params as never, back.params as never]);
  });

  it('a directory that is a file: typed errors from save, list and load (not EEXIST/ENOTDIR)', async () => {
    const file = join(dir, 'file');
    await writeFile(file, 'x');
    const w = tf.scalar(1);
    for (const call of [
      () => saveCheckpoint(file, { params: { w }, step: 1 }),
      () => saveCheckpoint(join(file, 'runs'), { params: { w }, step: 1 }),
      () => listCheckpoints(file),
      () => loadCheckpoint(file),
    ]) {
      expect((await rejectionOf(call())).argument).toBe('directory');
    }
    tf.dispose(w);
  });

  it('only canonical step directory names count (step-007 is not step 7)', async () => {
    await save(7);
    await cp(join(dir, 'step-7'), join(dir, 'step-007'), { recursive: true });
    expect(await listCheckpoints(dir)).toEqual([7]);
    expect((await loadValues()).step).toBe(7);
  });
});

// ---- The writer lock.

/** Resolves once `dir/lock` holds a whole owner record, then SIGSTOPs the child (false if it exited first). */
function stopWhileLocked(run: ChildRun): Promise<boolean> {
  return new Promise((done) => {
    let finished = false;
    const finish = (value: boolean) => {
      if (finished) return;
      finished = true;
      clearInterval(poll);
      done(value);
    };
    const poll = setInterval(() => {
      readFile(join(dir, 'lock'), 'utf8').then(
        (text) => {
          try {
            if (JSON.parse(text).pid === run.child.pid && !finished) {
              run.child.kill('SIGSTOP');
              finish(true);
            }
          } catch {
            // Not written yet.
          }
        },
        () => {},
      );
    }, 1);
    run.exit.then(() => finish(false));
  });
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((exited) => child.on('exit', exited));
  return child.pid!;
}

describe('one writer per directory', () => {
  it('two writers in two processes: the second gets a typed error naming the first’s pid, the first completes intact', async () => {
    const first = startScript(CHILD, [dir, '1', String(CHILD_ELEMENTS)], ROOT);
    const stopped = await stopWhileLocked(first);
    expect(stopped, `the first save finished before it was caught:\n${first.output()}`).toBe(true);
    try {
      const second = startScript(CHILD, [dir, '2', '16'], ROOT);
      expect(await second.exit, second.output()).toBe(2);
      const error = JSON.parse(/^error (.*)$/m.exec(second.output())![1]!);
      expect(error.argument).toBe('directory');
      expect(error.message).toContain(`locked by pid ${first.child.pid} on host ${hostname()}`);
    } finally {
      first.child.kill('SIGCONT');
    }
    expect(await first.exit, first.output()).toBe(0);
    // The first save landed whole; the lock is gone; nothing else is left.
    expect((await readdir(dir)).sort()).toEqual(['latest', 'step-1']);
    const back = await loadCheckpoint<{ big: { kernel: tf.Tensor } }>(dir);
    const k = back.params.big.kernel.dataSync();
    expect([back.step, k.length, k[0], k[k.length - 1]]).toEqual([1, CHILD_ELEMENTS, 1, 1]);
    tf.dispose([back.params as never, back.optimizerState as never]);
  });

  it('a lock left by a killed writer is stale: the next save takes it over and sweeps the dead writer’s temp directory', async () => {
    const first = startScript(CHILD, [dir, '1', String(CHILD_ELEMENTS)], ROOT);
    expect(await stopWhileLocked(first), first.output()).toBe(true);
    first.child.kill('SIGKILL');
    await first.exit;
    const lock = JSON.parse(await readFile(join(dir, 'lock'), 'utf8'));
    expect(lock.pid).toBe(first.child.pid);
    // Its temp directory, if it got as far as making one, is swept by the next save.
    await save(2);
    expect((await readdir(dir)).sort()).toEqual(['latest', 'step-2']);
    expect((await loadValues()).step).toBe(2);
  });

  it('a live owner on this host, one on another host, an unreadable lock: typed errors; nothing is written', async () => {
    const live = { pid: process.ppid, host: hostname(), started: 'then', token: 'abc' };
    const remote = { pid: process.ppid, host: 'elsewhere.example', started: 'then', token: 'abc' };
    for (const [content, message] of [
      [JSON.stringify(live), new RegExp(`locked by pid ${process.ppid} on host`)],
      [
        JSON.stringify(remote),
        /on host elsewhere\.example .*delete .*lock if that process is gone/,
      ],
      ['garbage', /unreadable/],
    ] as const) {
      await writeFile(join(dir, 'lock'), content);
      const e = await rejectionOf(save(1));
      expect(e.argument).toBe('directory');
      expect(e.actual).toMatch(message);
      expect(await readFile(join(dir, 'lock'), 'utf8')).toBe(content);
      expect(await readdir(dir)).toEqual(['lock']);
    }
  });

  it('two saves at once in one process: one lands, the other is refused', async () => {
    const results = await Promise.allSettled([save(1), save(2)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(TfjsBlocksError);
    expect(refused.reason.actual).toMatch(/\(this process\)/);
    expect((await readdir(dir)).filter((e) => e !== 'latest')).toHaveLength(1);
  });

  it('the lock is released when a save fails (a directory where latest belongs: typed error, not EISDIR)', async () => {
    await mkdir(join(dir, 'latest'));
    const e = await rejectionOf(save(1));
    expect(e.argument).toBe('directory');
    expect(e.actual).toMatch(/EISDIR/);
    expect((await readdir(dir)).sort()).toEqual(['latest', 'step-1']);
  });

  it('clean-up removes temp entries of dead writers and its own, never a live writer’s', async () => {
    const dead = await deadPid();
    const names = {
      live: `step-7.tmp-${process.ppid}-0123abcd`,
      dead: `step-8.tmp-${dead}-0123abcd`,
      own: `step-9.tmp-${process.pid}-0123abcd`,
      deadFile: `latest.tmp-${dead}-0123abcd`,
    };
    for (const name of [names.live, names.dead, names.own]) {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, 'params.safetensors'), 'partial');
    }
    await writeFile(join(dir, names.deadFile), 'partial');
    await save(1);
    expect((await readdir(dir)).sort()).toEqual(['latest', 'step-1', names.live].sort());
  });
});
