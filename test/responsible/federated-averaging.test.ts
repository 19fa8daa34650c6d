import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { adamw, type ParamTree } from '../../src/index';
import {
  federatedAverage,
  federatedAveragingRound,
} from '../../src/responsible/federated-averaging';
import { expectNoLeak } from '../helpers/leaks';
import { flattenParams, trainParams } from '../helpers/params';
import { describeRejections, thrownWithoutLeak } from '../helpers/rejections';

const values = (t: tf.Tensor) => Array.from(t.dataSync());

describe('federatedAverage', () => {
  it('weights each client by its sample count, keeps numbers and structure', () => {
    const a = { w: tf.tensor1d([1, 2]), layers: [{ b: tf.scalar(0) }], width: 2 };
    const b = { w: tf.tensor1d([5, 10]), layers: [{ b: tf.scalar(4) }], width: 2 };
    const avg = federatedAverage([a, b], [3, 1]);
    // 0.75·a + 0.25·b
    expect(values(avg.w)).toEqual([2, 4]);
    expect(values(avg.layers[0]!.b)).toEqual([1]);
    expect(avg.width).toBe(2);
    expect(avg.w).not.toBe(a.w);
    tf.dispose([a.w, a.layers[0]!.b, b.w, b.layers[0]!.b, avg.w, avg.layers[0]!.b]);
  });

  it('huge and tiny counts give the same weights as small ones (1e308 + 1e308 overflowed to zeros)', () => {
    const a = { w: tf.tensor1d([1, 2]) };
    const b = { w: tf.tensor1d([5, 10]) };
    for (const counts of [
      [1e308, 1e308],
      [3e307, 1e307],
      [Number.MAX_VALUE, Number.MAX_VALUE / 3],
      [3e-320, 1e-320],
    ]) {
      const avg = federatedAverage([a, b], counts);
      const expected = counts[0] === counts[1] ? [3, 6] : [2, 4];
      const got = values(avg.w);
      got.forEach((v, i) => {
        expect(v).toBeCloseTo(expected[i]!, 5);
      });
      tf.dispose(avg.w);
    }
    tf.dispose([a.w, b.w]);
  });

  it('one client gives a copy of its params', () => {
    const p = { w: tf.tensor2d([[1, 2]]) };
    const avg = federatedAverage([p], [7]);
    expect(avg.w).not.toBe(p.w);
    expect(values(avg.w)).toEqual([1, 2]);
    tf.dispose([p.w, avg.w]);
  });

  it('adds exactly its outputs and keeps its inputs', () => {
    const clients = [0, 1, 2].map((i) => ({
      dense: { kernel: tf.fill([3, 2], i), bias: tf.fill([2], -i) },
      units: 2,
    }));
    expectNoLeak(() => federatedAverage(clients, [1, 2, 3]) as tf.TensorContainer);
    for (const c of clients) {
      expect(c.dense.kernel.isDisposed).toBe(false);
      tf.dispose(Object.values(c.dense));
    }
  });

  it('a round disposes the clients’ params but not the global ones', async () => {
    const global: { w: tf.Tensor } = { w: tf.tensor1d([1, 1]) };
    const before = tf.memory().numTensors;
    const next = await federatedAveragingRound(global, [
      { samples: 1, train: (p) => ({ w: tf.add(p.w, 1) }) },
      { samples: 1, train: async (p) => ({ w: tf.add(p.w, 3) }) },
      // A client that returns the global tensor itself: it must survive.
      { samples: 2, train: (p) => p },
    ]);
    expect(values(next.w)).toEqual([2, 2]); // (2 + 4 + 2·1) / 4
    expect(global.w.isDisposed).toBe(false);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([global.w, next.w]);
  });
});

describeRejections('federatedAverage rejects bad input', () => {
  const a = { w: tf.zeros([2]), n: 1 };
  return [
    ['no clients', () => federatedAverage([], []), /clientParams must be a non-empty array/],
    [
      'a count per client',
      () => federatedAverage([a, a], [1]),
      /sampleCounts must be length 2 \(one per client\); got 1/,
    ],
    [
      'a zero count',
      () => federatedAverage([a, a], [1, 0]),
      /sampleCounts\[1\] must be a positive finite number; got 0/,
    ],
    [
      'a negative count',
      () => federatedAverage([a], [-3]),
      /sampleCounts\[0\] must be a positive finite number; got -3/,
    ],
    [
      'a shape mismatch',
      () => federatedAverage([a, { w: tf.zeros([3]), n: 1 }], [1, 1]),
      /clientParams\[1\]\.w must be a float32 tensor of shape \[2\]; got a float32 tensor of shape \[3\]/,
    ],
    [
      'a dtype mismatch',
      () => federatedAverage([a, { w: tf.zeros([2], 'int32'), n: 1 }], [1, 1]),
      /clientParams\[1\]\.w must be a float32 tensor of shape \[2\]; got a int32 tensor/,
    ],
    [
      'a missing key',
      () => federatedAverage([a, { w: tf.zeros([2]) } as unknown as typeof a], [1, 1]),
      /clientParams\[1\] must be an object with keys w, n; got an object with keys w/,
    ],
    [
      'numbers that differ',
      () => federatedAverage([a, { w: a.w, n: 2 }], [1, 1]),
      /clientParams\[1\]\.n must be the number 1 \(as client 0\); got 2/,
    ],
    [
      'arrays of different length',
      () => federatedAverage<ParamTree>([[a.w], [a.w, a.w]], [1, 1]),
      /clientParams\[1\] must be an array of length 1; got an array of length 2/,
    ],
    [
      'a tensor where another client has a number',
      () => federatedAverage<ParamTree>([{ x: a.w }, { x: 1 }], [1, 1]),
      /clientParams\[1\]\.x must be a float32 tensor of shape \[2\]; got 1/,
    ],
  ];
});

describe('federatedAverage messages describe, never print, big nodes', () => {
  it('describes a buffer where a tensor belongs instead of listing its indices', () => {
    const w = tf.zeros([2]);
    const buffer = new Float32Array(100_000);
    const error = thrownWithoutLeak(() =>
      federatedAverage<ParamTree>([{ w }, { w: buffer as unknown as tf.Tensor }], [1, 1]),
    );
    expect(error.argument).toBe('clientParams[1].w');
    expect(error.actual).toBe('a Float32Array of length 100000');
    expect(error.message.length).toBeLessThan(300);
    w.dispose();
  });

  it('cuts a long key list to the shared cap', () => {
    const w = tf.zeros([2]);
    const wide = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, 1]));
    const error = thrownWithoutLeak(() => federatedAverage<ParamTree>([{ w }, wide], [1, 1]));
    expect(error.argument).toBe('clientParams[1]');
    expect(error.actual).toMatch(/^an object with keys k0, k1, .*… \(\d+ more characters\)$/);
    expect(error.message.length).toBeLessThan(400);
    w.dispose();
  });
});

describe('federatedAveragingRound rejects bad clients', () => {
  it('no clients, or a client with no samples', async () => {
    await expect(federatedAveragingRound({ w: 1 }, [])).rejects.toThrow(
      /clients must be a non-empty array/,
    );
    await expect(
      federatedAveragingRound({ w: 1 }, [{ samples: 0, train: (p) => p }]),
    ).rejects.toThrow(/clients\[\]\.samples\[0\] must be a positive finite number; got 0/);
  });
});

// Non-IID FedAvg against centralised training on the pooled data.
//
// Task: 4-class softmax classification of 8-d Gaussian blobs (class means
// drawn once, unit noise), with a one-hidden-layer MLP. Each client holds 95%
// of one class and 1/60 of each other class' training data, so a model
// trained on one client alone is badly biased.
describe('FedAvg on a non-IID split', () => {
  const classes = 4;
  const dim = 8;
  const perClass = 200;
  const testPerClass = 100;
  type Mlp = {
    hidden: { kernel: tf.Tensor; bias: tf.Tensor };
    out: { kernel: tf.Tensor; bias: tf.Tensor };
    width: number;
  };

  function blobs(means: tf.Tensor2D, n: number, seed: number) {
    return tf.tidy(() => {
      const xs: tf.Tensor[] = [];
      const ys: number[] = [];
      for (let c = 0; c < classes; c++) {
        const mean = tf.slice(means, [c, 0], [1, dim]);
        xs.push(tf.add(tf.randomNormal([n, dim], 0, 1, 'float32', seed + c), mean));
        for (let i = 0; i < n; i++) ys.push(c);
      }
      return { x: tf.concat(xs, 0) as tf.Tensor2D, y: ys };
    });
  }

  function forward(p: Mlp, x: tf.Tensor): tf.Tensor {
    const h = tf.relu(tf.add(tf.matMul(x, p.hidden.kernel), p.hidden.bias));
    return tf.add(tf.matMul(h, p.out.kernel), p.out.bias);
  }

  function loss(p: Mlp, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
    const logits = forward(p, x);
    return tf.mean(tf.neg(tf.sum(tf.mul(tf.oneHot(y, classes), tf.logSoftmax(logits)), -1)));
  }

  function accuracy(p: Mlp, x: tf.Tensor, y: number[]): number {
    const pred = tf.tidy(() => tf.argMax(forward(p, x), -1).dataSync());
    let correct = 0;
    for (let i = 0; i < y.length; i++) if (pred[i] === y[i]) correct++;
    return correct / y.length;
  }

  const init = (): Mlp => ({
    hidden: {
      kernel: tf.randomNormal([dim, 16], 0, Math.sqrt(2 / dim), 'float32', 11),
      bias: tf.zeros([16]),
    },
    out: {
      kernel: tf.randomNormal([16, classes], 0, 0.25, 'float32', 12),
      bias: tf.zeros([classes]),
    },
    width: 16,
  });
  const free = (p: Mlp) => tf.dispose(Object.values(flattenParams(p)));

  it('reaches centralised accuracy within 5 points', async () => {
    const means = tf.mul(tf.randomNormal([classes, dim], 0, 1, 'float32', 1), 1.0) as tf.Tensor2D;
    const train = blobs(means, perClass, 100);
    const test = blobs(means, testPerClass, 200);

    // Non-IID split: sample i of class c goes to client c if i < 95% of the
    // class, else to one of the other three clients in turn.
    const owner = train.y.map((c, j) => {
      const i = j - c * perClass;
      return i < 0.95 * perClass ? c : (c + 1 + (i % (classes - 1))) % classes;
    });
    const clientData = [...Array(classes).keys()].map((k) => {
      const idx = owner.flatMap((o, j) => (o === k ? [j] : []));
      return {
        x: tf.gather(train.x, tf.tensor1d(idx, 'int32')),
        y: tf.tensor1d(
          idx.map((j) => train.y[j]!),
          'int32',
        ),
        n: idx.length,
        majority: idx.filter((j) => train.y[j] === k).length / idx.length,
      };
    });
    const pooledY = tf.tensor1d(train.y, 'int32');

    const rounds = 10;
    const localSteps = 20;
    const lr = 0.02;
    const before = tf.memory().numTensors;

    // Centralised: the same number of full-batch steps as one client takes in total.
    const start = init();
    const central = trainParams(
      start,
      (p) => loss(p, train.x, pooledY),
      adamw({ learningRate: lr, weightDecay: 0 }),
      rounds * localSteps,
    ).params;
    const centralAcc = accuracy(central, test.x, test.y);

    // One client alone: what the non-IID skew costs without averaging.
    const solo = trainParams(
      start,
      (p) => loss(p, clientData[0]!.x, clientData[0]!.y),
      adamw({ learningRate: lr, weightDecay: 0 }),
      rounds * localSteps,
    ).params;
    const soloAcc = accuracy(solo, test.x, test.y);

    // FedAvg: each round every client runs localSteps of AdamW (fresh state) from the global params.
    let global = start;
    const history: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const next = await federatedAveragingRound(
        global,
        clientData.map((d) => ({
          samples: d.n,
          train: (p: Mlp) =>
            trainParams(
              p,
              (q) => loss(q, d.x, d.y),
              adamw({ learningRate: lr, weightDecay: 0 }),
              localSteps,
            ).params,
        })),
      );
      free(global);
      global = next;
      history.push(accuracy(global, test.x, test.y));
    }
    const fedAcc = history.at(-1)!;
    expect(global.width).toBe(16);
    // Only central, solo and the final global are left (4 tensors each).
    expect(tf.memory().numTensors - before).toBe(12);

    console.log(
      `FedAvg non-IID (client majority share ${clientData.map((d) => d.majority.toFixed(2)).join('/')}): ` +
        `centralised ${(centralAcc * 100).toFixed(1)}%, FedAvg ${(fedAcc * 100).toFixed(1)}% ` +
        `(per round ${history.map((a) => (a * 100).toFixed(1)).join(', ')}), ` +
        `client 0 alone ${(soloAcc * 100).toFixed(1)}%`,
    );
    expect(soloAcc).toBeLessThan(centralAcc - 0.1);
    expect(Math.abs(fedAcc - centralAcc)).toBeLessThanOrEqual(0.05);

    free(central);
    free(solo);
    free(global);
    tf.dispose([means, train.x, test.x, pooledY]);
    for (const d of clientData) tf.dispose([d.x, d.y]);
  });
});

describe('federatedAverage fails without leaving averages behind', () => {
  it('a mismatch found after some leaves were averaged frees those averages', () => {
    const a = tf.ones([2]);
    const b = tf.zeros([2]);
    const e = thrownWithoutLeak(() =>
      federatedAverage(
        [
          { a, b: { c: b } },
          { a, b: { c: 3 } },
        ] as unknown as ParamTree[],
        [1, 1],
      ),
    );
    expect(e.argument).toBe('clientParams[1].b.c');
    tf.dispose([a, b]);
  });

  it('a record that contains itself is a typed error, not a stack overflow', () => {
    const w = tf.ones([1]);
    const loop: Record<string, unknown> = { w };
    loop.self = loop;
    const e = thrownWithoutLeak(() =>
      federatedAverage([loop, loop] as unknown as ParamTree[], [1, 1]),
    );
    expect(e.argument).toBe('clientParams[0].self');
    w.dispose();
  });
});
