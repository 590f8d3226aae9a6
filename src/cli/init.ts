/** `klisk init [dir] [--template <name>]`: writes a template (templates.ts) into a new project, then runs `npm install`. */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ConfigError } from "../errors";
import { DEFAULT_MODEL } from "../sdk/agent";
import { reportError, startSpinner, styleFor } from "./output";
import { DEFAULT_TEMPLATE, findTemplate, templateList } from "./templates";

/** The package root: `src/cli` under ts-jest and `dist/cli` once built are both two levels down. */
const PACKAGE_ROOT = path.resolve(__dirname, "..", "..");
const TEMPLATES_DIR = path.join(PACKAGE_ROOT, "templates");

/** npm drops or mangles dotfiles when packing, so the template stores them under these names. */
const RENAMES: Record<string, string> = {
  _gitignore: ".gitignore",
  _dockerignore: ".dockerignore",
  "_env.example": ".env.example",
};
/** `.env` starts as a copy of `.env.example` and is never overwritten: it holds the user's keys. */
const ENV_SOURCE = "_env.example";

export interface InitOptions {
  cwd: string;
  dir?: string;
  name?: string;
  model?: string;
  /** A name from templates.ts (default: "default"). */
  template?: string;
  force?: boolean;
  install?: boolean;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

/** The flags of `klisk init`, as commander parses them (they are declared in main.ts). */
export interface InitFlags {
  name?: string;
  model: string;
  template: string;
  force?: boolean;
  install: boolean;
}

/** What `klisk init [dir]` runs. */
export async function initCommand(dir: string, opts: InitFlags): Promise<void> {
  process.exitCode = await init({ cwd: process.cwd(), dir, ...opts });
}

/** Returns the exit code. */
export async function init(options: InitOptions): Promise<number> {
  const stdout = options.stdout ?? process.stdout;
  const style = styleFor(stdout);
  try {
    const target = path.resolve(options.cwd, options.dir ?? ".");
    const name = options.name ?? path.basename(target);
    const problem = validatePackageName(name);
    if (problem) {
      const hint = options.name === undefined ? ` (taken from the directory name; pass --name ${suggestName(name)})` : "";
      throw new ConfigError(`Invalid project name '${name}': ${problem}${hint}`);
    }
    const model = (options.model ?? DEFAULT_MODEL).trim();
    if (!model) throw new ConfigError(`--model needs a model name such as "${DEFAULT_MODEL}"`);

    const templateName = options.template ?? DEFAULT_TEMPLATE;
    if (!findTemplate(templateName)) {
      throw new ConfigError(`Unknown template '${templateName}'. The templates are:\n${templateList()}`, "Pass one of them as --template <name>.");
    }
    const files = templateFiles(templateName);
    checkTarget(target, files, options.force === true);
    const written = writeProject(target, files, { name, model, kliskVersion: kliskVersion() });

    const shown = path.relative(options.cwd, target) || ".";
    // "Created my-agent in my-agent" said the name twice: the place is shown only when it says something new.
    const where = shown === "." ? " here" : shown === name ? "" : ` in ${shown}`;
    stdout.write(`${style.green("✔")} Created ${style.bold(name)}${where}\n`);
    for (const file of written) stdout.write(`  ${style.dim(file)}\n`);

    if (options.install !== false) {
      if (runningFromSource()) linkThisKlisk(target, stdout);
      else await installDependencies(target, shown, options.stderr ?? process.stderr, stdout);
    }
    printNextSteps(stdout, shown);
    return 0;
  } catch (err) {
    return reportError(err, options.stderr);
  }
}

/** The rules npm applies to new package names, each with the sentence a user needs. Returns a problem or null. */
export function validatePackageName(name: string): string | null {
  if (name.length === 0) return "the name is empty";
  if (name.length > 214) return "npm package names are at most 214 characters long";
  if (name.trim() !== name) return "the name has leading or trailing spaces";
  if (name.toLowerCase() !== name) return "npm package names must be lowercase";
  const scoped = /^@([^/]+)\/([^/]+)$/.exec(name);
  if (name.startsWith("@") && !scoped) return "a scoped name looks like @scope/name";
  for (const part of scoped ? [scoped[1], scoped[2]] : [name]) {
    if (part.startsWith(".") || part.startsWith("_")) return "npm package names cannot start with '.' or '_'";
    if (!/^[a-z0-9._~-]+$/.test(part)) return "use only lowercase letters, digits, '-', '.', '_' and '~'";
  }
  if (["node_modules", "favicon.ico"].includes(name)) return `'${name}' is reserved by npm`;
  return null;
}

/** "My Agent!" → "my-agent": a name the user can copy. */
function suggestName(name: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9._~-]+/g, "-").replace(/^[-._]+|-+$/g, "");
  return slug || "my-agent";
}

interface TemplateFile {
  /** Path inside its template directory, with "/" separators (e.g. "_env.example"). */
  source: string;
  /** Absolute path of the file in the klisk package. */
  from: string;
  /** Path written in the project. */
  target: string;
}

/** A template's files: its base's first (less those it omits), then its own, which replace any at the same path. */
function templateFiles(name: string): TemplateFile[] {
  const info = findTemplate(name);
  if (!info) throw new Error(`Unknown template '${name}'`);
  const own = filesIn(path.join(TEMPLATES_DIR, name));
  if (!info.base) return own;
  const replaced = new Set([...own.map((f) => f.source), ...(info.omit ?? [])]);
  return [...templateFiles(info.base).filter((f) => !replaced.has(f.source)), ...own];
}

function filesIn(dir: string, prefix = ""): TemplateFile[] {
  if (!fs.existsSync(dir)) throw new Error(`The project template is missing from the klisk package (${dir})`);
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const source = prefix + entry.name;
    const from = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesIn(from, `${source}/`);
    return [{ source, from, target: prefix + (RENAMES[entry.name] ?? entry.name) }];
  });
}

/** A fresh `git init` is still an empty project; anything else needs --force. */
function checkTarget(target: string, files: TemplateFile[], force: boolean): void {
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (!stat) return;
  if (!stat.isDirectory()) throw new ConfigError(`${target} exists and is not a directory`);
  const entries = fs.readdirSync(target).filter((entry) => entry !== ".git");
  if (entries.length === 0 || force) return;
  const clashes = files
    .map((f) => f.target)
    .filter((file) => fs.existsSync(path.join(target, file)))
    .sort();
  const detail = clashes.length
    ? `These files would be overwritten:\n${clashes.map((f) => `  ${f}`).join("\n")}`
    : `It contains ${entries.length} entr${entries.length === 1 ? "y" : "ies"}; no template file would be overwritten.`;
  throw new ConfigError(
    `${target} is not empty. ${detail}`,
    "Pass --force to write the project there anyway (an existing .env is always kept), or choose another directory.",
  );
}

function writeProject(target: string, files: TemplateFile[], values: Record<string, string>): string[] {
  const fill = (text: string) => text.replace(/\{\{(\w+)\}\}/g, (match, key: string) => values[key] ?? match);
  const written: string[] = [];
  for (const file of files) {
    const content = fill(fs.readFileSync(file.from, "utf8"));
    const dest = path.join(target, file.target);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, content);
    written.push(file.target);
    if (file.source === ENV_SOURCE && !fs.existsSync(path.join(target, ".env"))) {
      fs.writeFileSync(path.join(target, ".env"), withStateSecret(content), { mode: 0o600 }); // secrets: owner-only
      written.push(".env");
    }
  }
  return written.sort();
}

/**
 * A new project signs the states it returns from the first start: .env gets a random KLISK_STATE_SECRET on
 * the template's empty line (never .env.example, which is shared). Deployments give every instance the same value.
 */
function withStateSecret(envExample: string): string {
  const line = `KLISK_STATE_SECRET=${randomBytes(32).toString("hex")}`;
  return /^KLISK_STATE_SECRET=$/m.test(envExample) ? envExample.replace(/^KLISK_STATE_SECRET=$/m, line) : `${envExample}\n${line}\n`;
}

function kliskVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

/**
 * klisk runs from a clone (no node_modules above it), not from an installed package: it is not on npm yet,
 * so `npm install` in the new project would fail on its `klisk` dependency.
 */
function runningFromSource(): boolean {
  return !PACKAGE_ROOT.split(path.sep).includes("node_modules");
}

/**
 * What `npm link klisk` does, without needing the global link: node_modules/klisk points at the klisk that
 * runs, and node_modules/.bin/klisk at its CLI. Editors and `tsc` then find klisk's types, and `npx klisk`
 * in the project runs this klisk. A real (installed) node_modules/klisk is left alone.
 */
function linkThisKlisk(target: string, stdout: NodeJS.WriteStream): void {
  const modules = path.join(target, "node_modules");
  fs.mkdirSync(path.join(modules, ".bin"), { recursive: true });
  const linked = replaceLink(PACKAGE_ROOT, path.join(modules, "klisk"), "junction");
  // Windows runs npm's .cmd shims, not symlinks; there the PATH's klisk (npm link) is the way.
  if (linked && process.platform !== "win32") replaceLink(path.join(PACKAGE_ROOT, "bin", "klisk.js"), path.join(modules, ".bin", "klisk"), "file");
  const style = styleFor(stdout);
  if (linked) stdout.write(`${style.green("✔")} Linked klisk from ${PACKAGE_ROOT} ${style.dim("(klisk is not on npm yet: node_modules/klisk points at it)")}\n`);
}

/** A symlink at `link` to `to`, replacing an older symlink; false when a real file or folder is in the way. */
function replaceLink(to: string, link: string, type: "junction" | "file"): boolean {
  const existing = fs.lstatSync(link, { throwIfNoEntry: false });
  if (existing && !existing.isSymbolicLink()) return false;
  if (existing) fs.unlinkSync(link);
  fs.symlinkSync(to, link, type);
  return true;
}

/** A failed install is a warning with the command to retry: the project itself is already complete. */
async function installDependencies(target: string, shown: string, stderr: NodeJS.WriteStream, stdout: NodeJS.WriteStream) {
  const spinner = startSpinner("Installing dependencies (npm install)…", stdout);
  const result = await runNpmInstall(target);
  const style = styleFor(stdout);
  if (result.ok) {
    spinner.stop(`${style.green("✔")} Installed dependencies`);
    return;
  }
  spinner.stop();
  const warn = styleFor(stderr);
  stderr.write(`${warn.yellow("Warning:")} npm install failed (${result.reason}). The project is ready; install later with:\n`);
  stderr.write(`  cd ${shown} && npm install\n`);
  if (result.output) stderr.write(`${warn.dim(result.output)}\n`);
}

function runNpmInstall(cwd: string): Promise<{ ok: boolean; reason?: string; output?: string }> {
  return new Promise((resolve) => {
    // npm is npm.cmd on Windows, which Node only spawns through a shell.
    const child = spawn("npm", ["install", "--no-audit", "--no-fund"], {
      cwd,
      shell: process.platform === "win32",
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000); // only the tail explains a failure
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("error", (err) => resolve({ ok: false, reason: err.message }));
    child.on("close", (code, signal) => {
      if (code === 0) return resolve({ ok: true });
      const tail = output.trim().split("\n").slice(-8).join("\n");
      resolve({ ok: false, reason: signal ? `killed by ${signal}` : `exit code ${code}`, output: tail });
    });
  });
}

function printNextSteps(stdout: NodeJS.WriteStream, shown: string): void {
  const style = styleFor(stdout);
  const steps = [
    ...(shown === "." ? [] : [`cd ${shown}`]),
    `Add your key to .env: ${style.bold("OPENAI_API_KEY=sk-...")}`,
    `${style.bold("npx klisk check")}     check the project`,
    `${style.bold("npx klisk dev")}       serve it at http://localhost:8080, reloading on every save`,
    `${style.bold("npx klisk serve")}     serve it in production`,
    `${style.bold('npx klisk run "Hi"')}  chat from the terminal (-i for a conversation)`,
  ];
  stdout.write(`\nNext steps:\n${steps.map((s, i) => `  ${i + 1}. ${s}`).join("\n")}\n`);
}
