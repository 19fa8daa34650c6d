// Shared checks that every public function's messages go through.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import {
  checkOptionKeys,
  describeChoice,
  describeValue,
  MAX_QUOTED_CHARS,
  optionKeys,
} from '../../src/internal/checks';
import { thrownBy } from '../helpers/rejections';

interface ExampleOptions {
  maxNewTokens?: number;
  temperature?: number;
  topK?: number;
}
const KNOWN = optionKeys<ExampleOptions>({ maxNewTokens: true, temperature: true, topK: true });

describe('checkOptionKeys', () => {
  it('accepts undefined, an empty object and known keys', () => {
    expect(() => checkOptionKeys('f', undefined, KNOWN)).not.toThrow();
    expect(() => checkOptionKeys('f', {}, KNOWN)).not.toThrow();
    expect(() => checkOptionKeys('f', { maxNewTokens: 3, topK: undefined }, KNOWN)).not.toThrow();
  });

  it('rejects an unknown key, naming the closest known option', () => {
    const e = thrownBy(() => checkOptionKeys('generate', { maxNewToken: 3 }, KNOWN));
    expect(e.functionName).toBe('generate');
    expect(e.argument).toBe('options.maxNewToken');
    expect(e.expected).toContain("did you mean 'maxNewTokens'?");
    expect(e.actual).toBe('an unknown option');
  });

  it('suggests nothing when no known option is near', () => {
    const e = thrownBy(() => checkOptionKeys('f', { somethingElse: 1 }, KNOWN));
    expect(e.expected).toBe('one of the known options');
  });

  it('matches case-insensitively and names nested objects', () => {
    const e = thrownBy(() => checkOptionKeys('f', { topk: 1 }, KNOWN, 'options.sampling'));
    expect(e.argument).toBe('options.sampling.topk');
    expect(e.expected).toContain("'topK'");
  });

  it('answers a renamed option with its new name (eps → epsilon), only where that name is known', () => {
    const known = optionKeys<{ epsilon?: number; b1?: number }>({ epsilon: true, b1: true });
    const e = thrownBy(() => checkOptionKeys('adam', { eps: 1e-8 }, known));
    expect(e.argument).toBe('options.eps');
    expect(e.expected).toContain("did you mean 'epsilon'?");
    // A function without an epsilon gets no such hint.
    expect(thrownBy(() => checkOptionKeys('f', { eps: 1 }, KNOWN)).expected).toBe(
      'one of the known options',
    );
  });

  it('rejects options that are not an object', () => {
    for (const bad of [null, 3, 'x', [1]]) {
      expect(thrownBy(() => checkOptionKeys('f', bad, KNOWN)).argument).toBe('options');
    }
  });

  it('treats inherited names as unknown own keys', () => {
    const e = thrownBy(() => checkOptionKeys('f', JSON.parse('{"__proto__": 1}'), KNOWN));
    expect(e.argument).toBe('options.__proto__');
    expect(() => checkOptionKeys('f', { toString: 1 }, KNOWN)).toThrow(TfjsBlocksError);
  });
});

describe('message caps', () => {
  it('describes buffers by type and length, never by their contents', () => {
    expect(describeValue(new Int8Array(10_000_000))).toBe('a Int8Array of length 10000000');
    expect(describeValue(new ArrayBuffer(16))).toBe('an ArrayBuffer of 16 bytes');
    expect(describeValue(new DataView(new ArrayBuffer(4)))).toBe('a DataView of length 4');
  });

  it('cuts long strings', () => {
    const text = describeValue('x'.repeat(1_000_000));
    expect(text.length).toBeLessThan(MAX_QUOTED_CHARS + 60);
    expect(text).toContain('more characters');
  });

  it('describes tensors by dtype and shape', () => {
    const t = tf.zeros([2, 3]);
    expect(describeValue(t)).toBe('a float32 tensor of shape [2, 3]');
    t.dispose();
  });

  it('caps every part of a hand-built TfjsBlocksError', () => {
    const e = new TfjsBlocksError('f', 'x', 'small', 'y'.repeat(5_000_000));
    expect(e.message.length).toBeLessThan(1100);
    expect(e.actual.length).toBeLessThanOrEqual(1001);
  });
});

describe('describeValue and describeChoice', () => {
  it('says undefined once', () => {
    expect(describeValue(undefined)).toBe('undefined');
  });

  it('quotes a name or number bare and caps it; describes anything else', () => {
    expect(describeChoice('exp')).toBe('exp');
    expect(describeChoice(3)).toBe('3');
    expect(describeChoice(false)).toBe('false');
    expect(describeChoice(undefined)).toBe('undefined');
    expect(describeChoice(new Float32Array(100_000))).toBe('a Float32Array of length 100000');
    expect(describeChoice(['cos', 'linear'])).toBe('an array');
    const long = describeChoice('x'.repeat(1_000_000));
    expect(long.length).toBeLessThan(MAX_QUOTED_CHARS + 40);
    expect(long).toContain('more characters');
  });
});
