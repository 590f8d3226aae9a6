/** `klisk init` through the real binary. --no-install except where linking is the point (the npm install path is tested in pack.test.ts). */
import fs from "node:fs";
import path from "node:path";
import { loadConfig } from "../../src/project/config";
import { klisk, REPO_ROOT, runChild } from "../helpers/cli";
import { listFiles, tempDir } from "../helpers/tmp";

const VERSION = JSON.parse(fs.readFileSync(path.join(__dirname, "../../package.json"), "utf8")).version as string;
const TEMPLATE_FILES = [
  ".dockerignore",
  ".env",
  ".env.example",
  ".gitignore",
  "Dockerfile",
  "README.md",
  "klisk.config.yaml",
  "package.json",
  "src/main.ts",
  "src/tools/greet.ts",
  "tsconfig.json",
];

const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file), "utf8");

describe("klisk init", () => {
  test("writes the template with the name filled in and dotfiles renamed", async () => {
    const cwd = tempDir();
    const res = await klisk(["init", "my-agent", "--no-install"], { cwd });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const dir = path.join(cwd, "my-agent");
    expect(listFiles(dir)).toEqual(TEMPLATE_FILES);
    for (const file of TEMPLATE_FILES) expect(read(dir, file)).not.toMatch(/\{\{\w+\}\}/);

    const pkg = JSON.parse(read(dir, "package.json"));
    expect(pkg.name).toBe("my-agent");
    expect(pkg.dependencies).toEqual({ klisk: `^${VERSION}` });
    expect(pkg.scripts).toMatchObject({ serve: "klisk serve", check: "klisk check" });

    expect(read(dir, "src/main.ts")).toMatch(/from "klisk"/);
    expect(read(dir, "src/main.ts")).toMatch(/name: "Assistant"[\s\S]*model: "gpt-5.2"[\s\S]*tools: \[greet\]/);
    expect(read(dir, "src/tools/greet.ts")).toMatch(/import \{ tool, z \} from "klisk"/);
    expect(read(dir, ".env")).toMatch(/^OPENAI_API_KEY=$/m);
    // .env is .env.example with a fresh state-signing secret on its empty line; the shared example keeps it empty.
    expect(read(dir, ".env.example")).toMatch(/^KLISK_STATE_SECRET=$/m);
    expect(read(dir, ".env")).toMatch(/^KLISK_STATE_SECRET=[0-9a-f]{64}$/m);
    expect(read(dir, ".env").match(/^KLISK_STATE_SECRET=/gm)).toHaveLength(1);
    expect(read(dir, ".env").replace(/^KLISK_STATE_SECRET=.*$/m, "KLISK_STATE_SECRET=")).toBe(read(dir, ".env.example"));
    expect(read(dir, ".gitignore")).toMatch(/^\.env$/m);
    expect(read(dir, ".dockerignore")).toMatch(/^\.env$/m);
    expect(read(dir, "README.md")).toMatch(/^# my-agent$/m);

    const docker = read(dir, "Dockerfile");
    expect(docker).toMatch(/^FROM node:20-slim$/m);
    expect(docker).toMatch(/^USER node$/m);
    expect(docker).toMatch(/PORT=8080/);
    expect(docker).toMatch(/npm ci --omit=dev/);
    expect(docker).toMatch(/^CMD \["node_modules\/\.bin\/klisk", "serve"\]$/m); // the binary itself gets SIGTERM (dockerfile.test.ts)

    expect(res.stdout).toMatch(/^✔ Created my-agent$/m); // not "Created my-agent in my-agent"
    expect(res.stdout).toMatch(/Next steps:[\s\S]*cd my-agent[\s\S]*OPENAI_API_KEY[\s\S]*npx klisk serve/);
    expect(res.stdout).not.toMatch(/npm install/); // --no-install
  });

  test("the config names the project and lists every key with its default, commented out", async () => {
    const cwd = tempDir();
    await klisk(["init", "cfg-agent", "--no-install"], { cwd });
    const dir = path.join(cwd, "cfg-agent");
    const loaded = loadConfig(dir);
    expect(loaded.warnings).toEqual([]);
    expect(loaded.config.name).toBe("cfg-agent");
    expect(loaded.config.entry).toBe("src/main.ts");

    // Uncommenting every "# key: value" line (but the example provider) must give exactly the defaults.
    const text = read(dir, "klisk.config.yaml");
    const uncommented = text
      .replace(/^# providers:[\s\S]*?\n\n/m, "")
      .split("\n")
      .map((line) => line.replace(/^#( ?\s*[a-z0-9_]+:.*)$/, "$1").replace(/^ /, ""))
      .join("\n");
    fs.writeFileSync(path.join(dir, "klisk.config.yaml"), uncommented);
    const full = loadConfig(dir);
    expect(full.warnings).toEqual([]);
    const defaults = loadConfig(tempDir()).config;
    // server.port/host have no schema default (flag > env > config > 8080 / 0.0.0.0 is decided by serve).
    expect({ ...full.config, name: "x", server: {} }).toEqual({ ...defaults, name: "x" });
    expect(full.config.server).toEqual({ port: 8080, host: "0.0.0.0" });
    expect(full.config.deploy.widget.color).toBe("#2563eb");
  });

  test("--name, --model and a scoped name; the current directory by default", async () => {
    const cwd = tempDir();
    fs.mkdirSync(path.join(cwd, "bot"));
    const res = await klisk(["init", "--name", "@acme/support-bot", "--model", "gpt-5-mini", "--no-install"], {
      cwd: path.join(cwd, "bot"),
    });
    expect(res.code).toBe(0);
    const dir = path.join(cwd, "bot");
    expect(JSON.parse(read(dir, "package.json")).name).toBe("@acme/support-bot");
    expect(loadConfig(dir).config.name).toBe("@acme/support-bot");
    expect(read(dir, "src/main.ts")).toMatch(/model: "gpt-5-mini"/);
    expect(res.stdout).not.toMatch(/cd /); // already there
  });

  test.each([
    ["My-Agent", /must be lowercase/],
    ["my agent", /use only lowercase letters/],
    ["_private", /cannot start with/],
    ["node_modules", /reserved/],
    ["@acme", /@scope\/name/],
  ])("rejects the invalid name %j", async (name, reason) => {
    const cwd = tempDir();
    const res = await klisk(["init", "proj", "--name", name, "--no-install"], { cwd });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`^Error: Invalid project name '${name}': `));
    expect(res.stderr).toMatch(reason);
    expect(fs.existsSync(path.join(cwd, "proj"))).toBe(false);
  });

  test("an invalid directory name suggests --name", async () => {
    const cwd = tempDir();
    const res = await klisk(["init", "My Agent", "--no-install"], { cwd });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Invalid project name 'My Agent'.*pass --name my-agent/);
  });

  test("refuses a non-empty directory, listing what would be overwritten", async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "package.json"), "{}");
    fs.mkdirSync(path.join(dir, "src"));
    fs.writeFileSync(path.join(dir, "src/main.ts"), "// mine");
    fs.writeFileSync(path.join(dir, "notes.txt"), "keep");
    const res = await klisk(["init", dir, "--name", "x", "--no-install"], { cwd: dir });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/is not empty\. These files would be overwritten:\n  package\.json\n  src\/main\.ts\n/);
    expect(res.stderr).toMatch(/--force/);
    expect(res.stderr).not.toMatch(/notes\.txt/);
    expect(read(dir, "src/main.ts")).toBe("// mine");
    expect(fs.existsSync(path.join(dir, "klisk.config.yaml"))).toBe(false);
  });

  test("a directory with only unrelated files is refused too, saying nothing would be overwritten", async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "notes.txt"), "keep");
    const res = await klisk(["init", ".", "--name", "x", "--no-install"], { cwd: dir });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/no template file would be overwritten/);
  });

  test("a directory holding only .git counts as empty", async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, ".git"));
    const res = await klisk(["init", ".", "--name", "x", "--no-install"], { cwd: dir });
    expect(res.code).toBe(0);
  });

  test("--force overwrites template files but never an existing .env", async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, ".env"), "OPENAI_API_KEY=sk-mine\n");
    fs.writeFileSync(path.join(dir, "package.json"), "{}");
    fs.writeFileSync(path.join(dir, "notes.txt"), "keep");
    const res = await klisk(["init", ".", "--name", "forced", "--force", "--no-install"], { cwd: dir });
    expect(res.code).toBe(0);
    expect(read(dir, ".env")).toBe("OPENAI_API_KEY=sk-mine\n");
    expect(JSON.parse(read(dir, "package.json")).name).toBe("forced");
    expect(read(dir, "notes.txt")).toBe("keep");
    expect(res.stdout).not.toMatch(/^\s+\.env$/m); // not listed as written
  });

  test("from a clone of klisk (not on npm yet) it links this klisk into node_modules instead of npm install", async () => {
    const cwd = tempDir();
    const res = await klisk(["init", "linked-agent"], { cwd });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).not.toMatch(/npm install/);
    expect(res.stdout).toMatch(/Linked klisk from /);
    const modules = path.join(cwd, "linked-agent", "node_modules");
    expect(fs.realpathSync(path.join(modules, "klisk"))).toBe(fs.realpathSync(REPO_ROOT));
    // `npx klisk` in the project finds this binary first.
    const version = await runChild(path.join(modules, ".bin", "klisk"), ["--version"], { cwd: path.join(cwd, "linked-agent") });
    expect(version.stdout.trim()).toBe(VERSION);

    // Again with --force: the old links are replaced, and a real node_modules/klisk would be left alone.
    const again = await klisk(["init", "linked-agent", "--force"], { cwd });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/Linked klisk from /);
  });
});
