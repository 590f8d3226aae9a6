/**
 * `klisk dev`: fresh copies of the project's files that reach Node's own import() on each reload. jiti
 * transforms TypeScript and ESM-syntax `.js` afresh every load, but hands `.mjs`, `.cjs` and CommonJS `.js`
 * files reached by an `import` to Node's ESM loader, which keeps every module it loaded and has no way to
 * forget one. A module resolve hook (node:module register, Node 20.6+) gives those URLs a
 * `?klisk-reload=<n>` query from the first reload on: a new URL is a new module (a `.cjs` behind it is then
 * read through the require cache, which moduleCache.ts clears). The old copies stay in memory, a few
 * kilobytes a save, for as long as `klisk dev` runs. The counter is shared memory, so the hook (on the
 * loader's own thread) sees a reload's number before that reload's first import.
 */
import nodeModule from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

/** Runs on the loader thread: versions every URL under the project but outside node_modules. */
const HOOKS = `
let generation; let root;
export function initialize(data) { generation = new Int32Array(data.generation); root = data.root; }
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  const n = Atomics.load(generation, 0);
  if (n === 0 || !result.url.startsWith(root) || result.url.includes("/node_modules/")) return result;
  const url = new URL(result.url);
  url.searchParams.set("klisk-reload", String(n));
  return { ...result, url: url.href };
}`;

export interface EsmReload {
  /** Call before each reload: from then on, imports of the project's files load new copies. */
  next(): void;
}

/** Registers the hook for `projectDir`; undefined where node:module has no register (Node before 20.6). */
export function enableEsmReload(projectDir: string): EsmReload | undefined {
  const register = (nodeModule as { register?: typeof nodeModule.register }).register;
  if (typeof register !== "function") return undefined;
  const generation = new Int32Array(new SharedArrayBuffer(4));
  const root = pathToFileURL(path.resolve(projectDir) + path.sep).href;
  register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: { generation: generation.buffer, root } });
  return { next: () => void Atomics.add(generation, 0, 1) };
}
