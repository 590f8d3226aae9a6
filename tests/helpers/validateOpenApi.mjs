// Validates the OpenAPI document on stdin with @seriousme/openapi-schema-validator and prints its verdict as
// JSON. A separate process because the validator ships ES modules only, which jest's module system does not
// load (tests/server/openapi.test.ts runs it with execFileSync).
import { Validator } from "@seriousme/openapi-schema-validator";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const validator = new Validator();
const result = await validator.validate(JSON.parse(input));
process.stdout.write(JSON.stringify({ valid: result.valid, version: validator.version, errors: result.errors ?? null }));
