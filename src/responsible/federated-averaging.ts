import { add, dispose, mul, Tensor, tidy } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { describeValue, truncateForMessage } from '../internal/checks';
import { tidyParams } from '../internal/tidy-params';
import { treeLeaves } from '../tree/leaves';
import type { ParamTree } from '../tree/types';
import { type TreeKey, zipTrees } from '../tree/walk';

/** One client of {@link federatedAveragingRound}. */
export interface FederatedClient<P extends ParamTree = ParamTree> {
  /**
   * Trains locally from the global params and returns new params of the same
   * structure. It must not dispose `params` (the round's caller owns them);
   * the round disposes what it returns once averaged.
   */
  train(params: P): Promise<P> | P;
  /** The client's number of training samples: its weight in the average. */
  samples: number;
}

/**
 * A tree node for a message: its structure (array length, record keys) where
 * the trees must match, and otherwise the shared {@link describeValue}, which
 * never prints a buffer. The key list is cut to the shared message cap.
 */
function kind(x: unknown): string {
  if (typeof x === 'number') return `${x}`;
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (x !== null && typeof x === 'object' && !(x instanceof Tensor) && !ArrayBuffer.isView(x))
    return truncateForMessage(`an object with keys ${Object.keys(x).join(', ')}`);
  return describeValue(x);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A path in the error style of {@link federatedAverage}: `.key` for records, `[i]` for arrays. */
function formatKeys(keys: readonly TreeKey[]): string {
  return keys.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('');
}

/** Whether `x` is walked into (an array or a record); every other value is a leaf of the average. */
function isWalked(x: unknown): boolean {
  return x !== null && typeof x === 'object' && !(x instanceof Tensor);
}

/**
 * The weighted mean of one leaf across the clients: tensors are averaged,
 * numbers (config) must agree. `weights` sum to 1.
 */
function averageLeaf(
  nodes: readonly unknown[],
  weights: readonly number[],
  keys: readonly TreeKey[],
) {
  const fn = 'federatedAverage';
  const first = nodes[0];
  const at = (i: number) => `clientParams[${i}]${formatKeys(keys)}`;
  if (first instanceof Tensor) {
    nodes.forEach((x, i) => {
      if (!(x instanceof Tensor) || x.isDisposed) {
        throw new TfjsBlocksError(
          fn,
          at(i),
          kind(first),
          x instanceof Tensor ? 'a disposed tensor' : kind(x),
        );
      }
      // Integer tensors (step counters, token ids) have no meaningful mean.
      if (x.dtype !== 'float32' || !sameShape(x.shape, first.shape)) {
        throw new TfjsBlocksError(
          fn,
          at(i),
          `a float32 tensor of shape [${first.shape.join(', ')}]`,
          kind(x),
        );
      }
    });
    return tidy(() =>
      (nodes as Tensor[]).map((x, i) => mul(x, weights[i]!)).reduce((acc, x) => add(acc, x)),
    );
  }
  if (typeof first === 'number') {
    nodes.forEach((x, i) => {
      // Numbers are config (sizes, epsilons): they must agree, not be averaged.
      if (x !== first && !(Number.isNaN(x) && Number.isNaN(first))) {
        throw new TfjsBlocksError(fn, at(i), `the number ${first} (as client 0)`, kind(x));
      }
    });
    return first;
  }
  throw new TfjsBlocksError(fn, at(0), 'a tensor, number, array or object', kind(first));
}

/**
 * Walks the client trees together (one tree walk, the first client's
 * structure leading), checking they match, and builds the averaged tree.
 */
function average(nodes: readonly unknown[], weights: readonly number[]): unknown {
  return zipTrees(nodes, (leaves, keys) => averageLeaf(leaves, weights, keys), {
    fn: 'federatedAverage',
    argument: 'clientParams[0]',
    isLeaf: (x) => !isWalked(x),
    onMismatch(i, keys, expected, actual) {
      throw new TfjsBlocksError(
        'federatedAverage',
        `clientParams[${i}]${formatKeys(keys)}`,
        kind(expected),
        kind(actual),
      );
    },
  });
}

/**
 * `n_k / Σ n`, computed without overflow: the counts are divided by the
 * largest first (so they lie in (0, 1] and sum to at most their number), as
 * `[1e308, 1e308]` would otherwise sum to Infinity and give weights of 0.
 */
function normalizedWeights(counts: readonly number[]): number[] {
  const largest = Math.max(...counts);
  const scaled = counts.map((n) => n / largest);
  const total = scaled.reduce((a, b) => a + b, 0);
  return scaled.map((n) => n / total);
}

function checkCounts(fn: string, name: string, counts: readonly number[], expected: number): void {
  if (counts.length !== expected) {
    throw new TfjsBlocksError(fn, name, `length ${expected} (one per client)`, `${counts.length}`);
  }
  counts.forEach((n, i) => {
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
      throw new TfjsBlocksError(fn, `${name}[${i}]`, 'a positive finite number', String(n));
    }
  });
}

/**
 * Federated averaging (FedAvg): the sample-weighted mean of the clients'
 * params, `θ = Σ_k (n_k / n) θ_k` with `n = Σ_k n_k` (McMahan et al. 2017,
 * https://arxiv.org/abs/1602.05629).
 *
 * Every client's record must have the same structure, tensor shapes and
 * float32 dtype; plain numbers in the records (config) must be equal across
 * clients and are kept. Returns new tensors and never disposes its inputs.
 *
 * @param clientParams - one param record per client, at least one.
 * @param sampleCounts - each client's number of training samples (positive; need not be integers).
 * @returns a new record of the same structure holding the averaged tensors.
 * @throws TfjsBlocksError on an empty input, counts that are not positive or
 *   do not match the clients, or records whose structure, shapes, dtypes or
 *   numbers differ.
 * @example
 * ```ts
 * const a = { kernel: tf.tensor2d([[1, 2]]), width: 2 };
 * const b = { kernel: tf.tensor2d([[5, 10]]), width: 2 };
 * const global = federatedAverage([a, b], [600, 200]); // kernel [[2, 4]] = 0.75·a + 0.25·b, width 2
 * ```
 */
export function federatedAverage<P extends ParamTree>(
  clientParams: readonly P[],
  sampleCounts: readonly number[],
): P {
  const fn = 'federatedAverage';
  if (!Array.isArray(clientParams) || clientParams.length === 0) {
    throw new TfjsBlocksError(fn, 'clientParams', 'a non-empty array', kind(clientParams));
  }
  checkCounts(fn, 'sampleCounts', sampleCounts, clientParams.length);
  const weights = normalizedWeights(sampleCounts);
  // A mismatch found late must not leave the leaves averaged before it behind.
  return tidyParams(() => average(clientParams, weights)) as P;
}

/**
 * One FedAvg round: each client trains from `global` (one after another, so
 * clients sharing a backend do not compete for memory) and the results are
 * averaged with {@link federatedAverage}, weighted by `samples`.
 *
 * Ownership: `global` is not disposed (the caller decides when to drop the
 * previous round's params); the clients' returned params are disposed once
 * averaged, except any tensor that is also in `global`.
 *
 * @param global - the current global params.
 * @param clients - at least one {@link FederatedClient}.
 * @returns the new global params (new tensors).
 * @example
 * ```ts
 * let global = initParams();
 * for (let round = 0; round < 10; round++) {
 *   const next = await federatedAveragingRound(global, clients);
 *   tf.dispose(Object.values(global));
 *   global = next;
 * }
 * ```
 */
export async function federatedAveragingRound<P extends ParamTree>(
  global: P,
  clients: readonly FederatedClient<P>[],
): Promise<P> {
  const fn = 'federatedAveragingRound';
  if (!Array.isArray(clients) || clients.length === 0) {
    throw new TfjsBlocksError(fn, 'clients', 'a non-empty array', kind(clients));
  }
  checkCounts(
    fn,
    'clients[].samples',
    clients.map((c) => c.samples),
    clients.length,
  );
  const keep = new Set(treeLeaves(global));
  const locals: P[] = [];
  try {
    for (const client of clients) locals.push(await client.train(global));
    return federatedAverage(
      locals,
      clients.map((c) => c.samples),
    );
  } finally {
    const owned = new Set(locals.flatMap((p) => treeLeaves(p)));
    dispose([...owned].filter((t) => !keep.has(t)));
  }
}
