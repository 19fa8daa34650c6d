/**
 * The best mixture of a fixed set of classifiers under fairness constraints,
 * as a linear program (the step fairlearn's `ExponentiatedGradient` runs with
 * scipy's `linprog`; here a small dense simplex, as the problem has one
 * column per kept classifier and two rows per constraint cell):
 *
 *   minimize   Σ_h err_h·q_h + B·s
 *   subject to Σ_h (γ_kh − ε)·q_h − s ≤ 0   for every constraint k
 *              Σ_h q_h = 1,  q ≥ 0,  s ≥ 0
 *
 * Not public: {@link exponentiatedGradient} calls it. Returns the mixture
 * `q` and the constraints' multipliers `lambda` (the LP's dual, ≥ 0).
 */
export function solveMixtureLp(
  errors: readonly number[],
  gammas: readonly (readonly number[])[],
  epsilon: number,
  B: number,
): { q: number[]; lambda: number[] } {
  const H = errors.length;
  const K = gammas[0]!.length;
  const cols = H + 1 + K + 1; // q, s, slacks u, artificial a
  const big = 1e6 * (1 + B);
  const cost = [...errors, B, ...new Array<number>(K).fill(0), big];
  // Rows 0..K-1: the constraints with slack u_k; row K: Σq + a = 1. Last entry: right-hand side.
  const T: number[][] = [];
  for (let k = 0; k < K; k++) {
    const row = new Array<number>(cols + 1).fill(0);
    for (let h = 0; h < H; h++) row[h] = gammas[h]![k]! - epsilon;
    row[H] = -1;
    row[H + 1 + k] = 1;
    T.push(row);
  }
  const eq = new Array<number>(cols + 1).fill(0);
  for (let h = 0; h < H; h++) eq[h] = 1;
  eq[cols - 1] = 1;
  eq[cols] = 1;
  T.push(eq);
  const basis = [...Array.from({ length: K }, (_, k) => H + 1 + k), cols - 1];
  const reduced = () =>
    cost.map((c, j) => c - T.reduce((s, row, i) => s + cost[basis[i]!]! * row[j]!, 0));

  // Bland's rule (lowest index enters and leaves) cannot cycle on these degenerate rows.
  for (let iteration = 0; iteration < 10_000; iteration++) {
    const r = reduced();
    const enter = r.findIndex((v) => v < -1e-12);
    if (enter < 0) break;
    let leave = -1;
    let ratio = Number.POSITIVE_INFINITY;
    T.forEach((row, i) => {
      if (row[enter]! > 1e-12) {
        const v = row[cols]! / row[enter]!;
        if (v < ratio - 1e-15 || (Math.abs(v - ratio) <= 1e-15 && basis[i]! < basis[leave]!)) {
          [ratio, leave] = [v, i];
        }
      }
    });
    if (leave < 0) break; // unbounded cannot happen: every column is bounded by Σq = 1 or the cost B.
    const pivot = T[leave]!;
    const p = pivot[enter]!;
    for (let j = 0; j <= cols; j++) pivot[j]! /= p;
    T.forEach((row, i) => {
      if (i === leave) return;
      const f = row[enter]!;
      if (f !== 0) for (let j = 0; j <= cols; j++) row[j]! -= f * pivot[j]!;
    });
    basis[leave] = enter;
  }
  const x = new Array<number>(cols).fill(0);
  basis.forEach((b, i) => {
    x[b] = Math.max(0, T[i]![cols]!);
  });
  const qSum = x.slice(0, H).reduce((a, b) => a + b, 0);
  const q = x.slice(0, H).map((v) => v / qSum);
  const r = reduced();
  const lambda = Array.from({ length: K }, (_, k) => Math.max(0, r[H + 1 + k]!));
  return { q, lambda };
}
