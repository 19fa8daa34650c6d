import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

/** One value exported by an entry module, with where it is defined. */
export interface ExportInfo {
  /** The exported name. */
  name: string;
  /** Repository-relative path of the defining module, e.g. `src/nn/linear.ts`. */
  module: string;
  /** What the name is at runtime. */
  kind: 'function' | 'class' | 'const';
  /** Parameter names of the function, or of the class's constructor. */
  params: string[];
}

const ROOT = join(__dirname, '..', '..');

function parse(path: string): ts.SourceFile {
  return ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
}

function paramNames(params: ts.NodeArray<ts.ParameterDeclaration>): string[] {
  return params.map((p) => (ts.isIdentifier(p.name) ? p.name.text : '{…}'));
}

/** The runtime declaration of `name` in `file` (the implementation of an overloaded function). */
function declaration(file: ts.SourceFile, name: string): Omit<ExportInfo, 'name' | 'module'> {
  let found: Omit<ExportInfo, 'name' | 'module'> | undefined;
  for (const node of file.statements) {
    if (ts.isFunctionDeclaration(node) && node.name?.text === name && node.body) {
      found = { kind: 'function', params: paramNames(node.parameters) };
    } else if (ts.isClassDeclaration(node) && node.name?.text === name) {
      const ctor = node.members.find(ts.isConstructorDeclaration);
      found = { kind: 'class', params: ctor ? paramNames(ctor.parameters) : [] };
    } else if (ts.isVariableStatement(node)) {
      for (const d of node.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && d.name.text === name) found = { kind: 'const', params: [] };
      }
    }
  }
  if (!found) throw new Error(`no runtime declaration of ${name} in ${file.fileName}`);
  return found;
}

/**
 * Every runtime (non-type) export of an entry module such as `src/index.ts`,
 * read from its `export { … } from './…'` lists, with the module that
 * defines it and its parameter names.
 */
export function exportsOf(entry: string): ExportInfo[] {
  const path = join(ROOT, entry);
  const out: ExportInfo[] = [];
  for (const node of parse(path).statements) {
    if (!ts.isExportDeclaration(node) || node.isTypeOnly || !node.moduleSpecifier) continue;
    if (!node.exportClause || !ts.isNamedExports(node.exportClause)) continue;
    const spec = (node.moduleSpecifier as ts.StringLiteral).text;
    const modulePath = join(dirname(path), `${spec}.ts`);
    const file = parse(modulePath);
    for (const element of node.exportClause.elements) {
      if (element.isTypeOnly) continue;
      const original = (element.propertyName ?? element.name).text;
      out.push({
        name: element.name.text,
        module: relative(ROOT, modulePath),
        ...declaration(file, original),
      });
    }
  }
  return out;
}
