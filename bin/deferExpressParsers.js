"use strict";
/**
 * Express 5 loads, when it is required, two kinds of parsers that klisk never calls: body-parser (for
 * `express.json()` and its siblings; klisk reads bodies itself in server/jsonBody.ts) and qs (for the
 * "extended" query parser; klisk keeps Express's default "simple" one). Both load their whole trees up front
 * (qs with side-channel and get-intrinsic): ~25 ms of a `klisk serve` cold start (`npm run bench:startup`).
 *
 * deferExpressParsers() puts stand-ins for the body-parser and qs that Express resolves into Node's require
 * cache: the same exports, which compile the real module the first time they are used and hand over to it.
 * body-parser's are functions (Express reads `bodyParser.json` when it loads, and calls it later); qs's are
 * getters. Each bails out (the module then loads as usual) unless its index file is exactly the list of
 * requires it expects. bin/klisk.js calls it before anything requires Express; a project's own
 * `configureServer(app)` that uses `express.json()` or extended queries gets the real parsers then.
 */
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");

function deferExpressParsers() {
  let expressDir;
  try {
    expressDir = path.dirname(require.resolve("express/package.json"));
  } catch {
    return; // no Express here: nothing to defer
  }
  deferModule(expressDir, "body-parser", /require\('\.\/lib\/types\/(\w+)'\)/g, ["json", "raw", "text", "urlencoded"], "functions");
  deferModule(expressDir, "qs", /require\('\.\/(\w+)'\)/g, ["stringify", "parse", "formats"], "getters");
}

/**
 * A stand-in for `name` as resolved from `fromDir`, if its index requires exactly `expected` (matched by
 * `requirePattern`, in order) and nothing else. `functions`: the module itself and each export are
 * functions that call the real ones; `getters`: each export is a getter that returns the real one.
 */
function deferModule(fromDir, name, requirePattern, expected, kind) {
  try {
    const index = require.resolve(name, { paths: [fromDir] });
    if (require.cache[index]) return; // loaded already
    const source = fs.readFileSync(index, "utf8");
    const requires = [...source.matchAll(requirePattern)].map(([, file]) => file);
    // Every require in the file must be one we expect: anything else, and we do not know what we would skip.
    if (requires.join() !== expected.join() || source.split("require(").length - 1 !== expected.length) return;

    let real;
    const load = () => {
      if (!real) {
        const compiled = new Module(index, module);
        compiled.filename = index;
        compiled.paths = Module._nodeModulePaths(path.dirname(index));
        compiled._compile(source, index);
        compiled.loaded = true;
        real = compiled.exports;
      }
      return real;
    };

    const standIn = new Module(index, module);
    standIn.filename = index;
    standIn.loaded = true;
    if (kind === "functions") {
      standIn.exports = function (...args) {
        return load().apply(this, args);
      };
      for (const member of expected) {
        standIn.exports[member] = function (...args) {
          return load()[member].apply(this, args);
        };
        Object.defineProperty(standIn.exports[member], "name", { value: member });
      }
    } else {
      standIn.exports = {};
      for (const member of expected) {
        Object.defineProperty(standIn.exports, member, { enumerable: true, get: () => load()[member] });
      }
    }
    require.cache[index] = standIn;
  } catch {
    // moved or missing: it loads (or fails) as usual
  }
}

module.exports = { deferExpressParsers };
