// The baseline for bench/training.ts: the same GPT-2-style model (learned
// positions, pre-norm LayerNorm, GELU-tanh MLP of width 4d, biases, tied
// embeddings) written the way a TensorFlow.js user writes it today, without
// this library: tf.variable weights, projections as 2-D `tf.matMul` on the
// flattened tokens (what tf.layers.dense does; a 3-D · 2-D tf.matMul has no
// working gradient in tfjs 4.22), 4-D batched matMul attention with an additive causal mask, one-hot
// embeddings (tf.gather has no gradient on wasm), `tf.losses` and
// `tf.train.adam`.
import * as tf from '@tensorflow/tfjs-core';

/** Sizes of the baseline model. */
export type BaselineGptConfig = {
  vocabSize: number;
  seq: number;
  dModel: number;
  numHeads: number;
  numLayers: number;
};

type Dense = { w: tf.Variable; b: tf.Variable };

function dense(inputs: number, outputs: number): Dense {
  const limit = Math.sqrt(6 / (inputs + outputs));
  return {
    w: tf.variable(tf.randomUniform([inputs, outputs], -limit, limit)),
    b: tf.variable(tf.zeros([outputs])),
  };
}

/** A baseline model and a training step on it. */
export type BaselineGpt = {
  /** One forward + backward + Adam step on `ids` → `targets` (int32 `[batch, seq]`); returns the loss. */
  trainStep(ids: tf.Tensor2D, targets: tf.Tensor2D): number;
  /** Frees the weights and the optimizer. */
  dispose(): void;
};

/** Builds the baseline model and its `tf.train.adam` optimizer. */
export function createBaselineGpt(config: BaselineGptConfig, learningRate = 1e-3): BaselineGpt {
  const { vocabSize, seq, dModel: d, numHeads: heads, numLayers } = config;
  const headDim = d / heads;
  const wte = tf.variable(tf.randomNormal([vocabSize, d], 0, 0.02));
  const wpe = tf.variable(tf.randomNormal([seq, d], 0, 0.01));
  const layers = Array.from({ length: numLayers }, () => ({
    ln1: { g: tf.variable(tf.ones([d])), b: tf.variable(tf.zeros([d])) },
    qkv: dense(d, 3 * d),
    proj: dense(d, d),
    ln2: { g: tf.variable(tf.ones([d])), b: tf.variable(tf.zeros([d])) },
    fc: dense(d, 4 * d),
    out: dense(4 * d, d),
  }));
  const lnF = { g: tf.variable(tf.ones([d])), b: tf.variable(tf.zeros([d])) };
  // -1e9 above the diagonal: the causal mask, added to the scores.
  const mask = tf.keep(
    tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([seq, seq]), -1, 0)), tf.scalar(-1e9)),
  );
  const optimizer = tf.train.adam(learningRate);

  const layerNorm = (x: tf.Tensor, p: { g: tf.Tensor; b: tf.Tensor }) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), p.g), p.b);
  };
  const linear = (x: tf.Tensor, p: Dense) => {
    const flat = tf.reshape(x, [-1, x.shape[x.shape.length - 1]!]) as tf.Tensor2D;
    return tf.reshape(tf.add(tf.matMul(flat, p.w), p.b), [...x.shape.slice(0, -1), p.w.shape[1]!]);
  };
  const gelu = (x: tf.Tensor) =>
    tf.mul(
      tf.mul(0.5, x),
      tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))),
    );
  const splitHeads = (x: tf.Tensor, batch: number) =>
    tf.transpose(tf.reshape(x, [batch, seq, heads, headDim]), [0, 2, 1, 3]);

  const loss = (ids: tf.Tensor2D, targets: tf.Tensor2D) => {
    const batch = ids.shape[0];
    const tokens = tf.matMul(tf.oneHot(tf.reshape(ids, [-1]), vocabSize) as tf.Tensor2D, wte);
    let x = tf.add(tf.reshape(tokens, [batch, seq, d]), wpe) as tf.Tensor;
    for (const layer of layers) {
      const [q, k, v] = tf.split(linear(layerNorm(x, layer.ln1), layer.qkv), 3, -1) as [
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
      ];
      const scores = tf.add(
        tf.mul(
          tf.matMul(splitHeads(q, batch), splitHeads(k, batch), false, true),
          1 / Math.sqrt(headDim),
        ),
        mask,
      );
      const attended = tf.matMul(tf.softmax(scores), splitHeads(v, batch));
      const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [batch, seq, d]);
      x = tf.add(x, linear(merged, layer.proj));
      x = tf.add(x, linear(gelu(linear(layerNorm(x, layer.ln2), layer.fc)), layer.out));
    }
    const h = tf.reshape(layerNorm(x, lnF), [batch * seq, d]) as tf.Tensor2D;
    const logits = tf.matMul(h, wte, false, true);
    return tf.losses.softmaxCrossEntropy(
      tf.oneHot(tf.reshape(targets, [-1]), vocabSize),
      logits,
    ) as tf.Scalar;
  };

  return {
    trainStep(ids, targets) {
      const value = optimizer.minimize(() => loss(ids, targets), true)!;
      const result = value.dataSync()[0]!;
      value.dispose();
      return result;
    },
    dispose() {
      optimizer.dispose();
      tf.dispose([
        wte,
        wpe,
        mask,
        lnF.g,
        lnF.b,
        ...layers.flatMap((l) => [
          l.ln1.g,
          l.ln1.b,
          l.ln2.g,
          l.ln2.b,
          ...[l.qkv, l.proj, l.fc, l.out].flatMap((p) => [p.w, p.b]),
        ]),
      ]);
    },
  };
}

/**
 * GPT-2 greedy decoding written with plain tfjs ops and a KV cache, the way
 * a TensorFlow.js user writes it without this library (bench/decode.ts):
 * the checkpoint's tensors under Hugging Face's names (`transformer.wte.weight`,
 * `transformer.h.0.attn.c_attn.weight` `[d, 3d]`, …; GPT-2's Conv1D weights
 * are already `[in, out]`), 2-D `tf.matMul` projections, 4-D batched matMul
 * attention, keys and values appended with `tf.concat`, the tied head as
 * `tf.matMul(h, wte, false, true)` on the last position only, `tf.argMax`.
 */
export type PlainGpt2Decoder = {
  /** Greedy ids after `prompt`: `newTokens` of them; `onToken` after each. */
  generate(prompt: number[], newTokens: number, onToken?: () => void): number[];
};

/** Sizes of {@link createPlainGpt2Decoder}'s model. */
export type PlainGpt2Sizes = { numLayers: number; numHeads: number; epsilon: number };

/** A plain-tfjs GPT-2 decoder over `weights` (not copied, not disposed). */
export function createPlainGpt2Decoder(
  weights: Record<string, tf.Tensor>,
  sizes: PlainGpt2Sizes,
): PlainGpt2Decoder {
  const w = (name: string) => {
    const t = weights[name];
    if (!t) throw new Error(`missing ${name}`);
    return t;
  };
  const wte = w('transformer.wte.weight') as tf.Tensor2D;
  const wpe = w('transformer.wpe.weight') as tf.Tensor2D;
  const d = wte.shape[1];
  const heads = sizes.numHeads;
  const headDim = d / heads;
  const layerNorm = (x: tf.Tensor2D, prefix: string) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(
      tf.mul(
        tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, sizes.epsilon))),
        w(`${prefix}.weight`),
      ),
      w(`${prefix}.bias`),
    ) as tf.Tensor2D;
  };
  const dense = (x: tf.Tensor2D, prefix: string) =>
    tf.add(tf.matMul(x, w(`${prefix}.weight`) as tf.Tensor2D), w(`${prefix}.bias`)) as tf.Tensor2D;
  const gelu = (x: tf.Tensor) =>
    tf.mul(
      tf.mul(0.5, x),
      tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))),
    );
  // [t, d] -> [1, heads, t, headDim]
  const splitHeads = (x: tf.Tensor2D) =>
    tf.transpose(tf.reshape(x, [1, x.shape[0], heads, headDim]), [0, 2, 1, 3]);

  /** One forward over `ids` at `start`; appends to `cache`; returns the last position's next id. */
  const forward = (ids: number[], start: number, cache: { k: tf.Tensor; v: tf.Tensor }[]) =>
    tf.tidy(() => {
      const t = ids.length;
      let x = tf.add(
        tf.gather(wte, tf.tensor1d(ids, 'int32')),
        tf.slice(wpe, [start, 0], [t, d]),
      ) as tf.Tensor2D;
      // -1e9 where a query at position start + i would see a key after it.
      const total = start + t;
      const mask =
        t === 1
          ? undefined
          : tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([t, total]), -1, start)), tf.scalar(-1e9));
      for (let i = 0; i < sizes.numLayers; i++) {
        const h = `transformer.h.${i}`;
        const [q, k, v] = tf.split(dense(layerNorm(x, `${h}.ln_1`), `${h}.attn.c_attn`), 3, -1) as [
          tf.Tensor2D,
          tf.Tensor2D,
          tf.Tensor2D,
        ];
        const past = cache[i];
        const keys = past ? tf.concat([past.k, splitHeads(k)], 2) : splitHeads(k);
        const values = past ? tf.concat([past.v, splitHeads(v)], 2) : splitHeads(v);
        if (past) tf.dispose([past.k, past.v]);
        cache[i] = { k: tf.keep(keys), v: tf.keep(values) };
        let scores = tf.mul(tf.matMul(splitHeads(q), keys, false, true), 1 / Math.sqrt(headDim));
        if (mask) scores = tf.add(scores, mask);
        const attended = tf.matMul(tf.softmax(scores), values); // [1, heads, t, headDim]
        const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [t, d]) as tf.Tensor2D;
        x = tf.add(x, dense(merged, `${h}.attn.c_proj`)) as tf.Tensor2D;
        const up = gelu(dense(layerNorm(x, `${h}.ln_2`), `${h}.mlp.c_fc`)) as tf.Tensor2D;
        x = tf.add(x, dense(up, `${h}.mlp.c_proj`)) as tf.Tensor2D;
      }
      const last = layerNorm(tf.slice(x, [t - 1, 0], [1, d]), 'transformer.ln_f');
      return tf.argMax(tf.matMul(last, wte, false, true), -1);
    });

  return {
    generate(prompt, newTokens, onToken) {
      const cache: { k: tf.Tensor; v: tf.Tensor }[] = [];
      const out: number[] = [];
      try {
        let ids = prompt;
        let start = 0;
        for (let n = 0; n < newTokens; n++) {
          const next = forward(ids, start, cache);
          const id = next.dataSync()[0]!;
          next.dispose();
          out.push(id);
          onToken?.();
          start += ids.length;
          ids = [id];
        }
      } finally {
        tf.dispose(cache.flatMap((c) => [c.k, c.v]));
      }
      return out;
    },
  };
}
