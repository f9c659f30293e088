/* global console, process */
/**
 * The module map of src/: each module with its lines and what it imports (type-only
 * imports included, marked `type`), then every import cycle, or "no cycle".
 *
 *   npm run graph            (or: node scripts/module-graph.mjs [src])
 *
 * It reads import statements as text; `npm run lint` (import-x/no-cycle) is the check CI
 * runs, this is the picture.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(process.argv[2] ?? 'src');
const IMPORT = /^(?:import|export)\s+(type\s+)?[^'"]*?from\s+'(\.{1,2}\/[^']+)\.js';/gm;

/** Every .ts file under `dir`, relative to the root, with `/` separators. */
function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const abs = path.join(dir, e.name);
    if (e.isDirectory()) return files(abs);
    return e.name.endsWith('.ts') ? [path.relative(root, abs).split(path.sep).join('/')] : [];
  });
}

const modules = files(root).sort();
const graph = new Map();
for (const m of modules) {
  const text = readFileSync(path.join(root, m), 'utf8');
  const deps = new Map();
  for (const [, type, spec] of text.matchAll(IMPORT)) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(m), `${spec}.ts`));
    if (deps.get(target) !== 'value') deps.set(target, type ? 'type' : 'value');
  }
  graph.set(m, { lines: text.split('\n').length - 1, deps });
}

for (const [m, { lines, deps }] of graph) {
  const list = [...deps].map(([d, kind]) => (kind === 'type' ? `${d} (type)` : d)).join(', ');
  console.log(`${m.padEnd(26)} ${String(lines).padStart(4)}  → ${list || '(leaf)'}`);
}

// Tarjan's strongly connected components: every one of more than one module is a cycle.
let counter = 0;
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const cycles = [];
function visit(v) {
  index.set(v, counter);
  low.set(v, counter++);
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v)?.deps.keys() ?? []) {
    if (!graph.has(w)) continue;
    if (!index.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) !== index.get(v)) return;
  const component = [];
  let w;
  do {
    w = stack.pop();
    onStack.delete(w);
    component.push(w);
  } while (w !== v);
  if (component.length > 1) cycles.push(component.sort());
}
for (const m of modules) if (!index.has(m)) visit(m);

const largest = [...graph].sort((a, b) => b[1].lines - a[1].lines)[0];
console.log(`\n${modules.length} modules; the largest: ${largest[0]} (${largest[1].lines} lines)`);
if (cycles.length === 0) console.log('no cycle');
for (const c of cycles) console.log(`cycle of ${c.length}: ${c.join(', ')}`);
process.exitCode = cycles.length === 0 ? 0 : 1;
