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
  tensor,
  tidy,
  unsortedSegmentSum,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkDim,
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
import {
  checkQuantizedTensor,
  dequantizeRows,
  isQuantizedTensor,
  type QuantizedTensor,
  quantizedMatMulTransposed,
} from './quantized-weights';

/** Parameters of an embedding: a `[numEmbeddings, embeddingDim]` table (tokens or positions). */
export type EmbeddingParams = {
  /** `[numEmbeddings, embeddingDim]`. */
  table: Tensor2D;
};

/**
 * Configuration of {@link initEmbedding} and of the functions that use its
 * table ({@link embed}, {@link positionEmbedding}, {@link tiedOutputProjection});
 * the names are `torch.nn.Embedding`'s.
 */
export type EmbeddingConfig = {
  /** Number of rows (vocabulary size, or maximum length for positions). */
  numEmbeddings: number;
  /** Embedding width. */
  embeddingDim: number;
  /** Standard deviation of the normal initialisation. Default `0.02` (GPT-2's). */
  std?: number;
};

const EMBEDDING_CONFIG_KEYS = optionKeys<EmbeddingConfig>({
  numEmbeddings: true,
  embeddingDim: true,
  std: true,
});

/** Throws unless `config` is a complete {@link EmbeddingConfig}; returns it with the default. */
function checkEmbeddingConfig(fn: string, config: EmbeddingConfig): Required<EmbeddingConfig> {
  checkOptionKeys(fn, config, EMBEDDING_CONFIG_KEYS, 'config');
  const numEmbeddings = checkInteger(fn, 'config.numEmbeddings', config?.numEmbeddings, 1);
  const embeddingDim = checkInteger(fn, 'config.embeddingDim', config.embeddingDim, 1);
  const std = checkNumber(fn, 'config.std', config.std ?? 0.02, { min: 0 });
  return { numEmbeddings, embeddingDim, std };
}

/**
 * An embedding table as {@link embed}, {@link positionEmbedding} and
 * {@link tiedOutputProjection} take it: float32 `[numEmbeddings, embeddingDim]`,
 * or that matrix quantized (int8 or int4, from `quantizeWeights` /
 * `quantizeParams`), whose rows are read from the codes without a float copy
 * of the table.
 *
 * @example
 * ```ts
 * const table: EmbeddingTable = quantizeWeights(initEmbedding({ numEmbeddings: 96, embeddingDim: 64 }, 0).table);
 * ```
 */
export type EmbeddingTable = Tensor2D | QuantizedTensor;

/**
 * {@link EmbeddingParams} whose table may be quantized (a frozen, QLoRA-style
 * base): no gradient reaches a quantized table.
 *
 * @example
 * ```ts
 * const config = { numEmbeddings: 96, embeddingDim: 64 };
 * const tokens: MaybeQuantizedEmbeddingParams = { table: quantizeWeights(initEmbedding(config, 0).table) };
 * const x = embed(config, tokens, tf.tensor2d([[5, 1, 9]], undefined, 'int32')); // [1, 3, 64]
 * ```
 */
export type MaybeQuantizedEmbeddingParams = {
  /** `[numEmbeddings, embeddingDim]`, float32 or quantized. */
  table: EmbeddingTable;
};

/** Throws unless `params.table` is a float or quantized `[numEmbeddings, embeddingDim]` table of `config`'s shape. */
function checkTable(
  fn: string,
  config: EmbeddingConfig,
  params: MaybeQuantizedEmbeddingParams,
): EmbeddingTable {
  const { numEmbeddings, embeddingDim } = checkEmbeddingConfig(fn, config);
  const table = isQuantizedTensor(params?.table)
    ? checkQuantizedTensor(fn, 'params.table', params.table)
    : checkFloatTensor<Tensor2D>(fn, 'params.table', params?.table, {
        rank: 2,
        layout: '[numEmbeddings, embeddingDim]',
      });
  checkDim(fn, 'params.table.shape[0]', table.shape[0], numEmbeddings, 'config.numEmbeddings');
  checkDim(fn, 'params.table.shape[1]', table.shape[1], embeddingDim, 'config.embeddingDim');
  return table;
}

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
 * Configuration of {@link initTokenAndPositionEmbedding} and {@link tokenAndPositionEmbedding}.
 *
 * @example
 * ```ts
 * const config: TokenAndPositionEmbeddingConfig = { vocabSize: 50257, maxLength: 1024, dModel: 768 };
 * ```
 */
export interface TokenAndPositionEmbeddingConfig {
  /** Rows of the token table. */
  vocabSize: number;
  /** Rows of the position table: the longest sequence. */
  maxLength: number;
  /** Width of both tables (the model's residual width). */
  dModel: number;
}
const TOKEN_AND_POSITION_CONFIG_KEYS = optionKeys<TokenAndPositionEmbeddingConfig>({
  vocabSize: true,
  maxLength: true,
  dModel: true,
});

/**
 * Creates an embedding table drawn from `N(0, std²)`, reproducible from `seed`.
 *
 * @example
 * ```ts
 * const tokens = initEmbedding({ numEmbeddings: 50257, embeddingDim: 768 }, 0);
 * ```
 */
export function initEmbedding(config: EmbeddingConfig, seed: number): EmbeddingParams {
  const { numEmbeddings, embeddingDim, std } = checkEmbeddingConfig('initEmbedding', config);
  return {
    table: randomNormal([numEmbeddings, embeddingDim], 0, std, 'float32', seed) as Tensor2D,
  };
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
 * `ids` are range-checked on the host (an id outside `[0, numEmbeddings)` throws a
 * `TfjsBlocksError`); a check that passed is remembered per tensor, so the
 * same ids passed again (a gradient pass after the forward one) read
 * nothing. On WebGPU, ids whose values exist only on the GPU (the output of
 * a GPU op, never read with `data()`) and that were never checked are not
 * range-checked, because a synchronous read there can lose the device: an
 * out-of-range id then looks up a row of zeros, and its gradient is dropped
 * or lands on an unspecified row (WGSL leaves out-of-bounds writes to the
 * implementation).
 *
 * @param ids - int32 `[...]`, values in `[0, numEmbeddings)`.
 * @returns `[..., embeddingDim]`.
 * @example
 * ```ts
 * const config = { numEmbeddings: 50257, embeddingDim: 768 };
 * const tokens = initEmbedding(config, 0);
 * const x = embed(config, tokens, tf.tensor2d([[15496, 995]], undefined, 'int32')); // [1, 2, 768]
 * ```
 */
export function embed(
  config: EmbeddingConfig,
  params: EmbeddingParams | MaybeQuantizedEmbeddingParams,
  ids: Tensor,
): Tensor {
  const fn = 'embed';
  const table = checkTable(fn, config, params);
  checkClassLabels(fn, 'ids', ids, ids instanceof Tensor ? ids.shape : [], table.shape[0]);
  return embedCore(table, ids);
}

/**
 * {@link embed} without checks: `table` is a validated `[rows, dim]` table
 * and `ids` were range-checked by the caller (a model's entry). A quantized
 * table dequantizes only the gathered rows (the ids are read on the host),
 * and gives no gradient to the table: it is frozen.
 */
export function embedCore(table: EmbeddingTable, ids: Tensor): Tensor {
  const [rows, dim] = table.shape;
  if (isQuantizedTensor(table)) {
    const values = dequantizeRows(table, ids.dataSync());
    return tensor(values, [...ids.shape, dim], 'float32');
  }
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
 * @param length - how many positions (the input of this block).
 * @returns `[length, embeddingDim]`, to add to `[batch, length, embeddingDim]` token embeddings.
 * @example
 * ```ts
 * const config = { numEmbeddings: 1024, embeddingDim: 768 };
 * const positions = initEmbedding(config, 1);
 * const p = positionEmbedding(config, positions, 16, { offset: 4 }); // positions 4 … 19
 * ```
 */
export function positionEmbedding(
  config: EmbeddingConfig,
  params: EmbeddingParams | MaybeQuantizedEmbeddingParams,
  length: number,
  options: OffsetOptions = {},
): Tensor2D {
  const fn = 'positionEmbedding';
  checkOptionKeys(fn, options, OFFSET_OPTION_KEYS);
  const table = checkTable(fn, config, params);
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
  return tableRowsCore(table, offset, length);
}

/**
 * Rows `offset … offset + length - 1` of a validated table, unchecked (the
 * positions of {@link positionEmbedding}); of a quantized table only those
 * rows are dequantized.
 */
export function tableRowsCore(table: EmbeddingTable, offset: number, length: number): Tensor2D {
  if (!isQuantizedTensor(table)) return slice(table, [offset, 0], [length, -1]);
  const ids = Array.from({ length }, (_, i) => offset + i);
  return tensor(dequantizeRows(table, ids), [length, table.shape[1]], 'float32') as Tensor2D;
}

/**
 * Output projection tied to the token embedding: `x · tableᵀ` gives logits
 * over the vocabulary (GPT-2, Llama with tied embeddings).
 *
 * @param x - `[..., embeddingDim]`.
 * @returns `[..., numEmbeddings]`.
 * @example
 * ```ts
 * const config = { numEmbeddings: 96, embeddingDim: 64 };
 * const tokens = initEmbedding(config, 0);
 * const logits = tiedOutputProjection(config, tokens, tf.randomNormal([2, 10, 64])); // [2, 10, 96]
 * ```
 */
export function tiedOutputProjection(
  config: EmbeddingConfig,
  params: EmbeddingParams | MaybeQuantizedEmbeddingParams,
  x: Tensor,
): Tensor {
  const fn = 'tiedOutputProjection';
  const table = checkTable(fn, config, params);
  const input = checkFloatTensor(fn, 'x', x, { layout: '[..., embeddingDim]' });
  const dim = table.shape[1];
  if (input.shape[input.rank - 1] !== dim) {
    throw new TfjsBlocksError(
      fn,
      'x',
      `[..., ${dim}] (the table's width)`,
      `shape ${formatShape(input.shape)}`,
    );
  }
  return tiedOutputProjectionCore(table, input);
}

/**
 * {@link tiedOutputProjection} without checks: `x`'s last axis is the
 * validated table's width. A quantized table runs `quantizedMatMulTransposed`:
 * the gradient reaches `x` (LoRA training through a frozen tied head), not
 * the table.
 */
export function tiedOutputProjectionCore(table: EmbeddingTable, x: Tensor): Tensor {
  const [rows, dim] = table.shape;
  return tidy(() =>
    reshape(
      isQuantizedTensor(table)
        ? quantizedMatMulTransposed(reshape(x, [-1, dim]) as Tensor2D, table)
        : matMul(reshape(x, [-1, dim]) as Tensor2D, table, false, true),
      [...x.shape.slice(0, -1), rows],
    ),
  );
}

/** Parameters of {@link tokenAndPositionEmbedding}. */
export type TokenAndPositionEmbeddingParams = {
  /** `[vocabSize, dModel]`. */
  tokens: EmbeddingParams;
  /** `[maxLength, dModel]`. */
  positions: EmbeddingParams;
};

/**
 * Creates token and learned position tables (GPT-2's `wte` and `wpe`).
 *
 * @example
 * ```ts
 * const params = initTokenAndPositionEmbedding({ vocabSize: 96, maxLength: 128, dModel: 128 }, 0);
 * ```
 */
export function initTokenAndPositionEmbedding(
  config: TokenAndPositionEmbeddingConfig,
  seed: number,
): TokenAndPositionEmbeddingParams {
  // Every size is checked before the first table is made, so a bad
  // maxLength cannot leave the token table behind.
  const { tokens, positions } = tableConfigs('initTokenAndPositionEmbedding', config);
  const [st, sp] = splitSeed(seed, 2) as [number, number];
  return {
    tokens: initEmbedding(tokens, st),
    positions: initEmbedding({ ...positions, std: 0.01 }, sp),
  };
}

/** The two tables' {@link EmbeddingConfig}s of a checked {@link TokenAndPositionEmbeddingConfig}. */
function tableConfigs(
  fn: string,
  config: TokenAndPositionEmbeddingConfig,
): { tokens: EmbeddingConfig; positions: EmbeddingConfig } {
  checkOptionKeys(fn, config, TOKEN_AND_POSITION_CONFIG_KEYS, 'config');
  const vocabSize = checkInteger(fn, 'config.vocabSize', config?.vocabSize, 1);
  const maxLength = checkInteger(fn, 'config.maxLength', config.maxLength, 1);
  const dModel = checkInteger(fn, 'config.dModel', config.dModel, 1);
  return {
    tokens: { numEmbeddings: vocabSize, embeddingDim: dModel },
    positions: { numEmbeddings: maxLength, embeddingDim: dModel },
  };
}

/**
 * Token embeddings plus the learned embeddings of positions
 * `offset … offset + time - 1`.
 *
 * @param ids - int32 `[batch, time]`.
 * @returns `[batch, time, dModel]`.
 * @example
 * ```ts
 * const config = { vocabSize: 96, maxLength: 128, dModel: 128 };
 * const params = initTokenAndPositionEmbedding(config, 0);
 * const x = tokenAndPositionEmbedding(config, params, tf.tensor2d([[5, 1, 9]], undefined, 'int32'));
 * ```
 */
export function tokenAndPositionEmbedding(
  config: TokenAndPositionEmbeddingConfig,
  params: TokenAndPositionEmbeddingParams,
  ids: Tensor,
  options: OffsetOptions = {},
): Tensor {
  checkOptionKeys('tokenAndPositionEmbedding', options, OFFSET_OPTION_KEYS);
  const tables = tableConfigs('tokenAndPositionEmbedding', config);
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
    add(
      embed(tables.tokens, params?.tokens as EmbeddingParams, ids),
      positionEmbedding(tables.positions, params?.positions as EmbeddingParams, time, options),
    ),
  );
}
