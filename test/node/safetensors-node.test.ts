// readSafetensorsFile on paths that are not a readable file: typed errors, not Node's ENOENT/EISDIR.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensorsFile } from '../../src/node/safetensors-node';
import { rejectionOf } from '../helpers/rejections';

const dir = mkdtempSync(join(tmpdir(), 'tfjs-blocks-safetensors-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readSafetensorsFile names a path that is not a file', () => {
  it('a missing file', async () => {
    const before = tf.memory().numTensors;
    const e = await rejectionOf(() => readSafetensorsFile(join(dir, 'absent.safetensors')));
    expect(e.argument).toBe('path');
    expect(e.actual).toBe('missing');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a directory', async () => {
    const e = await rejectionOf(() => readSafetensorsFile(dir));
    expect(e.argument).toBe('path');
    expect(e.actual).toBe('a directory');
  });

  it('a path through a file', async () => {
    const e = await rejectionOf(() => readSafetensorsFile(join(dir, 'absent', 'x.safetensors')));
    expect(e.actual).toBe('missing');
  });
});
