#!/usr/bin/env node
"use strict";
// First, before anything requires zod: its ~60 unused locales then load on demand (bin/zodLocales.js).
require("./zodLocales.js").deferZodLocales();
// And before Express loads: its body and extended-query parsers, which klisk does not use, load on first use.
require("./deferExpressParsers.js").deferExpressParsers();
let cli;
try {
  cli = require("../dist/cli/main.js");
} catch (err) {
  if (err && err.code === "MODULE_NOT_FOUND" && /dist\/cli\/main/.test(String(err.message))) {
    console.error("klisk: dist/ is missing. Run `npm run build` in the klisk package first.");
    process.exit(1);
  }
  throw err;
}
cli.main(process.argv);
