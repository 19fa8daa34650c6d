// Training progress drawn from inside the training loop. A synchronous loop
// (optimizer.minimize, dataSync) never lets a timer run, so cli-progress's
// own redraw timer fired only when the demo awaited its sampling, every ~50 s,
// and its ETA read 0s until then. The loop calls `step` after every step
// instead; it draws when a quarter of a second has passed (on its own clock, which the
// test replaces) and computes the speed and the ETA itself.

/** What a draw shows. */
export type Progress = {
  /** Steps done. */
  value: number;
  total: number;
  /** Seconds since the reporter was made. */
  elapsedSeconds: number;
  /** Seconds left at the mean speed so far; undefined before the first step. */
  etaSeconds: number | undefined;
};

/** Options of {@link ProgressReporter}. */
export type ProgressOptions = {
  /** Steps in the run. */
  total: number;
  /** Draws the progress (e.g. updates and redraws a cli-progress bar). */
  draw: (progress: Progress) => void;
  /** Milliseconds from one draw to the next at least. Default 250: with steps under 0.75 s, a draw every second or more often. */
  intervalMs?: number;
  /** Milliseconds from any origin. Default `performance.now`. */
  now?: () => number;
};

/** Calls `draw` from the loop: on the first step, then when `intervalMs` has passed, and on the last. */
export class ProgressReporter {
  private readonly started: number;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;
  private readonly intervalMs: number;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? (() => performance.now());
    this.intervalMs = options.intervalMs ?? 250;
    this.started = this.now();
  }

  /** The progress after `value` steps, at the current time. */
  progress(value: number): Progress {
    const elapsedSeconds = (this.now() - this.started) / 1000;
    const etaSeconds =
      value > 0 && elapsedSeconds > 0
        ? ((this.options.total - value) * elapsedSeconds) / value
        : undefined;
    return { value, total: this.options.total, elapsedSeconds, etaSeconds };
  }

  /** After each step: draws when due; returns whether it drew. */
  step(value: number): boolean {
    const time = this.now();
    const due = time - this.lastDraw >= this.intervalMs || value >= this.options.total;
    if (!due) return false;
    this.lastDraw = time;
    this.options.draw(this.progress(value));
    return true;
  }
}

/** `75` → `1m 15s`; `undefined` (not measured yet) → `…`. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '…';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}
