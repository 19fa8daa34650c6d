import {
  add,
  expandDims,
  gather,
  getBackend,
  getKernel,
  matMul,
  oneHot,
  randomNormal,
  reshape,
  scatterND,
  slice,
  Tensor,
  type Tensor1D,
  type Tensor2D,
  tidy,
  unsortedSegmentSum,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkFloatTensor,
  checkInteger,
  checkNumber,
  checkOptionKeys,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { customGradient } from '../internal/custom-gradient';
import { checkClassLabels } from '../internal/label-checks';
import { splitSeed } from '../internal/seed';

/** Parameters of an embedding: a `[rows, dim]` table (tokens or positions). */
export type EmbeddingParams = {
  /** `[rows, dim]`. */
  table: Tensor2D;
};

/** Configuration of {@link initEmbedding}. */
export type EmbeddingConfig = {
  /** Number of rows (vocabulary size, or maximum length for positions). */
  rows: number;
  /** Embedding width. */
  dim: number;
  /** Standard deviation of the normal initialisation. Default `0.02` (GPT-2's). */
  std?: number;
};

const EMBEDDING_CONFIG_KEYS = optionKeys<EmbeddingConfig>({ rows: true, dim: true, std: true });

/**
 * Options of {@link positionEmbedding} and {@link tokenAndPositionEmbedding}.
 *
 * @example
 * ```ts
 * const options: OffsetOptions = { offset: 16 }; // positions 16, 17, … (decoding after a cache)
 * ```
 */
export interface OffsetOptions {
  /** The position of the first token (e.g. the cache length when decoding). Default 0. */
  offset?: number;
}
const OFFSET_OPTION_KEYS = optionKeys<OffsetOptions>({ offset: true });

/**
 * Configuration of {@link initTokenAndPositionEmbedding}.
 *
 * @example
 * ```ts
 * const config: TokenAndPositionEmbeddingConfig = { vocabSize: 50257, maxLength: 1024, dim: 768 };
 * ```
 */
export interface TokenAndPositionEmbeddingConfig {
  /** Rows of the token table. */
  vocabSize: number;
  /** Rows of the position table: the longest sequence. */
  maxLength: number;
  /** Width of both tables. */
  dim: number;
}
const TOKEN_AND_POSITION_CONFIG_KEYS = optionKeys<TokenAndPositionEmbeddingConfig>({
  vocabSize: true,
  maxLength: true,
  dim: true,
});

/**
 * Creates an embedding table drawn from `N(0, std²)`, reproducible from `seed`.
 *
 * @example
 * ```ts
 * const tokens = initEmbedding({ rows: 50257, dim: 768 }, 0);
 * ```
 */
export function initEmbedding(config: EmbeddingConfig, seed: number): EmbeddingParams {
  const fn = 'initEmbedding';
  checkOptionKeys(fn, config, EMBEDDING_CONFIG_KEYS, 'config');
  const rows = checkInteger(fn, 'config.rows', config?.rows, 1);
  const dim = checkInteger(fn, 'config.dim', config.dim, 1);
  const std = checkNumber(fn, 'config.std', config.std ?? 0.02, { min: 0 });
  return { table: randomNormal([rows, dim], 0, std, 'float32', seed) as Tensor2D };
}

/**
 * Scatter-adds gradient rows into the table's shape. `scatterND` sums
 * repeated ids in one pass over the rows; `tf.gather`'s own gradient,
 * `unsortedSegmentSum`, is missing on wasm and on cpu loops over every table
 * row for each segment (91 s against 15 ms for a 4,000-row table and 2,048
 * ids). The one-hot matMul is the last resort.
 */
function scatterRows(rowsGrad: Tensor, ids: Tensor, rows: number): Tensor {
  const backend = getBackend();
  if (getKernel('ScatterNd', backend)) {
    return scatterND(expandDims(ids, 1), rowsGrad, [rows, rowsGrad.shape[1]!]);
  }
  if (getKernel('UnsortedSegmentSum', backend))
    return unsortedSegmentSum(rowsGrad, ids as Tensor1D, rows);
  return matMul(oneHot(ids, rows), rowsGrad as Tensor2D, true, false);
}

/**
 * Looks up rows of an embedding table: `table[ids]`. Differentiable with
 * respect to the table on every backend (see {@link initEmbedding}).
 *
 * `ids` are range-checked on the host (an id outside `[0, rows)` throws a
 * `TfjsBlocksError`); a check that passed is remembered per tensor, so the
 * same ids passed again (a gradient pass after the forward one) read
 * nothing. On WebGPU, ids whose values exist only on the GPU (the output of
 * a GPU op, never read with `data()`) and that were never checked are not
 * range-checked, because a synchronous read there can lose the device: an
 * out-of-range id then looks up a row of zeros, and its gradient is dropped
 * or lands on an unspecified row (WGSL leaves out-of-bounds writes to the
 * implementation).
 *
 * @param ids - int32 `[...]`, values in `[0, rows)`.
 * @returns `[..., dim]`.
 * @example
 * ```ts
 * const x = embed(tokens, tf.tensor2d([[15496, 995]], undefined, 'int32')); // [1, 2, 768]
 * ```
 */
export function embed(params: EmbeddingParams, ids: Tensor): Tensor {
  const fn = 'embed';
  const table = checkFloatTensor<Tensor2D>(fn, 'params.table', params.table, {
    rank: 2,
    layout: '[rows, dim]',
  });
  const [rows, dim] = table.shape;
  checkClassLabels(fn, 'ids', ids, ids instanceof Tensor ? ids.shape : [], rows);
  return tidy(() => {
    const flat = reshape(ids, [-1]);
    const lookup = customGradient<[Tensor]>(([t], save) => {
      save([flat]);
      return {
        value: gather(t, flat),
        gradFunc: (dy, [savedIds]) => scatterRows(dy, savedIds!, rows),
      };
    });
    return reshape(lookup(table), [...ids.shape, dim]);
  });
}

/**
 * Learned position embeddings for positions `offset … offset + length - 1`
 * (rows of the table), e.g. GPT-2's `wpe`.
 *
 * @returns `[length, dim]`, to add to `[batch, length, dim]` token embeddings.
 * @example
 * ```ts
 * const positions = initEmbedding({ rows: 1024, dim: 768 }, 1);
 * const x = tf.add(embed(tokens, ids), positionEmbedding(positions, 16));
 * ```
 */
export function positionEmbedding(
  params: EmbeddingParams,
  length: number,
  options: OffsetOptions = {},
): Tensor2D {
  const fn = 'positionEmbedding';
  checkOptionKeys(fn, options, OFFSET_OPTION_KEYS);
  const table = checkFloatTensor<Tensor2D>(fn, 'params.table', params.table, {
    rank: 2,
    layout: '[maxLength, dim]',
  });
  checkInteger(fn, 'length', length, 1);
  const offset = checkInteger(fn, 'options.offset', options.offset ?? 0, 0);
  if (offset + length > table.shape[0]) {
    throw new TfjsBlocksError(
      fn,
      'length',
      `at most ${table.shape[0] - offset} (the table has ${table.shape[0]} positions, offset ${offset})`,
      String(length),
    );
  }
  return slice(table, [offset, 0], [length, -1]);
}

/**
 * Output projection tied to the token embedding: `x · tableᵀ` gives logits
 * over the vocabulary (GPT-2, Llama with tied embeddings).
 *
 * @param x - `[..., dim]`.
 * @returns `[..., rows]`.
 * @example
 * ```ts
 * const logits = tiedOutputProjection(tokens, hidden); // [batch, time, vocab]
 * ```
 */
export function tiedOutputProjection(params: EmbeddingParams, x: Tensor): Tensor {
  const fn = 'tiedOutputProjection';
  const table = checkFloatTensor<Tensor2D>(fn, 'params.table', params.table, {
    rank: 2,
    layout: '[rows, dim]',
  });
  const input = checkFloatTensor(fn, 'x', x, { layout: '[..., dim]' });
  const [rows, dim] = table.shape;
  if (input.shape[input.rank - 1] !== dim) {
    throw new TfjsBlocksError(
      fn,
      'x',
      `[..., ${dim}] (the table's width)`,
      `shape ${formatShape(input.shape)}`,
    );
  }
  return tidy(() =>
    reshape(matMul(reshape(input, [-1, dim]) as Tensor2D, table, false, true), [
      ...input.shape.slice(0, -1),
      rows,
    ]),
  );
}

/** Parameters of {@link tokenAndPositionEmbedding}. */
export type TokenAndPositionEmbeddingParams = {
  /** `[vocabSize, dim]`. */
  tokens: EmbeddingParams;
  /** `[maxLength, dim]`. */
  positions: EmbeddingParams;
};

/**
 * Creates token and learned position tables (GPT-2's `wte` and `wpe`).
 *
 * @example
 * ```ts
 * const params = initTokenAndPositionEmbedding({ vocabSize: 96, maxLength: 128, dim: 128 }, 0);
 * ```
 */
export function initTokenAndPositionEmbedding(
  config: TokenAndPositionEmbeddingConfig,
  seed: number,
): TokenAndPositionEmbeddingParams {
  const fn = 'initTokenAndPositionEmbedding';
  checkOptionKeys(fn, config, TOKEN_AND_POSITION_CONFIG_KEYS, 'config');
  // Every size is checked before the first table is made, so a bad
  // maxLength cannot leave the token table behind.
  const vocabSize = checkInteger(fn, 'config.vocabSize', config?.vocabSize, 1);
  const maxLength = checkInteger(fn, 'config.maxLength', config.maxLength, 1);
  const dim = checkInteger(fn, 'config.dim', config.dim, 1);
  const [st, sp] = splitSeed(seed, 2) as [number, number];
  return {
    tokens: initEmbedding({ rows: vocabSize, dim }, st),
    positions: initEmbedding({ rows: maxLength, dim, std: 0.01 }, sp),
  };
}

/**
 * Token embeddings plus the learned embeddings of positions
 * `offset … offset + time - 1`.
 *
 * @param ids - int32 `[batch, time]`.
 * @returns `[batch, time, dim]`.
 * @example
 * ```ts
 * const x = tokenAndPositionEmbedding(params, tf.tensor2d([[5, 1, 9]], undefined, 'int32'));
 * ```
 */
export function tokenAndPositionEmbedding(
  params: TokenAndPositionEmbeddingParams,
  ids: Tensor,
  options: OffsetOptions = {},
): Tensor {
  checkOptionKeys('tokenAndPositionEmbedding', options, OFFSET_OPTION_KEYS);
  const time = ids instanceof Tensor && ids.rank === 2 ? ids.shape[1]! : -1;
  if (time < 1) {
    throw new TfjsBlocksError(
      'tokenAndPositionEmbedding',
      'ids',
      'an int32 tensor [batch, time]',
      ids instanceof Tensor ? `shape ${formatShape(ids.shape)}` : String(ids),
    );
  }
  return tidy(() =>
    add(embed(params.tokens, ids), positionEmbedding(params.positions, time, options)),
  );
}
