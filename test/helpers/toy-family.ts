import * as tf from '@tensorflow/tfjs-core';
import type { PretrainedFamily, TensorRule } from '../../src/pretrained/families/family';

/** A test-only family: an embedding, per layer a torch-layout Linear and a fused vector split in two. */
export type ToyConfig = { rows: number; cols: number; layers: number };

export const toyFamily: PretrainedFamily<ToyConfig> = {
  modelTypes: ['toy'],
  kind: 'decoder-lm',
  architecture: 'ToyForCausalLM',
  fromConfigJson: (read) => ({
    rows: read.integer('vocab_size', undefined, 1),
    cols: read.integer('hidden_size', undefined, 1),
    layers: read.integer('num_hidden_layers', undefined, 0),
  }),
  toConfigJson: (c) => ({ vocab_size: c.rows, hidden_size: c.cols, num_hidden_layers: c.layers }),
  tensors(c) {
    const rules: TensorRule[] = [
      {
        name: 'embed.weight',
        shape: [c.rows, c.cols],
        paths: [['tokenEmbedding', 'table']],
        load: (t) => [tf.clone(t)],
        save: ([t]) => tf.clone(t!),
      },
    ];
    for (let i = 0; i < c.layers; i++) {
      rules.push(
        {
          name: `layers.${i}.proj.weight`,
          shape: [c.cols, c.rows],
          paths: [['blocks', String(i), 'proj', 'kernel']],
          load: (t) => [tf.transpose(t)],
          save: ([t]) => tf.transpose(t!),
        },
        {
          name: `layers.${i}.fused.weight`,
          shape: [2 * c.cols],
          paths: [
            ['blocks', String(i), 'a'],
            ['blocks', String(i), 'b'],
          ],
          load: (t) => tf.split(t, 2),
          save: (ts) => tf.concat(ts),
        },
      );
    }
    return rules;
  },
  isBuffer: (name) => /^layers\.\d+\.attn\.bias$/.test(name),
};

/** A toy checkpoint's tensors by HF name, with values 0, 1, 2, … per tensor. */
export function toyCheckpoint(c: ToyConfig): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const rule of toyFamily.tensors(c)) {
    const size = rule.shape.reduce((a, b) => a * b, 1);
    out[rule.name] = tf.tensor(
      Float32Array.from({ length: size }, (_, k) => k + rule.name.length / 100),
      rule.shape,
    );
  }
  return out;
}

/** safetensors bytes from raw entries (any dtype), in the order given. */
export function rawSafetensors(
  entries: { name: string; dtype: string; shape: number[]; data: Uint8Array }[],
): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const e of entries) {
    header[e.name] = {
      dtype: e.dtype,
      shape: e.shape,
      data_offsets: [offset, offset + e.data.byteLength],
    };
    offset += e.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let at = 8 + json.byteLength;
  for (const e of entries) {
    out.set(e.data, at);
    at += e.data.byteLength;
  }
  return out;
}
