/** `tool()`: a user function the model can call, with its arguments validated before `execute` runs. */
import { z } from "zod";
import { UserError } from "../errors";
import { unknownOptionWarnings } from "./suggest";

export interface ToolContext {
  /** Aborted when the client goes away, cancels, or the server shuts down. */
  signal: AbortSignal;
  /** The agent whose model called the tool. */
  agentName: string;
  /** The model's id for this call. */
  callId: string;
  log: (message: string) => void;
}

export type JsonSchema = Record<string, unknown>;

export interface ToolOptions<Args> {
  name: string;
  description?: string;
  /** A zod schema (preferred: typed args) or a plain JSON Schema object. */
  parameters?: z.ZodType<Args> | JsonSchema;
  execute: (args: Args, ctx: ToolContext) => unknown | Promise<unknown>;
  /** "error" (default) ends the run with an error event; "return" sends the error text back to the model. */
  onError?: "error" | "return";
}

export interface Tool<Args = any> {
  readonly kind: "function";
  readonly name: string;
  readonly description: string;
  /** The JSON Schema sent to the model. */
  readonly jsonSchema: JsonSchema;
  readonly onError: "error" | "return";
  /** Parses the model's JSON argument string; returns the args or a message explaining what is wrong. */
  parseArguments(raw: string): { ok: true; args: Args } | { ok: false; message: string };
  execute(args: Args, ctx: ToolContext): unknown | Promise<unknown>;
  /** Keys given to tool() that it does not know (typos, other versions' options): warned about at load. */
  readonly optionWarnings?: readonly string[];
}

const TOOL_OPTIONS: ReadonlyArray<keyof ToolOptions<unknown>> = ["name", "description", "parameters", "execute", "onError"];

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** Duck-typed so a zod schema from another copy of zod still works. */
function isZodSchema(value: unknown): value is z.ZodType {
  return typeof value === "object" && value !== null && typeof (value as { safeParse?: unknown }).safeParse === "function";
}

export function tool<Args = any>(options: ToolOptions<Args>): Tool<Args> {
  if (!options || typeof options !== "object") throw new UserError("tool() needs an options object: { name, description, parameters, execute }");
  const { name, execute } = options;
  if (typeof name !== "string" || !TOOL_NAME.test(name)) {
    throw new UserError(`Invalid tool name ${JSON.stringify(name)}: use 1-64 letters, digits, '_' or '-'.`);
  }
  if (typeof execute !== "function") throw new UserError(`Tool '${name}' needs an execute(args, ctx) function.`);
  const parameters = options.parameters ?? z.object({});
  const zodSchema = isZodSchema(parameters) ? parameters : undefined;
  const jsonSchema = zodSchema ? toJsonSchema(name, zodSchema) : (parameters as JsonSchema);
  if (typeof jsonSchema !== "object" || jsonSchema === null || Array.isArray(jsonSchema)) {
    throw new UserError(`Tool '${name}': parameters must be a zod schema or a JSON Schema object.`);
  }

  return {
    kind: "function",
    name,
    description: options.description ?? "",
    jsonSchema,
    onError: options.onError === "return" ? "return" : "error",
    parseArguments(raw) {
      let value: unknown;
      try {
        value = raw.trim() === "" ? {} : JSON.parse(raw);
      } catch {
        return { ok: false, message: `Invalid arguments for tool '${name}': not valid JSON.` };
      }
      if (!zodSchema) return { ok: true, args: value as Args };
      const parsed = zodSchema.safeParse(value);
      if (parsed.success) return { ok: true, args: parsed.data as Args };
      const issues = parsed.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`).join("; ");
      return { ok: false, message: `Invalid arguments for tool '${name}': ${issues}` };
    },
    execute: execute as Tool<Args>["execute"],
    optionWarnings: unknownOptionWarnings(`Tool '${name}'`, options, TOOL_OPTIONS),
  };
}

function toJsonSchema(name: string, schema: z.ZodType): JsonSchema {
  try {
    const json = z.toJSONSchema(schema, { unrepresentable: "any" }) as JsonSchema;
    delete json.$schema;
    return json;
  } catch (err) {
    throw new UserError(`Tool '${name}': its zod parameters cannot be turned into JSON Schema (${(err as Error).message}).`);
  }
}

export function isTool(value: unknown): value is Tool {
  return (
    typeof value === "object" && value !== null && (value as Tool).kind === "function" &&
    typeof (value as Tool).parseArguments === "function" && typeof (value as Tool).execute === "function"
  );
}
