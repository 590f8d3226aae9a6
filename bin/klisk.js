#!/usr/bin/env node
"use strict";
let cli;
try {
  cli = require("../dist/cli/main.js");
} catch (err) {
  if (err && err.code === "MODULE_NOT_FOUND" && String(err.message).includes("dist/cli/main")) {
    console.error("klisk: dist/ is missing. Run `npm run build` in the klisk package first.");
    process.exit(1);
  }
  throw err;
}
cli.main(process.argv);
