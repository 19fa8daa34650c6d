import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import { bfloat16ToFloat32, float16ToFloat32 } from '../../src/interop/half-precision';
import {
  loadSafetensorsFromResponse,
  parseSafetensors,
  serializeSafetensors,
} from '../../src/interop/safetensors';
import { readSafetensorsFile, writeSafetensorsFile } from '../../src/node/safetensors-node';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections, thrownBy } from '../helpers/rejections';

const FIXTURES = fileURLToPath(new URL('../fixtures/safetensors/', import.meta.url));
const fixture = (name: string) => readFileSync(join(FIXTURES, name));
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
  metadata: Record<string, string>;
  tensors: Record<
    string,
    { dtype: string; shape: number[]; values: (number | string | boolean)[] }
  >;
};

/** expected.json's encoding of values JSON cannot hold. */
function decodeExpected(v: number | string | boolean): number | boolean {
  if (v === 'nan') return Number.NaN;
  if (v === 'inf') return Number.POSITIVE_INFINITY;
  if (v === '-inf') return Number.NEGATIVE_INFINITY;
  if (v === '-0') return -0;
  return v as number | boolean;
}

const TFJS_DTYPE: Record<string, tf.DataType> = {
  float32: 'float32',
  float16: 'float32',
  bfloat16: 'float32',
  int32: 'int32',
  int64: 'int32',
  int8: 'int32',
  uint8: 'int32',
  bool: 'bool',
};

function checkAgainstExpected(tensors: Record<string, tf.Tensor>): void {
  expect(Object.keys(tensors).sort()).toEqual(Object.keys(expected.tensors).sort());
  for (const [name, want] of Object.entries(expected.tensors)) {
    const t = tensors[name]!;
    expect(t.dtype, name).toBe(TFJS_DTYPE[want.dtype]);
    expect(t.shape, name).toEqual(want.shape);
    const got = Array.from(t.dataSync(), (v) => (t.dtype === 'bool' ? v === 1 : v));
    // toEqual tells -0 from 0 and treats NaN as equal to NaN: exact values.
    expect(got, name).toEqual(want.values.map(decodeExpected));
    got.forEach((v, i) => {
      expect(Object.is(v, decodeExpected(want.values[i]!)), `${name}[${i}]`).toBe(true);
    });
  }
}

/** A file from a header object (or raw header text) and a byte buffer. */
function makeFile(
  header: unknown,
  buffer = new Uint8Array(0),
  declaredLength?: number,
): Uint8Array {
  const text = new TextEncoder().encode(
    typeof header === 'string' ? header : JSON.stringify(header),
  );
  const out = new Uint8Array(8 + text.byteLength + buffer.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredLength ?? text.byteLength), true);
  out.set(text, 8);
  out.set(buffer, 8 + text.byteLength);
  return out;
}

describe('reading files written by Python safetensors', () => {
  it('parseSafetensors reads every dtype exactly, and the metadata', () => {
    const { tensors, metadata } = parseSafetensors(fixture('dtypes.safetensors'));
    expect(metadata).toEqual(expected.metadata);
    checkAgainstExpected(tensors);
    tf.dispose(Object.values(tensors));
  });

  it('readSafetensorsFile reads the same', async () => {
    const { tensors, metadata } = await readSafetensorsFile(join(FIXTURES, 'dtypes.safetensors'));
    expect(metadata).toEqual(expected.metadata);
    checkAgainstExpected(tensors);
    tf.dispose(Object.values(tensors));
  });

  for (const name of ['f16', 'bf16']) {
    it(`widens a sweep of ${name} bit patterns exactly as torch does`, () => {
      const { tensors } = parseSafetensors(fixture(`${name}-sweep.safetensors`));
      const ours = new Uint32Array(new Float32Array(tensors.half!.dataSync()).buffer);
      const torch = new Uint32Array(new Float32Array(tensors.float32!.dataSync()).buffer);
      expect(ours.length).toBe(2052);
      // Which NaN bits torch produces depends on its code path (vector or
      // scalar conversion), so NaNs are compared as NaNs, everything else by bits.
      const nan = (bits: number) => (bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0;
      const show = (a: Uint32Array) => Array.from(a, (b) => (nan(b) ? 'NaN' : b));
      expect(show(ours)).toEqual(show(torch));
      expect(show(torch).filter((v) => v === 'NaN').length).toBeGreaterThan(0);
      tf.dispose(Object.values(tensors));
    });
  }
});

describe('half-precision widening', () => {
  it('float16ToFloat32 matches the binary16 formula on all 65536 bit patterns', () => {
    const bits = new Uint16Array(65536).map((_, i) => i);
    const got = float16ToFloat32(bits);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      const want =
        e === 0
          ? sign * m * 2 ** -24
          : e === 31
            ? m === 0
              ? sign * Number.POSITIVE_INFINITY
              : Number.NaN
            : sign * (1 + m / 1024) * 2 ** (e - 15);
      if (!Object.is(got[h], want)) throw new Error(`0x${h.toString(16)}: ${got[h]} != ${want}`);
    }
  });

  it('bfloat16ToFloat32 matches the bfloat16 formula on all 65536 bit patterns', () => {
    const got = bfloat16ToFloat32(new Uint16Array(65536).map((_, i) => i));
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const e = (h >> 7) & 0xff;
      const m = h & 0x7f;
      const want =
        e === 0
          ? sign * m * 2 ** -133
          : e === 255
            ? m === 0
              ? sign * Number.POSITIVE_INFINITY
              : Number.NaN
            : sign * (1 + m / 128) * 2 ** (e - 127);
      if (!Object.is(got[h], want)) throw new Error(`0x${h.toString(16)}: ${got[h]} != ${want}`);
    }
  });
});

describe('writing', () => {
  const make = () => ({
    w: tf.tensor2d([
      [1, -2, 0.5],
      [3.25, -0, 1e-38],
    ]),
    inf: tf.tensor1d([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]),
    nan: tf.tensor1d([Number.NaN]),
    i: tf.tensor2d(
      [
        [-(2 ** 31), 2 ** 31 - 1],
        [0, 5],
      ],
      undefined,
      'int32',
    ),
    b: tf.tensor1d([true, false, true], 'bool'),
    scalar: tf.scalar(7),
    empty: tf.zeros([0, 4]),
  });
  const metadata = { 'written-by': 'tfjs-blocks', note: 'ünïcode ✓' };

  it('writes the fixture Python checks (test/reference/safetensors.py), 8-byte aligned', async () => {
    const tensors = make();
    await writeSafetensorsFile(join(FIXTURES, 'from-tfjs-blocks.safetensors'), tensors, metadata);
    const bytes = await readFile(join(FIXTURES, 'from-tfjs-blocks.safetensors'));
    expect(bytes.equals(Buffer.from(serializeSafetensors(tensors, metadata)))).toBe(true);
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    expect(header.__metadata__).toEqual(metadata);
    expect(header.w).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    expect(header.b.dtype).toBe('BOOL');
    expect(header.i.dtype).toBe('I32');
    tf.dispose(Object.values(tensors));
  });

  it('round-trips through bytes and through a file, values and dtypes exact', async () => {
    const tensors = make();
    const dir = await mkdtemp(join(tmpdir(), 'tfjs-blocks-st-'));
    try {
      await writeSafetensorsFile(join(dir, 'a.safetensors'), tensors, metadata);
      const fromFile = await readSafetensorsFile(join(dir, 'a.safetensors'));
      const fromBytes = parseSafetensors(serializeSafetensors(tensors, metadata));
      for (const back of [fromFile, fromBytes]) {
        expect(back.metadata).toEqual(metadata);
        for (const [name, t] of Object.entries(tensors)) {
          const b = back.tensors[name]!;
          expect([b.dtype, b.shape], name).toEqual([t.dtype, t.shape]);
          expect(Array.from(b.dataSync()), name).toEqual(Array.from(t.dataSync()));
          expect(Object.is(b.dataSync()[4], t.dataSync()[4])).toBe(true);
        }
        tf.dispose(Object.values(back.tensors));
      }
    } finally {
      tf.dispose(Object.values(tensors));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads from a fetch Response, and rejects a failed one', async () => {
    const w = tf.tensor1d([1, 2, 3]);
    const { tensors } = await loadSafetensorsFromResponse(
      new Response(serializeSafetensors({ w }).buffer as ArrayBuffer),
    );
    expect(Array.from(tensors.w!.dataSync())).toEqual([1, 2, 3]);
    tf.dispose([w, tensors.w!]);
    await expect(loadSafetensorsFromResponse(new Response('no', { status: 404 }))).rejects.toThrow(
      /status 404/,
    );
  });

  it('leaves no tensors behind', () => {
    const bytes = fixture('dtypes.safetensors');
    expectNoLeak(() => parseSafetensors(bytes).tensors);
    const tensors = make();
    expectNoLeak(() => {
      serializeSafetensors(tensors);
      return [];
    });
    tf.dispose(Object.values(tensors));
    // A failure midway disposes what was already made.
    const wide = new Uint8Array(16);
    new DataView(wide.buffer).setBigInt64(8, 2n ** 40n, true);
    const bad = makeFile(
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        z: { dtype: 'I64', shape: [1], data_offsets: [8, 16] },
      },
      wide,
    );
    const before = tf.memory().numTensors;
    expect(() => parseSafetensors(bad)).toThrow(/int32 range/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('readSafetensorsFile rejects a truncated file and leaves no tensors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tfjs-blocks-st-'));
    try {
      const path = join(dir, 'cut.safetensors');
      await writeFile(path, fixture('dtypes.safetensors'));
      await truncate(path, 900);
      const before = tf.memory().numTensors;
      await expect(readSafetensorsFile(path)).rejects.toThrow(TfjsBlocksError);
      await expect(readSafetensorsFile(path)).rejects.toThrow(/truncated file/);
      await truncate(path, 5);
      await expect(readSafetensorsFile(path)).rejects.toThrow(/at least 8 bytes/);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, end],
});
describeRejections('parseSafetensors rejects', () => [
  ['a file shorter than 8 bytes', () => parseSafetensors(new Uint8Array(5)), /at least 8 bytes/],
  [
    'a header length beyond the file',
    () => parseSafetensors(makeFile({}, new Uint8Array(0), 1000)),
    /header length must be at most 2 bytes/,
  ],
  ['bad JSON', () => parseSafetensors(makeFile('{"a": ')), /header must be UTF-8 JSON/],
  ['a header that is not an object', () => parseSafetensors(makeFile('[1]')), /a JSON object/],
  [
    'an unknown dtype, naming the tensor',
    () =>
      parseSafetensors(
        makeFile({ w: { dtype: 'Q7', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
      ),
    /tensor "w".dtype must be one of F32.*got "Q7"/,
  ],
  [
    'an unsupported dtype',
    () =>
      parseSafetensors(
        makeFile({ w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)),
      ),
    /"F64" \(no tfjs dtype holds it\)/,
  ],
  [
    'a bad shape',
    () =>
      parseSafetensors(
        makeFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)),
      ),
    /tensor "w".shape must be an array of non-negative integers/,
  ],
  [
    'offsets beyond the buffer',
    () => parseSafetensors(makeFile({ w: f32(0, 16) }, new Uint8Array(8))),
    /tensor "w".data_offsets must be within the 8-byte buffer/,
  ],
  [
    'reversed offsets',
    () =>
      parseSafetensors(
        makeFile({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, new Uint8Array(8)),
      ),
    /tensor "w".data_offsets must be \[begin, end\]/,
  ],
  [
    'overlapping tensors',
    () => parseSafetensors(makeFile({ a: f32(0, 8), b: f32(4, 12) }, new Uint8Array(12))),
    /tensor "b".data_offsets must be to start at byte 8.*got \[4, 12\]/,
  ],
  [
    'a hole in the buffer',
    () => parseSafetensors(makeFile({ a: f32(0, 4), b: f32(8, 12) }, new Uint8Array(12))),
    /tensor "b".data_offsets must be to start at byte 4/,
  ],
  [
    'trailing bytes no tensor covers',
    () => parseSafetensors(makeFile({ a: f32(0, 4) }, new Uint8Array(8))),
    /data_offsets must be to cover the 8-byte buffer; got tensors ending at byte 4/,
  ],
  [
    'shape x dtype size != byte length',
    () => parseSafetensors(makeFile({ w: f32(0, 8, [3]) }, new Uint8Array(8))),
    /tensor "w".data_offsets must be 12 bytes \(shape \[3\] of F32\); got 8 bytes/,
  ],
  [
    'non-string metadata',
    () => parseSafetensors(makeFile({ __metadata__: { epoch: 3 } })),
    /__metadata__.epoch must be a string/,
  ],
  [
    'I64 values outside the int32 range',
    () => {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigInt64(0, -(2n ** 31n) - 1n, true);
      return parseSafetensors(
        makeFile({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, bytes),
      );
    },
    /tensor "ids" must be I64 values within the int32 range.*got -2147483649 at index 0/,
  ],
]);

describeRejections('serializeSafetensors rejects', () => [
  [
    'dtypes other than float32, int32, bool',
    () => serializeSafetensors({ c: tf.complex([1], [2]) }),
    /tensors\["c"\].dtype must be float32, int32 or bool; got complex64/,
  ],
  [
    'non-tensors',
    () => serializeSafetensors({ x: [1, 2] as never }),
    /tensors\["x"\] must be a tensor/,
  ],
  [
    'non-string metadata',
    () => serializeSafetensors({}, { step: 3 as never }),
    /metadata.step must be a string/,
  ],
  [
    'a tensor named __metadata__',
    () => serializeSafetensors({ __metadata__: tf.scalar(1) }),
    /no tensor named "__metadata__"/,
  ],
]);

let backendBefore: string;
beforeAll(() => {
  backendBefore = tf.getBackend();
});
afterAll(() => {
  expect(tf.getBackend()).toBe(backendBefore);
});

/** Read as a key, never as the accessor. */
const PROTO = '__proto__';

describe('hostile names', () => {
  // Bytes as Python's safetensors writes them: the header is plain JSON, and
  // Python has no reason to avoid these names.
  const header =
    '{"__metadata__":{"__proto__":"meta","toString":"t"},' +
    '"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
    '"constructor":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},' +
    '"toString":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}';
  const buffer = new Uint8Array(new Float32Array([1.5, -2, 0]).buffer);
  new DataView(buffer.buffer).setInt32(8, 7, true);
  const pythonBytes = () => makeFile(header, buffer);
  const names = ['__proto__', 'constructor', 'toString'];

  function checkContents({
    tensors,
    metadata,
  }: {
    tensors: Record<string, tf.Tensor>;
    metadata: Record<string, string>;
  }) {
    expect(Object.getPrototypeOf(tensors)).toBe(null);
    expect(Object.keys(tensors).sort()).toEqual(names);
    const get = (name: string) => tensors[name]!;
    expect(Array.from(get(PROTO).dataSync())).toEqual([1.5]);
    expect(Array.from(get('constructor').dataSync())).toEqual([-2]);
    expect(get('toString').dtype).toBe('int32');
    expect(Array.from(get('toString').dataSync())).toEqual([7]);
    expect(Object.hasOwn(metadata, PROTO)).toBe(true);
    expect(metadata[PROTO]).toBe('meta');
    expect(metadata.toString).toBe('t');
  }

  it('tensors named __proto__, constructor and toString round-trip through bytes, with no leak', () => {
    const before = tf.memory().numTensors;
    const first = parseSafetensors(pythonBytes());
    checkContents(first);
    const again = parseSafetensors(serializeSafetensors(first.tensors, first.metadata));
    checkContents(again);
    tf.dispose([Object.values(first.tensors), Object.values(again.tensors)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('and through files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tfjs-blocks-st-'));
    try {
      await writeFile(join(dir, 'python.safetensors'), pythonBytes());
      const before = tf.memory().numTensors;
      const first = await readSafetensorsFile(join(dir, 'python.safetensors'));
      checkContents(first);
      await writeSafetensorsFile(join(dir, 'ours.safetensors'), first.tensors, first.metadata);
      const again = await readSafetensorsFile(join(dir, 'ours.safetensors'));
      checkContents(again);
      tf.dispose([Object.values(first.tensors), Object.values(again.tensors)]);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a written tensor named __proto__ is an entry of the header, not lost', () => {
    const t = tf.tensor1d([3]);
    const tensors = JSON.parse('{"__proto__": 0}');
    tensors[PROTO] = t;
    const bytes = serializeSafetensors(tensors);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const written = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(Object.keys(written)).toEqual([PROTO]);
    const back = parseSafetensors(bytes).tensors;
    expect(Array.from(back[PROTO]!.dataSync())).toEqual([3]);
    tf.dispose([t, back[PROTO]!]);
  });

  for (const dtype of ['constructor', 'toString', '__proto__']) {
    it(`rejects the dtype "${dtype}" (an inherited key, not a dtype)`, () => {
      const file = makeFile(
        `{"w":{"dtype":"${dtype}","shape":[1],"data_offsets":[0,4]}}`,
        new Uint8Array(4),
      );
      const e = thrownBy(() => parseSafetensors(file));
      expect(e.argument).toBe('tensor "w".dtype');
      expect(e.actual).toBe(`"${dtype}"`);
    });
  }
});

describe('hostile sizes', () => {
  /** A header of `count` zero-size tensors. */
  const emptyTensors = (count: number) =>
    makeFile(
      Object.fromEntries(
        Array.from({ length: count }, (_, i) => [
          `t${i}`,
          { dtype: 'F32', shape: [0], data_offsets: [0, 0] },
        ]),
      ),
    );

  it('rejects more tensors than maxTensors (default 100,000) before making any', async () => {
    const before = tf.memory().numTensors;
    const e = thrownBy(() => parseSafetensors(emptyTensors(100_001)));
    expect(e.argument).toBe('header');
    expect(e.expected).toMatch(/at most 100000 tensors/);
    expect(e.actual).toBe('100001 tensors');
    expect(thrownBy(() => parseSafetensors(emptyTensors(4), { maxTensors: 3 })).actual).toBe(
      '4 tensors',
    );
    const ok = parseSafetensors(emptyTensors(3), { maxTensors: 3 });
    expect(Object.keys(ok.tensors)).toHaveLength(3);
    tf.dispose(Object.values(ok.tensors));
    const dir = await mkdtemp(join(tmpdir(), 'tfjs-blocks-st-'));
    try {
      await writeFile(join(dir, 'many.safetensors'), emptyTensors(4));
      await expect(
        readSafetensorsFile(join(dir, 'many.safetensors'), { maxTensors: 3 }),
      ).rejects.toMatchObject({ argument: 'header', actual: '4 tensors' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await expect(
      loadSafetensorsFromResponse(new Response(emptyTensors(4).buffer as ArrayBuffer), {
        maxTensors: 3,
      }),
    ).rejects.toMatchObject({ argument: 'header' });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects unknown and invalid reader options, naming the closest option', async () => {
    const bytes = emptyTensors(1);
    const e = thrownBy(() => parseSafetensors(bytes, { maxTensor: 3 } as never));
    expect(e.argument).toBe('options.maxTensor');
    expect(e.expected).toMatch(/did you mean 'maxTensors'/);
    expect(thrownBy(() => parseSafetensors(bytes, { maxTensors: -1 })).argument).toBe(
      'options.maxTensors',
    );
    await expect(
      readSafetensorsFile('x.safetensors', { maxTensor: 3 } as never),
    ).rejects.toMatchObject({
      argument: 'options.maxTensor',
    });
    await expect(
      loadSafetensorsFromResponse(new Response(bytes.buffer as ArrayBuffer), {
        maxtensors: 3,
      } as never),
    ).rejects.toMatchObject({ argument: 'options.maxtensors' });
  });

  it('messages quote no buffer: a 10-million-element Int8Array is described, not printed', () => {
    const big = new Int8Array(10e6);
    const parse = thrownBy(() => parseSafetensors(big as never));
    expect(parse.argument).toBe('buffer');
    expect(parse.actual).toBe('a Int8Array of length 10000000');
    expect(parse.message.length).toBeLessThan(300);
    const write = thrownBy(() => serializeSafetensors({ w: big as never }));
    expect(write.argument).toBe('tensors["w"]');
    expect(write.actual).toBe('a Int8Array of length 10000000');
    // A header value is never stringified whole either.
    const longDtype = makeFile({ w: { dtype: 'x'.repeat(1e6), shape: [0], data_offsets: [0, 0] } });
    expect(thrownBy(() => parseSafetensors(longDtype)).message.length).toBeLessThan(500);
    const longShape = makeFile({
      w: { dtype: 'F32', shape: new Array(1e5).fill(-1), data_offsets: [0, 0] },
    });
    expect(thrownBy(() => parseSafetensors(longShape)).actual).toBe('an array');
  });
});

describe('names given twice in a header', () => {
  // JSON.parse keeps the last of two equal keys: without a check, a tensor
  // named twice would silently be one of the two.
  const entry = (begin: number) =>
    `{"dtype":"F32","shape":[1],"data_offsets":[${begin},${begin + 4}]}`;
  const buffer = new Uint8Array(8);
  const cases: [string, string, string][] = [
    ['a tensor', `{"w":${entry(0)},"w":${entry(4)}}`, 'tensor "w"'],
    ['a tensor, same offsets', `{"w":${entry(0)},"v":${entry(4)},"w":${entry(0)}}`, 'tensor "w"'],
    ['an escaped name', `{"a\\"b":${entry(0)},"a\\u0022b":${entry(4)}}`, 'tensor "a"b"'],
    [
      'a field of a tensor',
      `{"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`,
      'tensor "w".dtype',
    ],
    [
      'a metadata key',
      `{"__metadata__":{"format":"pt","format":"np"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`,
      '__metadata__.format',
    ],
    [
      'the metadata',
      `{"__metadata__":{},"__metadata__":{},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`,
      '__metadata__',
    ],
  ];
  it.each(cases)('%s is a typed error naming it; nothing made', (_, header, argument) => {
    const before = tf.memory().numTensors;
    const error = thrownBy(() => parseSafetensors(makeFile(header, buffer)));
    expect(error.argument).toBe(argument);
    expect(error.actual).toBe('given twice');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('equal names in different objects, in strings and in metadata values are fine', () => {
    const header =
      '{"__metadata__":{"w":"dtype, shape","x":"{\\"w\\": 1}"},' +
      '"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
      '"dtype":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    const { tensors, metadata } = parseSafetensors(makeFile(header, buffer));
    expect(Object.keys(tensors).sort()).toEqual(['dtype', 'w']);
    expect(metadata.x).toBe('{"w": 1}');
    tf.dispose(Object.values(tensors));
  });
});
