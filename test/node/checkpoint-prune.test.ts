// keepLast pruning and leftovers. `rm` is wrapped so a test can interrupt a
// recursive delete half-way, as a kill would, and see what it leaves.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from '../../src/node/checkpoint';

/** When set, the next recursive rm deletes one file of the tree and then fails, as if killed. */
const interrupt = { next: false };
const recursiveRemovals: string[] = [];

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    rm: async (path: string, options?: { recursive?: boolean; force?: boolean }) => {
      if (options?.recursive) recursiveRemovals.push(String(path));
      if (options?.recursive && interrupt.next) {
        interrupt.next = false;
        const entries = await actual.readdir(path);
        const victim = entries.includes('params.safetensors') ? 'params.safetensors' : entries[0]!;
        await actual.rm(join(path, victim));
        throw new Error('simulated kill during a recursive delete');
      }
      return actual.rm(path, options);
    },
  };
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-blocks-ckpt-prune-'));
  recursiveRemovals.length = 0;
  interrupt.next = false;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function save(step: number, keepLast?: number): Promise<void> {
  const params = { w: tf.tensor1d([step, step]) };
  const optimizerState = { mu: { w: tf.tensor1d([step, 0]) } };
  await saveCheckpoint(
    dir,
    { params, optimizerState, step },
    keepLast === undefined ? {} : { keepLast },
  ).finally(() => tf.dispose([params.w, optimizerState.mu.w]));
}

const stepDirs = async () => (await readdir(dir)).filter((e) => /^step-\d+$/.test(e)).sort();

describe('keepLast pruning', () => {
  it('never deletes a step directory in place: each goes to a temp name first', async () => {
    for (const step of [1, 2, 3, 4]) await save(step, 2);
    expect(await listCheckpoints(dir)).toEqual([3, 4]);
    expect(recursiveRemovals.length).toBeGreaterThan(0);
    expect(recursiveRemovals.filter((p) => /step-\d+$/.test(p))).toEqual([]);
  });

  it('interrupted mid-delete, leaves no partial step directory; the next save removes the leftover', async () => {
    for (const step of [1, 2]) await save(step);
    interrupt.next = true;
    await expect(save(3, 2)).rejects.toThrow(/simulated kill/);
    // step-1 is gone from its name at once: what is left is a temp entry.
    expect(await stepDirs()).toEqual(['step-2', 'step-3']);
    expect(await listCheckpoints(dir)).toEqual([2, 3]);
    expect((await readdir(dir)).some((e) => /^step-1\.tmp-/.test(e))).toBe(true);
    await save(4, 2);
    expect((await readdir(dir)).sort()).toEqual(['latest', 'step-3', 'step-4']);
  });

  it('step directories an earlier version left half-deleted are not listed, and the next save removes them', async () => {
    for (const step of [1, 2, 3]) await save(step);
    // What an in-place recursive delete killed half-way left behind:
    await rm(join(dir, 'step-1', 'checkpoint.json')); // no checkpoint.json: never listed, never pruned
    await rm(join(dir, 'step-2', 'params.safetensors')); // checkpoint.json without its tensors
    await rm(join(dir, 'step-3', 'optimizer.safetensors'));
    await save(4);
    expect(await listCheckpoints(dir)).toEqual([4]);
    // Listed before the save too? Only complete steps count.
    await save(5);
    expect(await stepDirs()).toEqual(['step-4', 'step-5']);
    const back = await loadCheckpoint<{ w: tf.Tensor }>(dir);
    expect(back.step).toBe(5);
    tf.dispose([back.params.w, back.optimizerState as never]);
  });

  it('incomplete steps are not listed even before a save cleans them', async () => {
    for (const step of [1, 2]) await save(step);
    await rm(join(dir, 'step-1', 'params.safetensors'));
    expect(await listCheckpoints(dir)).toEqual([2]);
    await stat(join(dir, 'step-1'));
  });
});
