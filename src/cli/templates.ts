/**
 * The project templates `klisk init --template <name>` knows. Kept free of heavy imports: `klisk init --help`
 * lists them. Each template other than `default` is a directory of its own files laid over templates/default/
 * (so .env.example, .gitignore, .dockerignore, Dockerfile, klisk.config.yaml, package.json and tsconfig.json
 * exist once), with `omit` naming default's files it does not want (e.g. the greet tool).
 */
export interface TemplateInfo {
  name: string;
  /** One line for `klisk init --help` and the unknown-template error. */
  description: string;
  /** Another template whose files come first; this template's own files replace any with the same path. */
  base?: string;
  /** Paths (as written in templates/<base>/) of the base's files this template leaves out. */
  omit?: readonly string[];
}

export const TEMPLATES: readonly TemplateInfo[] = [
  { name: "default", description: "one agent with a greet tool" },
  {
    name: "multi-agent",
    description: "a triage agent handing off to two specialists, each with a tool",
    base: "default",
    omit: ["src/tools/greet.ts"],
  },
  {
    name: "tools",
    description: 'an agent with an HTTP tool (ctx.signal), an onError: "return" tool and a zod-validated tool',
    base: "default",
    omit: ["src/tools/greet.ts"],
  },
];

export const DEFAULT_TEMPLATE = "default";

export function findTemplate(name: string): TemplateInfo | undefined {
  return TEMPLATES.find((t) => t.name === name);
}

/** "  default      one agent with a greet tool" lines, for help and errors. */
export function templateList(indent = "  "): string {
  const width = Math.max(...TEMPLATES.map((t) => t.name.length));
  return TEMPLATES.map((t) => `${indent}${t.name.padEnd(width)}  ${t.description}`).join("\n");
}
