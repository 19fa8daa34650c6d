// `npm run test:mutation`: mutation testing of the numeric core (issue 22).
//
//   npm run test:mutation                         # every module: Stryker, then the tensor mutations
//   npm run test:mutation -- schedules losses     # some modules (names below)
//   npm run test:mutation -- --mutate 'src/schedules/**/*.ts'   # one module, by its files
//   npm run test:mutation -- --stryker            # Stryker only
//   npm run test:mutation -- --tensor             # hand-written tensor mutations only
//   npm run test:mutation -- --incremental        # reuse the last run's results where nothing changed
//
// Each module is mutated against its own tests only (test/<module>/), so a
// mutant counts as killed only when the module's dedicated tests notice it.
// Reports: reports/mutation/<module>.html and .json, and summary.json with
// the figures docs/reliability.md records. A mutant is "message-only" when it
// lies wholly inside text that only reaches an error message: the
// expected/actual arguments of `new TfjsBlocksError(...)`, the descriptive
// string arguments of the check* helpers and their `layout`/`expected`
// options (or an options object of nothing else),
// and the `const fn = '<name>'` that names the function in messages. The
// second score leaves those out; the argument names (the error's `argument`
// field, which tests assert) are not left out.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import ts from 'typescript';
import { runTensorMutations } from './tensor-mutations.mjs';

/** The modules of issue 22: the files Stryker mutates and the tests that must kill the mutants. */
export const MODULES = {
  schedules: { mutate: ['src/schedules/**/*.ts'], tests: ['test/schedules/**/*.test.ts'] },
  losses: { mutate: ['src/losses/**/*.ts'], tests: ['test/losses/**/*.test.ts'] },
  'losses-core': {
    mutate: ['src/losses/softmax-cross-entropy.ts', 'src/losses/reduction.ts'],
    tests: ['test/losses/**/*.test.ts'],
  },
  optim: { mutate: ['src/optim/**/*.ts'], tests: ['test/optim/**/*.test.ts'] },
  'optim-clip-adam': {
    mutate: ['src/optim/transforms/clip.ts', 'src/optim/transforms/scale-by-adam.ts'],
    tests: ['test/optim/**/*.test.ts'],
  },
  attention: { mutate: ['src/attention/**/*.ts'], tests: ['test/attention/**/*.test.ts'] },
  nn: {
    // quantized-simd-module.ts is generated base64 bytes, checked by a test against its generator.
    mutate: ['src/nn/**/*.ts', '!src/nn/quantized-simd-module.ts'],
    tests: ['test/nn/**/*.test.ts'],
  },
  'logits-processors': {
    mutate: ['src/generate/logits-processors.ts'],
    tests: ['test/generate/processors.test.ts', 'test/generate/hf-processors.test.ts'],
  },
  'privacy-accountant': {
    mutate: ['src/responsible/privacy-accountant.ts'],
    tests: ['test/responsible/privacy-accountant.test.ts'],
    // Its tests take under a second, and many of its mutants (a series' loop
    // bound or step) never end: the config's 60 s timeout made each of those
    // cost a minute, about 2.5 hours for the file.
    timeoutMS: 5_000,
  },
};

/** The modules `npm run test:mutation` runs when none is named (the sub-slices above are inside these). */
const DEFAULT_MODULES = [
  'schedules',
  'losses',
  'optim',
  'attention',
  'nn',
  'logits-processors',
  'privacy-accountant',
];

function parseArgs(argv) {
  const args = { modules: [], mutate: [], stryker: false, tensor: false, incremental: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--mutate' || a === '-m') args.mutate.push(...argv[++i].split(','));
    else if (a === '--stryker') args.stryker = true;
    else if (a === '--tensor') args.tensor = true;
    else if (a === '--incremental') args.incremental = true;
    else if (a in MODULES) args.modules.push(a);
    else throw new Error(`unknown argument ${a}; modules: ${Object.keys(MODULES).join(', ')}`);
  }
  if (!args.stryker && !args.tensor) args.stryker = args.tensor = true;
  return args;
}

/** The module whose files `pattern` names: the one whose first folder or file it starts with. */
function moduleOf(pattern) {
  const plain = pattern.replace(/^!/, '');
  for (const [name, m] of Object.entries(MODULES)) {
    const root = m.mutate[0].replace(/\*.*$/, '');
    if (plain.startsWith(root) || root.startsWith(plain.replace(/\*.*$/, ''))) return name;
  }
  throw new Error(
    `--mutate ${pattern}: not inside any module (${Object.keys(MODULES).join(', ')})`,
  );
}

/** [start, end) offsets of the text in `source` that only reaches error messages. */
export function messageRanges(fileName, source) {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const ranges = [];
  const add = (node) => ranges.push([node.getStart(sf), node.getEnd()]);
  const isText = (n) => ts.isStringLiteral(n) || ts.isTemplateLiteral(n);
  const visit = (node) => {
    if (
      ts.isNewExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'TfjsBlocksError'
    ) {
      for (const arg of (node.arguments ?? []).slice(2)) add(arg);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const name = ts.isIdentifier(callee)
        ? callee.text
        : ts.isPropertyAccessExpression(callee)
          ? callee.name.text
          : '';
      if (/^check[A-Z]/.test(name)) {
        for (const arg of node.arguments.slice(2)) {
          if (isText(arg)) add(arg);
          else if (ts.isObjectLiteralExpression(arg)) {
            const textOnly = (p) =>
              ts.isPropertyAssignment(p) &&
              ts.isIdentifier(p.name) &&
              ['layout', 'expected'].includes(p.name.text);
            for (const p of arg.properties) if (textOnly(p)) add(p.initializer);
            // `{ layout: '...' }` alone: emptying it changes only the message.
            if (arg.properties.length > 0 && arg.properties.every(textOnly)) add(arg);
          }
        }
      }
    } else if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.name.text === 'fn' &&
      node.initializer &&
      isText(node.initializer)
    ) {
      add(node.initializer);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return ranges;
}

/** Offset of a 1-based {line, column} position in `source`. */
function offsetOf(lineStarts, { line, column }) {
  return lineStarts[line - 1] + column - 1;
}

const SCORED = new Set(['Killed', 'Timeout', 'Survived', 'NoCoverage']);
const DETECTED = new Set(['Killed', 'Timeout']);

function tally(mutants) {
  const t = { mutants: 0, killed: 0, survived: 0, noCoverage: 0 };
  for (const m of mutants) {
    if (!SCORED.has(m.status)) continue;
    t.mutants++;
    if (DETECTED.has(m.status)) t.killed++;
    else if (m.status === 'Survived') t.survived++;
    else t.noCoverage++;
  }
  t.score = t.mutants === 0 ? 100 : (100 * t.killed) / t.mutants;
  return t;
}

/** Scores a Stryker JSON report, with and without the message-only mutants; lists the survivors. */
export function scoreReport(report) {
  const all = [];
  const withoutMessages = [];
  const survivors = [];
  for (const [file, { source, mutants }] of Object.entries(report.files)) {
    const lineStarts = [0];
    for (let i = 0; i < source.length; i++) if (source[i] === '\n') lineStarts.push(i + 1);
    const ranges = messageRanges(file, source);
    for (const m of mutants) {
      const start = offsetOf(lineStarts, m.location.start);
      const end = offsetOf(lineStarts, m.location.end);
      const message = ranges.some(([a, b]) => a <= start && end <= b);
      all.push(m);
      if (message) continue;
      withoutMessages.push(m);
      if (m.status === 'Survived' || m.status === 'NoCoverage') {
        survivors.push(
          `${file}:${m.location.start.line}:${m.location.start.column} ${m.status} ${m.mutatorName}: ${JSON.stringify(m.replacement ?? '')}`,
        );
      }
    }
  }
  const a = tally(all);
  const b = tally(withoutMessages);
  return { ...a, messageOnly: a.mutants - b.mutants, scoreWithoutMessages: b.score, survivors };
}

async function runStryker(name, { mutate, tests, timeoutMS }, incremental) {
  const { Stryker } = await import('@stryker-mutator/core');
  const json = `reports/mutation/${name}.json`;
  const started = performance.now();
  await new Stryker({
    configFile: 'stryker.config.mjs',
    mutate: [...mutate, '!src/**/index.ts'],
    testFiles: tests,
    jsonReporter: { fileName: json },
    htmlReporter: { fileName: `reports/mutation/${name}.html` },
    incremental,
    incrementalFile: `reports/mutation/${name}.incremental.json`,
    ...(timeoutMS === undefined ? {} : { timeoutMS }),
  }).runMutationTest();
  const seconds = Math.round((performance.now() - started) / 1000);
  return { module: name, mutate, seconds, ...scoreReport(JSON.parse(readFileSync(json, 'utf8'))) };
}

function printSummary(rows) {
  console.log(
    '\n| module | mutants scored | killed + timeout | survived | no coverage | score | message-only | score without them | run time |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.mutate.join(' + ')} | ${r.mutants} | ${r.killed} | ${r.survived} | ${r.noCoverage} | ${r.score.toFixed(1)}% | ${r.messageOnly} | ${r.scoreWithoutMessages.toFixed(1)}% | ${r.seconds} s |`,
    );
  }
  for (const r of rows) {
    if (r.survivors.length === 0) continue;
    console.log(`\nSurvivors (not message-only) in ${r.module}:`);
    for (const s of r.survivors) console.log(`  ${s}`);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const selected = new Map();
  for (const name of args.modules) selected.set(name, MODULES[name]);
  if (args.mutate.length > 0) {
    const name = moduleOf(args.mutate.find((p) => !p.startsWith('!')) ?? args.mutate[0]);
    selected.set(`${name}-custom`, { ...MODULES[name], mutate: args.mutate });
  }
  if (selected.size === 0) for (const name of DEFAULT_MODULES) selected.set(name, MODULES[name]);
  mkdirSync('reports/mutation', { recursive: true });
  let failed = false;
  if (args.stryker) {
    const rows = [];
    for (const [name, module] of selected)
      rows.push(await runStryker(name, module, args.incremental));
    printSummary(rows);
    // Keeps the other modules' last figures: one file with the latest run of each.
    const summaryFile = 'reports/mutation/summary.json';
    const previous = existsSync(summaryFile) ? JSON.parse(readFileSync(summaryFile, 'utf8')) : [];
    const merged = [...previous.filter((p) => !rows.some((r) => r.module === p.module)), ...rows];
    writeFileSync(summaryFile, `${JSON.stringify(merged, null, 2)}\n`);
  }
  if (args.tensor) {
    const modules = [...selected.keys()].map((n) => n.replace(/-custom$/, ''));
    failed = !(await runTensorMutations(modules));
  }
  process.exitCode = failed ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
