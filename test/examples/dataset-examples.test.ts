import { describe, it } from 'vitest';
import { runScriptToCompletion } from '../helpers/child-process';

// The dataset examples, run as users run them (a child `node --import tsx`)
// with tiny settings (about 20 s of CPU each on cpu, less on wasm). Each
// example exits non-zero unless its held-out score beats a trivial baseline
// by the given margin, so these fail when training stops learning, not only
// when a script crashes. Seeds are fixed: a run is deterministic per backend.
const runs: Array<{ name: string; script: string; args: string[] }> = [
  {
    name: 'spam classifier (encoderClassifier) beats the majority class',
    script: 'examples/spam-classifier.ts',
    // 300 messages (60 held out), 100-word vocabulary, one block of width 32.
    args: '--examples 300 --steps 12 --length 32 --batch 32 --vocab 100 --layers 1 --dim 32 --margin 0.05'.split(
      ' ',
    ),
  },
  {
    name: 'g2p (encoderDecoder, greedy generate) beats the most frequent phoneme',
    script: 'examples/g2p.ts',
    // Too short to spell whole words: the check is the teacher-forced
    // next-phoneme accuracy on 100 held-out words against always guessing the
    // most frequent phoneme (greedy decoding and the word scores still run).
    args: '--steps 20 --batch 32 --test 100 --layers 1 --dim 32 --lr 1e-2 --check next --margin 0.02'.split(
      ' ',
    ),
  },
  {
    name: 'vit shapes beats chance',
    script: 'examples/vit-shapes.ts',
    args: '--steps 80 --batch 32 --test 200 --layers 1 --dim 16 --margin 0.1'.split(' '),
  },
];

describe('dataset examples', () => {
  for (const backend of ['cpu', 'wasm']) {
    for (const { name, script, args } of runs) {
      it(`${name} on ${backend}`, async () => {
        await runScriptToCompletion(script, ['--backend', backend, ...args], process.cwd());
      }, 120_000);
    }
  }
});
