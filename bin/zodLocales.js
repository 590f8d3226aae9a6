"use strict";
/**
 * zod's classic entry (`import { z } from "zod"`) requires all ~60 of its locale modules up front so that
 * `z.locales.fr` and the rest exist, though only English is used unless a project calls
 * `z.config(z.locales.xx())`. Every command but --version and --help loads zod (the SDK re-exports it), and
 * those locales are ~15-20 ms of a `klisk serve` cold start (`npm run bench:startup` shows the modules loaded).
 *
 * deferZodLocales() puts a stand-in for zod's locales index into Node's require cache: the same exports,
 * as getters that require each locale the first time it is read. It bails out (zod then loads as usual)
 * unless the index file is exactly the list of re-exports it expects. bin/klisk.js calls it first, before
 * anything requires zod.
 */
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");

/** One line pair of zod's compiled index: `var fr_js_1 = require("./fr.cjs");` `Object.defineProperty(exports, "fr", …`. */
const REEXPORT = /var \w+ = require\("\.\/([\w-]+)\.cjs"\);\s*Object\.defineProperty\(exports, "(\w+)"/g;

function deferZodLocales() {
  try {
    const index = path.join(path.dirname(require.resolve("zod/package.json")), "v4", "locales", "index.cjs");
    if (require.cache[index]) return; // zod is loaded already
    const source = fs.readFileSync(index, "utf8");
    const locales = [...source.matchAll(REEXPORT)].map(([, file, name]) => ({ name, file: path.join(path.dirname(index), `${file}.cjs`) }));
    // Every require in the file must be one of those re-exports: anything else, and we do not know what we would skip.
    if (locales.length === 0 || locales.length !== source.split("require(").length - 1) return;

    const standIn = new Module(index, module);
    standIn.filename = index;
    standIn.loaded = true;
    Object.defineProperty(standIn.exports, "__esModule", { value: true });
    for (const { name, file } of locales) {
      Object.defineProperty(standIn.exports, name, {
        enumerable: true,
        get: () => {
          const locale = require(file);
          return locale.__esModule ? locale.default : locale;
        },
      });
    }
    require.cache[index] = standIn;
  } catch {
    // zod moved or is missing: it loads (or fails) as usual
  }
}

module.exports = { deferZodLocales };
