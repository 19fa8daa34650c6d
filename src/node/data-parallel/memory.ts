/*
 * The shared memory of data-parallel training (see ./trainer.ts): one
 * gradient slot per worker, one result region, and a control block with a
 * reusable barrier. Workers average gradients among themselves (each sums
 * one segment of the slots, reduce-scatter style), so the main thread never
 * touches a gradient and every replica reads the same averaged bytes.
 */

/** Indices into the control block (an Int32Array over a SharedArrayBuffer). */
export const CONTROL = {
  /** Workers that have reached the current barrier. */
  arrived: 0,
  /** Barrier generation: bumped by the last worker to arrive. */
  generation: 1,
  /** Non-zero once the main thread gives up on the run (a worker died): waiters throw. */
  aborted: 2,
  /**
   * Non-zero when some worker failed this step, so every worker skips the
   * update; two flags (3 and 4), used on alternate steps.
   */
  stepFailed: 3,
  /**
   * First of one flag per worker (`waiting + rank`): 1 while that worker
   * waits at a barrier. When a request times out, the main thread names the
   * workers that are not waiting (the stuck ones) rather than their peers
   * that wait for them.
   */
  waiting: 5,
} as const;

/** Int32 entries of the control block for `workers` workers. */
export function controlLength(workers: number): number {
  return CONTROL.waiting + workers;
}

/** The buffers the main thread allocates once the workers report the parameter count. */
export type SharedBuffers = {
  /** `workers × total` float32: worker w's weighted gradients at `[w · total, (w + 1) · total)`. */
  slots: SharedArrayBuffer;
  /** `total` float32: the averaged gradients (and, at start, rank 0's parameters). */
  result: SharedArrayBuffer;
  /** {@link controlLength} int32. */
  control: SharedArrayBuffer;
};

export function allocateSharedBuffers(workers: number, total: number): SharedBuffers {
  return {
    slots: new SharedArrayBuffer(workers * total * 4),
    result: new SharedArrayBuffer(total * 4),
    control: new SharedArrayBuffer(controlLength(workers) * 4),
  };
}

/** Thrown in a worker waiting at a barrier when the run was aborted. */
export class BarrierAbortedError extends Error {
  constructor() {
    super('data-parallel run aborted while waiting for the other workers');
    this.name = 'BarrierAbortedError';
  }
}

/**
 * Blocks worker `rank` until all `parties` workers have called it for this
 * generation. Waits in slices so that an abort (set by the main thread when a
 * worker dies or times out) is noticed instead of hanging forever; the main
 * thread also terminates the workers, which ends an `Atomics.wait` at once.
 * While it waits, the worker's `waiting` flag is set.
 */
export function barrier(control: Int32Array, parties: number, rank: number, sliceMs = 50): void {
  const generation = Atomics.load(control, CONTROL.generation);
  Atomics.store(control, CONTROL.waiting + rank, 1);
  try {
    if (Atomics.add(control, CONTROL.arrived, 1) === parties - 1) {
      // Reset before bumping: nobody can leave (and arrive again) before the bump.
      Atomics.store(control, CONTROL.arrived, 0);
      Atomics.add(control, CONTROL.generation, 1);
      Atomics.notify(control, CONTROL.generation);
      return;
    }
    while (Atomics.load(control, CONTROL.generation) === generation) {
      if (Atomics.load(control, CONTROL.aborted) !== 0) throw new BarrierAbortedError();
      Atomics.wait(control, CONTROL.generation, generation, sliceMs);
    }
  } finally {
    Atomics.store(control, CONTROL.waiting + rank, 0);
  }
}

/** The `[start, end)` of `rank`'s share when `length` items are split as evenly as possible. */
export function shareOf(length: number, parts: number, rank: number): [number, number] {
  const base = Math.floor(length / parts);
  const extra = length % parts;
  const start = rank * base + Math.min(rank, extra);
  return [start, start + base + (rank < extra ? 1 : 0)];
}

/**
 * Sums worker slots into `result` over `rank`'s segment, in worker order
 * (so the sum, and every replica's update, is the same on every run).
 */
export function reduceSegment(
  slots: Float32Array,
  result: Float32Array,
  workers: number,
  rank: number,
): void {
  const total = result.length;
  const [start, end] = shareOf(total, workers, rank);
  result.set(slots.subarray(start, end), start);
  for (let w = 1; w < workers; w++) {
    const offset = w * total;
    for (let i = start; i < end; i++) result[i] = result[i]! + slots[offset + i]!;
  }
}
