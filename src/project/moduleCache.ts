/**
 * Before `klisk dev` loads a project again. The loader's jiti runs without a module cache, so the entry
 * and the files it transforms (TypeScript, ESM-syntax `.js`) are evaluated afresh on every load; but the
 * files jiti hands to Node's own require (`.json`, what a file require()s) land in Node's require cache, and
 * a second load would get their old exports. This forgets the project's own files there, never its
 * node_modules (not watched, and reloading them would only cost time and split packages such as zod in two).
 *
 * What jiti hands to Node's import() (`.mjs`, `.cjs` and CommonJS `.js` files reached by an `import`) stays
 * in Node's ESM loader, which has no way to forget a module: esmReload.ts gives them new URLs instead, and
 * where it cannot (Node before 20.6) `needsRestart` names those files so the user is told to restart.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

/** Node's one require cache (the same object whichever require() is asked, under a test runner too). */
const nodeRequireCache = createRequire(__filename).cache;

/** Drops the project's own files from Node's require cache; returns how many. */
export function forgetProjectModules(projectDir: string): number {
  const root = path.resolve(projectDir) + path.sep;
  let forgotten = 0;
  for (const file of Object.keys(nodeRequireCache)) {
    if (!file.startsWith(root) || file.slice(root.length).split(path.sep).includes("node_modules")) continue;
    delete nodeRequireCache[file];
    forgotten++;
  }
  return forgotten;
}

/** Of the changed files (relative to the project), those a reload cannot pick up (see above). */
export function needsRestart(projectDir: string, files: readonly string[]): string[] {
  return files.filter((file) => {
    const ext = path.extname(file);
    if (ext === ".mjs" || ext === ".cjs") return true;
    if (ext !== ".js") return false;
    // jiti transforms a .js file with import/export syntax (fresh each load); a CommonJS one goes to Node.
    const source = readText(path.join(projectDir, file));
    return source !== undefined && !/^\s*(import|export)\b/m.test(source);
  });
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}
