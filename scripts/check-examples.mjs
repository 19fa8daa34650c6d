// Fails unless every exported function and class in the typedoc JSON
// (docs/api/api.json, written by `npm run docs`) has an @example.
import { readFileSync } from 'node:fs';

const MODULE = 2;
const FUNCTION = 64;
const CLASS = 128;
const project = JSON.parse(readFileSync('docs/api/api.json', 'utf8'));
const hasExample = (comment) => comment?.blockTags?.some((t) => t.tag === '@example') ?? false;
const missing = [];
// With several entry points (tfjs-blocks, /layers, /node) the exports sit one level down, in modules.
const exports = (project.children ?? []).flatMap((c) =>
  c.kind === MODULE ? (c.children ?? []) : [c],
);
for (const child of exports) {
  if (child.kind === FUNCTION) {
    if (!child.signatures?.some((s) => hasExample(s.comment))) missing.push(child.name);
  } else if (child.kind === CLASS && !hasExample(child.comment)) {
    missing.push(child.name);
  }
}
if (missing.length > 0) {
  console.error(`exports without an @example: ${missing.join(', ')}`);
  process.exit(1);
}
console.log(`every exported function and class has an @example (${exports.length} exports)`);
