import { describe, expect, it } from 'vitest';
import { runScriptToCompletion } from '../helpers/child-process';

// `npm run example:fairness` with tiny settings: it loads the corpus, derives
// the groups, trains the plain model and each mitigation, and prints the
// table with bootstrap intervals; it exits non-zero unless the plain model
// beats the majority class. The full run's table is in docs/responsible-ai.md.
describe('fairness example', () => {
  it('prints the before/after table with intervals on cpu', async () => {
    const output = await runScriptToCompletion(
      'examples/fairness.ts',
      '--backend cpu --examples 800 --vocab 200 --steps 40 --boot 20'.split(' '),
      process.cwd(),
    );
    expect(output).toMatch(/groups \(held out\): female \d+ \(\d+% spam\), male \d+/);
    expect(output).toMatch(/^\| none \(plain model\) \| [\d.]+% \[[\d.]+%, [\d.]+%\] \| — \|/m);
    expect(output).not.toMatch(/NaN/);
  }, 180_000);
});
