/** Tests run the TypeScript sources through ts-jest; CLI tests spawn bin/klisk.js, which needs `npm run build` (pretest does it). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }],
    // jose ships ES modules only, and @a2a-js/sdk's CommonJS client requires it (tests/server/a2a.test.ts):
    // Node 20 loads it with require(esm), jest's module system (before Node 24.9) does not, so it is compiled.
    "node_modules/jose/.+\\.js$": ["ts-jest", { tsconfig: { allowJs: true, module: "commonjs", target: "ES2022", isolatedModules: true } }],
    // The OTLP exporters load node:http with import() (tests/server/traces.test.ts), which jest's vm refuses
    // without --experimental-vm-modules: compiled as CommonJS, it becomes a require.
    "node_modules/@opentelemetry/otlp-exporter-base/.+\\.js$": ["ts-jest", { tsconfig: { allowJs: true, module: "commonjs", target: "ES2022", isolatedModules: true } }],
  },
  transformIgnorePatterns: ["/node_modules/(?!jose/|@opentelemetry/otlp-exporter-base/)"],
  testTimeout: 30000,
};
