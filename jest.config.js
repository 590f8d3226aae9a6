/** Tests run the TypeScript sources through ts-jest; CLI tests spawn bin/klisk.js, which needs `npm run build` (pretest does it). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
  testTimeout: 30000,
};
