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
