// Loads the built package the way users do, through its `exports` map, once
// as ESM and once as CommonJS, in fresh Node processes that import only
// `@tensorflow/tfjs-core` and the cpu backend, and takes a gradient through
// attention: tfjs-core's Node entry registers no gradients by itself. Then
// does the same for `tfjs-blocks/node`: a one-layer tfjs-layers model saved
// into a temp dir and loaded back, and a load error that must be the main
// entry's TfjsBlocksError (the two entries share one chunk). Last, data-parallel
// training from a CommonJS main over two workers running an ESM task file
// (inside the package, so that it resolves `tfjs-blocks` to the build).
// Then, from the packed tarball, the README's links and its quickstart (below).
// First, without running anything: every dist file with a top-level side
// effect is declared in package.json `sideEffects`, and every subpath entry
// loads as ESM and CommonJS with the root's own objects.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
// A registration, or an import kept only for its effect (tfjs-layers registers
// tfjs-core's gradients), in a file bundlers may treat as pure would be dropped.
const sideEffect =
  /registerClass\(|^import ['"]@tensorflow\/[^'"]+['"];|^require\(['"]@tensorflow\/[^'"]+['"]\);/m;
const undeclared = readdirSync('dist')
  .filter((f) => /\.c?js$/.test(f) && sideEffect.test(readFileSync(join('dist', f), 'utf8')))
  .filter((f) => !pkg.sideEffects.includes(`./dist/${f}`));
if (undeclared.length > 0)
  throw new Error(`side effects in files package.json calls pure: ${undeclared.join(', ')}`);
console.log(`sideEffects: ${pkg.sideEffects.length} files declared, no side effect elsewhere`);

const subpaths = Object.keys(pkg.exports).filter(
  (k) => !['.', './package.json', './node'].includes(k),
);
const sameObjects = (load) => `
${load}
const names = [];
for (const sub of ${JSON.stringify(subpaths.map((k) => `tfjs-blocks/${k.slice(2)}`))}) {
  const m = await get(sub);
  const keys = Object.keys(m).filter((k) => k !== 'default' && k !== '__esModule');
  const other = keys.filter((k) => m[k] !== root[k] && !sub.endsWith('/layers'));
  if (keys.length === 0 || other.length > 0) throw new Error(sub + ': ' + (other.join() || 'empty'));
  names.push(sub.slice(12) + ' ' + keys.length);
}
console.log('ok: ' + names.join(', '));
`;

const body = (load) => `
${load}
const q = tf.randomNormal([1, 2, 4, 8]);
const g = tf.grad((x) => tf.sum(blocks.scaledDotProductAttention(x, x, x, { causal: true })))(q);
const ok = g.shape.join() === '1,2,4,8' && Number.isFinite(tf.sum(g).dataSync()[0]);
if (!ok) { console.error('gradient check failed'); process.exit(1); }
console.log('ok: ' + blocks.scaledDotProductAttention.name + ' gradient through ' + tf.getBackend());
`;

const esm = body(`
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as blocks from 'tfjs-blocks';
await tf.setBackend('cpu');`);
const cjs = body(`
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const blocks = require('tfjs-blocks');
tf.setBackend('cpu');`);

const nodeBody = (load) => `
${load}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-blocks-check-dist-'));
const main = async () => {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
  await model.save(io.nodeFileSystem(dir));
  const loaded = await tfl.loadLayersModel(io.nodeFileSystem(dir));
  const same = model.getWeights().every((w, i) =>
    w.dataSync().join() === loaded.getWeights()[i].dataSync().join());
  const files = fs.readdirSync(dir).sort().join();
  const error = await io.nodeFileSystem(path.join(dir, 'missing')).load().catch((e) => e);
  fs.rmSync(dir, { recursive: true, force: true });
  if (!same || files !== 'model.json,weights.bin') throw new Error('round trip failed: ' + files);
  if (!(error instanceof blocks.TfjsBlocksError)) throw new Error('not a TfjsBlocksError: ' + error);
  console.log('ok: ' + io.nodeFileSystem.name + ' round trip of ' + model.countParams() + ' params');
};
main().catch((e) => { console.error(e); process.exit(1); });
`;

const nodeEsm = nodeBody(`
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import * as blocks from 'tfjs-blocks';
import * as io from 'tfjs-blocks/node';
await tf.setBackend('cpu');`);
const nodeCjs = nodeBody(`
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tf = require('@tensorflow/tfjs-core');
const tfl = require('@tensorflow/tfjs-layers');
require('@tensorflow/tfjs-backend-cpu');
const blocks = require('tfjs-blocks');
const io = require('tfjs-blocks/node');
tf.setBackend('cpu');`);

// tfjs-blocks/layers: a model of our Layers saved with the node handler and
// loaded back by tf.loadLayersModel, which needs the classes registered.
const layersEsm = `
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { TransformerEncoderBlock } from 'tfjs-blocks/layers';
import { nodeFileSystem } from 'tfjs-blocks/node';
await tf.setBackend('cpu');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-blocks-check-layers-'));
const input = tfl.input({ shape: [5, 8] });
const block = new TransformerEncoderBlock({ numHeads: 2, norm: { kind: 'layer' }, feedForward: { hidden: 16, kind: 'mlp', activation: 'gelu' } });
const model = tfl.model({ inputs: input, outputs: block.apply(input) });
await model.save(nodeFileSystem(dir));
const loaded = await tfl.loadLayersModel(nodeFileSystem(dir));
const x = tf.randomNormal([2, 5, 8]);
const gap = tf.max(tf.abs(tf.sub(model.predict(x), loaded.predict(x)))).dataSync()[0];
fs.rmSync(dir, { recursive: true, force: true });
if (gap !== 0) { console.error('layers round trip differs by ' + gap); process.exit(1); }
console.log('ok: TransformerEncoderBlock saved and reloaded, ' + model.countParams() + ' params');
`;

// The task file lives in a temp folder inside the package (removed after).
const taskDir = mkdtempSync(join(process.cwd(), '.check-dist-'));
const taskFile = join(taskDir, 'task.mjs');
writeFileSync(
  taskFile,
  `
import { adamw, decoderLm, gpt2Config, initDecoderLm, softmaxCrossEntropy } from 'tfjs-blocks';
import { dataParallelTask } from 'tfjs-blocks/node';
const config = gpt2Config({ vocabSize: 12, maxLength: 6, dModel: 8, numLayers: 1, numHeads: 2 });
export default dataParallelTask(() => ({
  params: initDecoderLm(config, 0),
  optimizer: adamw({ learningRate: 1e-2 }),
  loss: (params, batch) => softmaxCrossEntropy(decoderLm(config, params, batch.ids), batch.targets),
}));
`,
);
const parallelCjs = `
const tf = require('@tensorflow/tfjs-core');
const { useBackend } = require('tfjs-blocks');
const { startDataParallel } = require('tfjs-blocks/node');
(async () => {
  await useBackend('wasm');
  const trainer = await startDataParallel(${JSON.stringify(taskFile)}, { workers: 2 });
  const ids = tf.tensor2d(Array.from({ length: 24 }, (_, i) => i % 12), [4, 6], 'int32');
  const losses = [];
  for (let i = 0; i < 4; i++) losses.push(await trainer.step({ ids, targets: ids }));
  const params = await trainer.params();
  await trainer.close();
  if (!(losses[3] < losses[0])) throw new Error('loss did not fall: ' + losses.join());
  console.log('ok: ' + startDataParallel.name + ', 2 workers, loss ' + losses[0].toFixed(3) + ' -> ' + losses[3].toFixed(3) + ', ' + Object.keys(params).length + ' params');
})().catch((e) => { console.error(e); process.exit(1); });
`;

const subpathsEsm = sameObjects(`
const get = (s) => import(s);
const root = await import('tfjs-blocks');`);
const subpathsCjs = sameObjects(`
const get = async (s) => require(s);
const root = require('tfjs-blocks');
(async () => {`).concat('})().catch((e) => { console.error(e); process.exit(1); });');

try {
  for (const [kind, args] of [
    ['ESM subpaths', ['--input-type=module', '-e', subpathsEsm]],
    ['CJS subpaths', ['--input-type=commonjs', '-e', subpathsCjs]],
    ['ESM', ['--input-type=module', '-e', esm]],
    ['CJS', ['--input-type=commonjs', '-e', cjs]],
    ['ESM tfjs-blocks/node', ['--input-type=module', '-e', nodeEsm]],
    ['CJS tfjs-blocks/node', ['--input-type=commonjs', '-e', nodeCjs]],
    ['ESM tfjs-blocks/layers', ['--input-type=module', '-e', layersEsm]],
    ['CJS tfjs-blocks/node data-parallel', ['--input-type=commonjs', '-e', parallelCjs]],
  ]) {
    const out = execFileSync(process.execPath, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const line = out.split('\n').find((l) => l.startsWith('ok:'));
    if (!line) throw new Error(`${kind} import of the built package failed:\n${out}`);
    console.log(`${kind}: ${line}`);
  }
} finally {
  rmSync(taskDir, { recursive: true, force: true });
}

// The tarball as npm would publish it, unpacked into a fresh `npm init -y`
// project (CommonJS, as most first projects are): every relative link of its
// README must resolve inside it (the npm page shows that README), and the
// README's quickstart, saved as `quickstart.mts` as the README says, must run
// with `npx tsx quickstart.mts`. The peer dependencies and tsx come from this
// checkout's node_modules (symlinked): no network.
const project = mkdtempSync(join(tmpdir(), 'tfjs-blocks-first-hour-'));
try {
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', project], { encoding: 'utf8' }),
  );
  execFileSync('npm', ['init', '-y'], { cwd: project, stdio: 'ignore' });
  const installed = join(project, 'node_modules', 'tfjs-blocks');
  mkdirSync(join(installed), { recursive: true });
  execFileSync('tar', [
    '-xzf',
    join(project, packed.filename),
    '-C',
    installed,
    '--strip-components=1',
  ]);

  const readme = readFileSync(join(installed, 'README.md'), 'utf8');
  const links = [...readme.replace(/```[\s\S]*?```/g, '').matchAll(/\]\(([^)\s]+)\)/g)].map(
    (m) => m[1],
  );
  const dead = links
    .filter((t) => !/^[a-z]+:/i.test(t) && !t.startsWith('#'))
    .filter((t) => !existsSync(join(installed, t.split('#')[0])));
  if (dead.length > 0) throw new Error(`README links dead in the tarball: ${dead.join(', ')}`);
  console.log(`tarball README: ${links.length} links, none dead`);

  mkdirSync(join(project, 'node_modules', '.bin'));
  // What `npm install tfjs-blocks` would bring: its dependencies, plus the
  // peers and tsx the README asks for.
  const { dependencies = {} } = JSON.parse(readFileSync('package.json', 'utf8'));
  for (const name of ['@tensorflow', 'tsx', ...Object.keys(dependencies)]) {
    const target = join(project, 'node_modules', name);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(join(process.cwd(), 'node_modules', name), target);
  }
  symlinkSync('../tsx/dist/cli.mjs', join(project, 'node_modules', '.bin', 'tsx'));
  const quickstart = /## Quickstart[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)[1];
  writeFileSync(join(project, 'quickstart.mts'), quickstart);
  const out = execFileSync('npx', ['tsx', 'quickstart.mts'], {
    cwd: project,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (!out.includes('to be or not to be, that is the '))
    throw new Error(`the README quickstart printed:\n${out}`);
  console.log('README quickstart: ran as quickstart.mts in a fresh npm init -y project');

  // A one-line import of a schedule, bundled from the installed package the
  // way a user's esbuild does (exports map, sideEffects), keeps no attention,
  // no Layer and no tfjs-layers code (tfjs stays external: any import of
  // tfjs-layers would bring all of it into a real bundle).
  const shaken = await build({
    stdin: {
      contents:
        "import { warmupCosineDecaySchedule } from 'tfjs-blocks/schedules';\nconsole.log(warmupCosineDecaySchedule);\n",
      resolveDir: project,
    },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    external: ['@tensorflow/*'],
    logLevel: 'silent',
  });
  const text = shaken.outputFiles[0].text;
  const leaked = [
    /function (scaledDotProductAttention|multiHeadAttention)\d*\(/,
    /registerLayer\d*\(|extends (FunctionalLayer|Layer|Callback)\b/,
    /@tensorflow\/tfjs-layers/,
  ].filter((re) => re.test(text));
  if (!/function warmupCosineDecaySchedule\(/.test(text) || leaked.length > 0)
    throw new Error(`tfjs-blocks/schedules bundle keeps ${leaked.join(', ') || 'no schedule'}`);
  console.log(
    `tfjs-blocks/schedules: one schedule bundles to ${text.length} bytes, no attention, Layer or tfjs-layers code`,
  );
} finally {
  rmSync(project, { recursive: true, force: true });
}
