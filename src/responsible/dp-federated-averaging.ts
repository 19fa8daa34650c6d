import {
  add,
  dispose,
  div,
  maximum,
  mul,
  randomNormal,
  scalar,
  sqrt,
  square,
  sub,
  sum,
  Tensor,
  tidy,
  zeros,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkNumber,
  checkOptionKeys,
  describeValue,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { ownEntry } from '../internal/records';
import { sumTensors } from '../internal/reduce';
import { splitSeed } from '../internal/seed';
import { tidyParams } from '../internal/tidy-params';
import { flattenParams, unflattenParams } from '../tree/flatten';
import { treeLeaves } from '../tree/leaves';
import { treeMap } from '../tree/map';
import type { ParamTree } from '../tree/types';
import { computeDpSgdEpsilon, type DpSgdPrivacy } from './privacy-accountant';

/** Options of {@link privateDeltaAverage} and {@link dpFederatedAveragingRound}. */
export interface DpFederatedOptions {
  /** Each client's delta is scaled to global L2 norm <= this (`S`, > 0). */
  l2NormClip: number;
  /** Noise standard deviation over the clip norm (`z`, >= 0); the noise added to the average is `z·S / expectedClients`. */
  noiseMultiplier: number;
  /**
   * The fixed denominator `m = q · N`: the expected number of clients per
   * round (> 0). Dividing by it rather than by the clients that answered keeps
   * one client's influence at most `S / m` (McMahan et al. 2018's `f̃_f`).
   */
  expectedClients: number;
  /** Integer seed of the noise; with `round`, the same pair gives the same noise. */
  seed: number;
  /** The round (integer >= 0): each round draws fresh noise. */
  round: number;
}

const DP_FEDERATED_KEYS = optionKeys<DpFederatedOptions>({
  l2NormClip: true,
  noiseMultiplier: true,
  expectedClients: true,
  seed: true,
  round: true,
});

interface CheckedFederated {
  clip: number;
  std: number;
  expectedClients: number;
  seed: number;
  round: number;
}

function checkFederatedOptions(fn: string, options: DpFederatedOptions): CheckedFederated {
  const clip = checkNumber(fn, 'options.l2NormClip', options?.l2NormClip, {
    min: 0,
    minExclusive: true,
  });
  const noiseMultiplier = checkNumber(fn, 'options.noiseMultiplier', options.noiseMultiplier, {
    min: 0,
  });
  const expectedClients = checkNumber(fn, 'options.expectedClients', options.expectedClients, {
    min: 0,
    minExclusive: true,
  });
  const seed = checkInteger(fn, 'options.seed', options.seed, -(2 ** 31));
  const round = checkInteger(fn, 'options.round', options.round, 0);
  return { clip, std: (noiseMultiplier * clip) / expectedClients, expectedClients, seed, round };
}

/** Checks each delta has the global's tensors (paths, shapes, float32); returns them flat. */
function checkDeltas(
  fn: string,
  paths: readonly string[],
  shapes: readonly (readonly number[])[],
  deltas: readonly unknown[],
  name: (k: number) => string = (k) => `deltas[${k}]`,
): Record<string, Tensor>[] {
  return deltas.map((delta, k) => {
    if (delta === null || typeof delta !== 'object') {
      throw new TfjsBlocksError(fn, name(k), 'a tree shaped like global', describeValue(delta));
    }
    const flat = flattenParams(delta);
    if (Object.keys(flat).length !== paths.length) {
      throw new TfjsBlocksError(
        fn,
        name(k),
        `the ${paths.length} tensors of global (${paths.join(', ')})`,
        `${Object.keys(flat).length} tensors (${Object.keys(flat).join(', ')})`,
      );
    }
    paths.forEach((path, i) => {
      const t = ownEntry(flat, path);
      const shape = shapes[i]!;
      if (
        !(t instanceof Tensor) ||
        t.isDisposed ||
        t.dtype !== 'float32' ||
        t.rank !== shape.length ||
        t.shape.some((d, j) => d !== shape[j])
      ) {
        throw new TfjsBlocksError(
          fn,
          `${name(k)}["${path}"]`,
          `a float32 tensor of shape ${formatShape(shape)} (as global)`,
          t instanceof Tensor && t.isDisposed ? 'a disposed tensor' : describeValue(t),
        );
      }
    });
    return flat;
  });
}

function checkGlobal(fn: string, global: unknown): { paths: string[]; shapes: number[][] } {
  if (global === null || typeof global !== 'object') {
    throw new TfjsBlocksError(fn, 'global', 'a tree of float32 tensors', describeValue(global));
  }
  const flat = flattenParams(global);
  const paths = Object.keys(flat);
  if (paths.length === 0) {
    throw new TfjsBlocksError(fn, 'global', 'a tree holding at least one tensor', 'no tensor');
  }
  for (const path of paths) {
    const t = flat[path]!;
    if (t.isDisposed || t.dtype !== 'float32') {
      throw new TfjsBlocksError(
        fn,
        `global["${path}"]`,
        'a float32 tensor',
        t.isDisposed ? 'a disposed tensor' : describeValue(t),
      );
    }
  }
  return { paths, shapes: paths.map((p) => flat[p]!.shape) };
}

/** The noised clipped mean, flat by path (inside the caller's tidy). */
function noisedMean(
  paths: readonly string[],
  shapes: readonly (readonly number[])[],
  flats: readonly Record<string, Tensor>[],
  c: CheckedFederated,
): Record<string, Tensor> {
  // One seed per (round, tensor), as differentiallyPrivateAggregate mixes (step, tensor).
  const noiseSeeds = splitSeed((c.seed ^ Math.imul(c.round + 1, 0x27d4eb2d)) >>> 0, paths.length);
  const factors = flats.map((flat) => {
    const norm = sqrt(sumTensors(paths.map((p) => sum(square(flat[p]!)))));
    // S / max(‖Δ‖, S) = min(1, S / ‖Δ‖).
    return div(scalar(c.clip), maximum(norm, c.clip));
  });
  const out: Record<string, Tensor> = {};
  paths.forEach((path, i) => {
    const shape = shapes[i]! as number[];
    const clipped = flats.map((flat, k) => mul(flat[path]!, factors[k]!));
    let total: Tensor =
      clipped.length === 0 ? zeros(shape) : div(sumTensors(clipped), c.expectedClients);
    if (c.std > 0) total = add(total, randomNormal(shape, 0, c.std, 'float32', noiseSeeds[i]!));
    out[path] = total;
  });
  return out;
}

/**
 * The client-level DP average of client deltas (McMahan, Ramage, Talwar,
 * Zhang 2018, "Learning Differentially Private Recurrent Language Models",
 * https://arxiv.org/abs/1710.06963, the fixed-denominator estimator with
 * uniform weights): each client's delta `Δ_k` (its adapter after local
 * training minus the round's global) is scaled to global L2 norm at most
 * `S = l2NormClip`, the clipped deltas are summed and divided by the fixed
 * `m = expectedClients`, and Gaussian noise of standard deviation `z·S/m`
 * (`z = noiseMultiplier`) is added to every coordinate:
 * `(Σ_k Δ_k · min(1, S / ‖Δ_k‖) + N(0, z²S²)) / m`.
 *
 * With clients sampled independently with probability `q = m / N` each
 * round (see {@link sampleClients}), `rounds` rounds are
 * (ε, δ)-DP for every client's whole data, with the ε of
 * {@link computeDpFederatedEpsilon} (the subsampled Gaussian RDP with this
 * `q` and `z`). The aggregator that adds the noise is trusted to see the
 * clipped deltas; the published averages protect every client.
 *
 * @param global - the round's global params (e.g. the LoRA adapter): the structure and shapes of every delta.
 * @param deltas - one tree per client that answered (possibly none), shaped like `global`.
 * @returns the noised average delta, shaped like `global` (new tensors).
 * @throws TfjsBlocksError on a bad option, or a delta whose tensors differ from `global`'s.
 * @example
 * ```ts
 * const global = { a: tf.zeros([4, 2]), b: tf.zeros([2, 4]) };
 * const deltas = [
 *   { a: tf.fill([4, 2], 0.1), b: tf.fill([2, 4], -0.1) },
 *   { a: tf.fill([4, 2], 5), b: tf.fill([2, 4], 5) }, // clipped to norm 1
 * ];
 * const average = privateDeltaAverage(global, deltas, {
 *   l2NormClip: 1, noiseMultiplier: 1, expectedClients: 2, seed: 0, round: 0,
 * });
 * ```
 */
export function privateDeltaAverage<P extends ParamTree>(
  global: P,
  deltas: readonly P[],
  options: DpFederatedOptions,
): P {
  const fn = 'privateDeltaAverage';
  checkOptionKeys(fn, options, DP_FEDERATED_KEYS);
  const c = checkFederatedOptions(fn, options);
  const { paths, shapes } = checkGlobal(fn, global);
  if (!Array.isArray(deltas)) {
    throw new TfjsBlocksError(
      fn,
      'deltas',
      'an array of trees (one per client)',
      describeValue(deltas),
    );
  }
  const flats = checkDeltas(fn, paths, shapes, deltas);
  return tidyParams(() => unflattenParams(global, noisedMean(paths, shapes, flats, c)));
}

/**
 * One client of {@link dpFederatedAveragingRound}: trains locally from the
 * global params (on data that never leaves it) and returns its new params,
 * of the same structure. It must not dispose `global`; the round disposes
 * what it returns. Over a network, the function sends `global`, and returns
 * what the device sent back (see docs/fine-tuning.md, "Private fine-tuning").
 */
export type DpFederatedClient<P extends ParamTree = ParamTree> = (global: P) => Promise<P> | P;

/** Options of {@link dpFederatedAveragingRound}. */
export interface DpFederatedRoundOptions extends DpFederatedOptions {
  /** The server's step on the averaged delta (`global + serverLearningRate · average`). Default 1. */
  serverLearningRate?: number;
}

const DP_ROUND_KEYS = [
  ...DP_FEDERATED_KEYS,
  ...optionKeys<Omit<DpFederatedRoundOptions, keyof DpFederatedOptions>>({
    serverLearningRate: true,
  }),
];

/**
 * One round of client-level DP federated averaging (DP-FedAvg, McMahan et
 * al. 2018, https://arxiv.org/abs/1710.06963): each sampled client trains
 * from `global` (one after another), its delta `local - global` is
 * clipped, and the new global is `global + η · privateDeltaAverage(...)`
 * ({@link privateDeltaAverage}: clipped deltas over the fixed `m`, plus
 * noise `z·S/m`). Pass the clients {@link sampleClients} picked for this
 * round, `expectedClients = q · N`, and account the run with
 * {@link computeDpFederatedEpsilon}.
 *
 * Ownership: `global` is not disposed; what the clients return is
 * disposed once its delta is taken (except tensors that are also in
 * `global`).
 *
 * @param global - the round's global params (e.g. a LoRA adapter).
 * @param clients - the clients sampled this round (may be empty: the round then adds noise only).
 * @returns the new global params (new tensors).
 * @throws TfjsBlocksError on bad options, or a client whose result differs from `global` in structure or shapes.
 * @example
 * ```ts
 * const sampled = sampleClients(clients.length, 0.1, { seed: 1, round });
 * const next = await dpFederatedAveragingRound(adapter, sampled.map((i) => clients[i]!), {
 *   l2NormClip: 0.5, noiseMultiplier: 1, expectedClients: 0.1 * clients.length, seed: 2, round,
 * });
 * ```
 */
export async function dpFederatedAveragingRound<P extends ParamTree>(
  global: P,
  clients: readonly DpFederatedClient<P>[],
  options: DpFederatedRoundOptions,
): Promise<P> {
  const fn = 'dpFederatedAveragingRound';
  checkOptionKeys(fn, options, DP_ROUND_KEYS);
  const c = checkFederatedOptions(fn, options);
  const rate = checkNumber(fn, 'options.serverLearningRate', options.serverLearningRate ?? 1, {
    min: 0,
  });
  const { paths, shapes } = checkGlobal(fn, global);
  if (!Array.isArray(clients) || clients.some((client) => typeof client !== 'function')) {
    throw new TfjsBlocksError(
      fn,
      'clients',
      'an array of functions (global) => params',
      describeValue(clients),
    );
  }
  const keep = new Set(treeLeaves(global));
  const flatGlobal = flattenParams(global);
  const deltas: Record<string, Tensor>[] = [];
  try {
    for (const [index, client] of clients.entries()) {
      const local = await client(global);
      try {
        const flat = checkDeltas(fn, paths, shapes, [local], () => `clients[${index}](global)`)[0]!;
        deltas.push(
          tidy(() => Object.fromEntries(paths.map((p) => [p, sub(flat[p]!, flatGlobal[p]!)]))),
        );
      } finally {
        if (local !== null && typeof local === 'object') {
          dispose(treeLeaves(local).filter((t) => !keep.has(t)));
        }
      }
    }
    return tidyParams(() => {
      const mean = noisedMean(paths, shapes, deltas, c);
      return treeMap(global, (leaf, path) => add(leaf, mul(mean[path]!, rate)));
    });
  } finally {
    for (const d of deltas) dispose(Object.values(d));
  }
}

/** Options of {@link sampleClients}. */
export interface SampleClientsOptions {
  /** Integer seed. */
  seed: number;
  /** The round (integer >= 0): each round draws a fresh sample. */
  round: number;
}

/**
 * Poisson sampling of clients for one round, as the accountant assumes:
 * each of `totalClients` clients joins independently with probability
 * `samplingRate`, so a round has `samplingRate · totalClients` clients on
 * average (and possibly none). Reproducible from `seed` and `round`.
 *
 * @returns the indices of the sampled clients, ascending.
 * @example
 * ```ts
 * const sampled = sampleClients(1000, 0.05, { seed: 7, round: 3 }); // about 50 indices
 * ```
 */
export function sampleClients(
  totalClients: number,
  samplingRate: number,
  options: SampleClientsOptions,
): number[] {
  const fn = 'sampleClients';
  const total = checkInteger(fn, 'totalClients', totalClients, 0);
  const q = checkNumber(fn, 'samplingRate', samplingRate, { min: 0, max: 1, maxInclusive: true });
  checkOptionKeys(fn, options, optionKeys<SampleClientsOptions>({ seed: true, round: true }));
  const seed = checkInteger(fn, 'options.seed', options?.seed, -(2 ** 31));
  const round = checkInteger(fn, 'options.round', options.round, 0);
  const draws = splitSeed((seed ^ Math.imul(round + 1, 0x165667b1)) >>> 0, total);
  const sampled: number[] = [];
  draws.forEach((u, i) => {
    if (u / 2 ** 32 < q) sampled.push(i);
  });
  return sampled;
}

/** Options of {@link computeDpFederatedEpsilon}. */
export interface DpFederatedPrivacyOptions {
  /** Rounds run (integer >= 0). */
  rounds: number;
  /** Expected clients per round `m` (> 0, at most `totalClients`). */
  expectedClients: number;
  /** Clients in the population `N` (integer >= 1). */
  totalClients: number;
  /** Noise multiplier `z` >= 0. */
  noiseMultiplier: number;
  /** Target δ in (0, 1); below 1 / totalClients is the usual choice. */
  delta: number;
  /** Rényi orders. Default the accountant's. */
  orders?: readonly number[];
}

const DP_FEDERATED_PRIVACY_KEYS = optionKeys<DpFederatedPrivacyOptions>({
  rounds: true,
  expectedClients: true,
  totalClients: true,
  noiseMultiplier: true,
  delta: true,
  orders: true,
});

/**
 * The client-level (ε, δ) of `rounds` rounds of DP federated averaging
 * ({@link dpFederatedAveragingRound}): the Poisson-subsampled Gaussian
 * mechanism with `q = expectedClients / totalClients` and noise multiplier
 * `z`, composed over the rounds, by the same RDP accountant as DP-SGD
 * (`computeDpSgdEpsilon` with `steps = rounds`). A neighbouring dataset adds
 * or removes one whole client.
 *
 * @example
 * ```ts
 * const { epsilon } = computeDpFederatedEpsilon({
 *   rounds: 2000, expectedClients: 100, totalClients: 10000, noiseMultiplier: 1, delta: 1e-5,
 * });
 * ```
 */
export function computeDpFederatedEpsilon(options: DpFederatedPrivacyOptions): DpSgdPrivacy {
  const fn = 'computeDpFederatedEpsilon';
  checkOptionKeys(fn, options, DP_FEDERATED_PRIVACY_KEYS);
  const rounds = checkInteger(fn, 'options.rounds', options?.rounds, 0);
  const total = checkInteger(fn, 'options.totalClients', options.totalClients, 1);
  const expected = checkNumber(fn, 'options.expectedClients', options.expectedClients, {
    min: 0,
    max: total,
    minExclusive: true,
    maxInclusive: true,
  });
  return computeDpSgdEpsilon({
    steps: rounds,
    samplingRate: expected / total,
    noiseMultiplier: options.noiseMultiplier,
    delta: options.delta,
    ...(options.orders !== undefined ? { orders: options.orders } : {}),
  });
}
