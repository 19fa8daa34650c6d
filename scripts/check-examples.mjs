// Checks the API reference against what the README says of it (typedoc JSON,
// docs/api/api.json, written by `npm run docs`): every exported function,
// class and variable has an @example; every interface and type alias has a
// summary (typedoc's notDocumented validation also fails on a missing one);
// and no guide is listed twice (docs/index.md was, as "Guides").
import { readFileSync } from 'node:fs';

const MODULE = 2;
const VARIABLE = 32;
const FUNCTION = 64;
const CLASS = 128;
const INTERFACE = 256;
const TYPE_ALIAS = 2097152;
const project = JSON.parse(readFileSync('docs/api/api.json', 'utf8'));
const hasExample = (comment) => comment?.blockTags?.some((t) => t.tag === '@example') ?? false;
const hasSummary = (comment) =>
  comment?.summary?.some((part) => part.text.trim().length > 0) ?? false;
const problems = [];
// With several entry points (tfjs-blocks, /layers, /node) the exports sit one level down, in modules.
const exports = (project.children ?? []).flatMap((c) =>
  c.kind === MODULE ? (c.children ?? []) : [c],
);
for (const child of exports) {
  if (child.kind === FUNCTION) {
    if (!child.signatures?.some((s) => hasExample(s.comment)))
      problems.push(`${child.name}: no @example`);
  } else if ((child.kind === CLASS || child.kind === VARIABLE) && !hasExample(child.comment)) {
    problems.push(`${child.name}: no @example`);
  } else if (
    (child.kind === INTERFACE || child.kind === TYPE_ALIAS) &&
    !hasSummary(child.comment)
  ) {
    problems.push(`${child.name}: no summary`);
  }
}
const documents = (project.documents ?? []).map((d) => d.name);
const twice = documents.filter((name, i) => documents.indexOf(name) !== i);
if (twice.length > 0) problems.push(`guides listed twice: ${twice.join(', ')}`);
// The README's promise, checked here: keep the two in step.
const promise = 'every function, class and constant with an example, every type with a summary';
if (!readFileSync('README.md', 'utf8').includes(promise))
  problems.push(`README.md no longer says "${promise}": update this check with it`);
if (problems.length > 0) {
  console.error(`API reference:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
const count = (kind) => exports.filter((c) => c.kind === kind).length;
console.log(
  `API reference: ${count(FUNCTION)} functions, ${count(CLASS)} classes and ${count(VARIABLE)} constants, each with an @example; ` +
    `${count(INTERFACE) + count(TYPE_ALIAS)} interfaces and type aliases, each with a summary; ${documents.length} guides`,
);
