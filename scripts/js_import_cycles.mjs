// Fails (exit 1) when the ES modules under static/js import each other in a cycle,
// or import a name the other module does not export (the browser would refuse the
// whole page); prints each problem. No dependencies: static imports and
// re-exports (`import … from "./x.js"`, `export … from "./x.js"`, `import "./x.js"`)
// are read with a regular expression, which the page's plain modules allow.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(process.argv[2] || join(dirname(fileURLToPath(import.meta.url)), "..", "static", "js"));
const IMPORT = /^\s*(?:import|export)\s+(?:[^"';]*?\s+from\s+)?["'](\.{1,2}\/[^"']+)["']/gm;

function modules(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return modules(path);
    return path.endsWith(".js") || path.endsWith(".mjs") ? [path] : [];
  });
}

const NAMED = /^\s*import\s*\{([^}]*)\}\s*from\s*["'](\.{1,2}\/[^"']+)["']/gm;
const DECLARED = /^\s*export\s+(?:async\s+)?(?:function\*?|const|let|var|class)\s+([A-Za-z_$][\w$]*)/gm;
const LISTED = /^\s*export\s*\{([^}]*)\}/gm;

const graph = new Map();
const sources = new Map();
for (const file of modules(root)) {
  const source = readFileSync(file, "utf8");
  sources.set(file, source);
  graph.set(file, [...source.matchAll(IMPORT)].map((m) => resolve(dirname(file), m[1])));
}

function exportsOf(file) {
  const source = sources.get(file) || "";
  const names = new Set([...source.matchAll(DECLARED)].map((m) => m[1]));
  for (const m of source.matchAll(LISTED)) {
    for (const part of m[1].split(",")) if (part.trim()) names.add(part.trim().split(/\s+as\s+/).pop());
  }
  return names;
}

const missing = [];
for (const [file, source] of sources) {
  for (const m of source.matchAll(NAMED)) {
    const target = resolve(dirname(file), m[2]);
    if (!sources.has(target)) {
      missing.push(`${relative(root, file)}: imports ${m[2]}, which is not there`);
      continue;
    }
    const exported = exportsOf(target);
    for (const part of m[1].split(",")) {
      const name = part.trim().split(/\s+as\s+/)[0];
      if (name && !exported.has(name)) missing.push(`${relative(root, file)}: ${name} is not exported by ${relative(root, target)}`);
    }
  }
}

// depth-first search; a grey node met again closes a cycle
const WHITE = 0, GREY = 1, BLACK = 2;
const colour = new Map([...graph.keys()].map((f) => [f, WHITE]));
const path = [];
const cycles = [];
function visit(file) {
  colour.set(file, GREY);
  path.push(file);
  for (const next of graph.get(file) || []) {
    if (colour.get(next) === GREY) cycles.push([...path.slice(path.indexOf(next)), next]);
    else if (colour.get(next) === WHITE) visit(next);
  }
  path.pop();
  colour.set(file, BLACK);
}
for (const file of graph.keys()) if (colour.get(file) === WHITE) visit(file);

const name = (f) => relative(root, f);
for (const cycle of cycles) console.log(`import cycle: ${cycle.map(name).join(" -> ")}`);
for (const line of missing) console.log(line);
if (cycles.length || missing.length) process.exit(1);
console.log(`no import cycles or missing exports among ${graph.size} modules under ${relative(process.cwd(), root) || "."}`);
