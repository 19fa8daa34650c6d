import { createHash } from 'node:crypto';
import { watch } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MODEL_JSON_FILE, nodeFileSystem, WEIGHTS_FILE } from '../../src/node/index';
import {
  type ChildRun,
  killAfterOutput,
  runScriptToCompletion,
  startScript,
} from '../helpers/child-process';

// The child's model: one dense layer, 4096 -> 2048, every weight = its value
// argument: 32 MiB of weights, so a save takes long enough to be interrupted.
const INPUTS = 4096;
const UNITS = 2048;
const CHILD = fileURLToPath(new URL('./save-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WEIGHTS_TEMP = /^weights\.bin\.tmp-/;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-blocks-kill-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** sha256 of the weights a child saving `value` writes. */
function weightsHash(value: number): string {
  const data = new Float32Array(INPUTS * UNITS + UNITS).fill(value);
  return createHash('sha256').update(new Uint8Array(data.buffer)).digest('hex');
}

async function loadedWeightsHash(): Promise<string> {
  const artifacts = await nodeFileSystem(dir).load();
  return createHash('sha256')
    .update(new Uint8Array(artifacts.weightData as ArrayBuffer))
    .digest('hex');
}

function startSave(value: number): ChildRun {
  return startScript(CHILD, [dir, String(value)], ROOT);
}

async function saveToCompletion(value: number): Promise<void> {
  await runScriptToCompletion(CHILD, [dir, String(value)], ROOT);
}

/** Kills the child with SIGKILL the moment a file matching `pattern` appears in `dir`. */
function killWhenFileAppears(run: ChildRun, pattern: RegExp): Promise<boolean> {
  return new Promise((done) => {
    let fired = false;
    const fire = (name: string | null) => {
      if (fired || name === null || !pattern.test(name)) return;
      fired = true;
      run.child.kill('SIGKILL');
      watcher.close();
      clearInterval(poll);
      done(true);
    };
    const watcher = watch(dir, (_event, name) => fire(name));
    // inotify can coalesce events; a poll catches what the watcher misses.
    const poll = setInterval(() => {
      readdir(dir).then(
        (names) => names.forEach(fire),
        () => {},
      );
    }, 2);
    run.exit.then(() => {
      watcher.close();
      clearInterval(poll);
      if (!fired) done(false);
    });
  });
}

describe('NodeFileSystem save killed with SIGKILL', () => {
  it('killed while writing weights.bin, leaves the previous save intact and loadable', async () => {
    await saveToCompletion(1);
    const previousTopology = JSON.parse(
      await readFile(join(dir, MODEL_JSON_FILE), 'utf8'),
    ).modelTopology;

    const run = startSave(2);
    const killed = await killWhenFileAppears(run, WEIGHTS_TEMP);
    const result = await run.exit;
    expect(killed, `the save finished before it could be killed:\n${run.output()}`).toBe(true);
    expect(result).toBe('SIGKILL');
    expect(run.output()).not.toMatch(/saved in/);
    // The temp file is still there, so the kill landed before weights.bin was replaced.
    const leftovers = (await readdir(dir)).filter((n) => WEIGHTS_TEMP.test(n));
    expect(leftovers).toHaveLength(1);

    expect(await loadedWeightsHash()).toBe(weightsHash(1));
    const modelJson = JSON.parse(await readFile(join(dir, MODEL_JSON_FILE), 'utf8'));
    expect(modelJson.modelTopology).toEqual(previousTopology);

    const before = tf.memory().numTensors;
    const model = await tfl.loadLayersModel(nodeFileSystem(dir));
    const [kernel, bias] = model.getWeights();
    expect(kernel!.shape).toEqual([INPUTS, UNITS]);
    const k = kernel!.dataSync();
    expect([k[0], k[k.length - 1], bias!.dataSync()[UNITS - 1]]).toEqual([1, 1, 1]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);

    // The next save lands and sweeps the killed save's temp files away.
    await saveToCompletion(3);
    expect((await readdir(dir)).sort()).toEqual([MODEL_JSON_FILE, WEIGHTS_FILE]);
    expect(await loadedWeightsHash()).toBe(weightsHash(3));
  });

  it('killed at random moments, always leaves one whole save: the previous or the new', async () => {
    await saveToCompletion(1);
    const seen = new Set<string>();
    for (const [i, delayMs] of [0, 80, 160, 240].entries()) {
      const previous = i + 1;
      const next = i + 2;
      const run = startSave(next);
      // The child prints 'saving' right before model.save.
      const result = await killAfterOutput(run, 'saving', delayMs);
      const hash = await loadedWeightsHash();
      const landed = hash === weightsHash(next);
      expect(landed || hash === weightsHash(previous), `after a kill ${delayMs} ms in`).toBe(true);
      seen.add(`${result}:${landed ? 'new' : 'previous'}`);
      if (!landed) await saveToCompletion(next);
    }
    // Reported so a run shows which states the kills actually hit.
    console.log(`kill outcomes: ${[...seen].join(', ')}`);
  });
});
