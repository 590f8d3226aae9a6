/**
 * `klisk run` styles the answer's Markdown on a colour terminal, a line at a time, and leaves it as written
 * everywhere else. The terminal is real: util-linux's `script` gives the CLI a pseudo-terminal, and a small
 * screen model replays what it wrote (carriage returns, cursor-up, clear-to-end, wrapping) to get what a
 * user sees.
 */
import { Writable } from "node:stream";
import chalk from "chalk";
import { MarkdownLines, MarkdownStream, displayWidth } from "../../src/cli/terminalMarkdown";
import { KLISK_BIN, klisk, runChild } from "../helpers/cli";
import { fakeUpstreamEnv } from "../helpers/env";
import { startFakeOpenAI, type FakeOpenAI } from "../helpers/fakeOpenAI";
import { writeFiles } from "../helpers/tmp";

const SGR = /\x1b\[[0-9;]*m/g;

/** What a terminal `columns` wide shows after `output` (styles dropped, "\n" as onlcr turns it into "\r\n"). */
function screen(output: string, columns: number): string[] {
  const rows: string[][] = [[]];
  let row = 0;
  let col = 0;
  const text = output.replace(SGR, "");
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\x1b") {
      const control = /^\x1b\[(\d*)([AJ])/.exec(text.slice(i));
      if (!control) throw new Error(`unexpected escape ${JSON.stringify(text.slice(i, i + 8))}`);
      if (control[2] === "A") row = Math.max(0, row - Number(control[1] || 1));
      else rows.splice(row + 1), (rows[row] = rows[row].slice(0, col));
      i += control[0].length - 1;
    } else if (ch === "\r") {
      col = 0;
    } else if (ch === "\n") {
      row++;
      col = 0;
      rows[row] ??= [];
    } else {
      if (col >= columns) {
        row++;
        col = 0;
        rows[row] ??= [];
      }
      rows[row][col++] = ch;
    }
  }
  return rows.map((r) => r.join(""));
}

const REPLY = [
  "# Plan",
  "Use **bold** and `code` here, then a line long enough to wrap over two rows of a narrow terminal.",
  "- first item",
  "1. numbered",
  "> a quote",
  "```ts",
  "const x = **not bold**;",
  "```",
  "See [the docs](https://example.com).",
].join("\n");

describe("the Markdown stream on a TTY", () => {
  function tty(columns: number) {
    let written = "";
    const out = Object.assign(
      new Writable({
        write(chunk, _enc, done) {
          written += String(chunk);
          done();
        },
      }),
      { isTTY: true, columns },
    ) as unknown as NodeJS.WriteStream;
    return { out, written: () => written };
  }

  test("each finished line is redrawn styled, wrapped lines included, whatever the token boundaries", () => {
    const style = new chalk.Instance({ level: 1 });
    for (const size of [1, 3, 7, REPLY.length]) {
      const { out, written } = tty(40);
      const md = new MarkdownStream(out, style);
      for (let i = 0; i < REPLY.length; i += size) md.write(REPLY.slice(i, i + size));
      md.end();
      expect(screen(written(), 40).join("\n")).toBe(
        [
          "Plan",
          "Use bold and code here, then a line long",
          " enough to wrap over two rows of a narro",
          "w terminal.",
          "• first item",
          "1. numbered",
          "│ a quote",
          "```ts",
          "const x = **not bold**;", // code is not Markdown
          "```",
          "See the docs (https://example.com).",
        ].join("\n"),
      );
      expect(written()).toContain(style.bold("bold"));
      expect(written()).toContain(style.bold.underline("Plan"));
      expect(written()).toContain(style.cyan("code"));
    }
  });

  test("inline constructs, nested, and what must stay as written", () => {
    const style = new chalk.Instance({ level: 1 });
    const line = (text: string) => new MarkdownLines(style).render(text);
    expect(line("**bold *and em***")).toBe(style.bold(`bold ${style.italic("and em")}`));
    expect(line("`a **b** c` d")).toBe(`${style.cyan("a **b** c")} d`);
    expect(line("__b__ _e_ ~~x~~")).toBe(`${style.bold("b")} ${style.italic("e")} ${style.strikethrough("x")}`);
    expect(line("snake_case_name and 2 * 3 * 4")).toBe("snake_case_name and 2 * 3 * 4");
    expect(line("\\*not em\\*")).toBe("*not em*");
    expect(line("<https://x.dev> [https://x.dev](https://x.dev)")).toBe(`<https://x.dev> ${style.underline("https://x.dev")}`);
    expect(line("### Small")).toBe(style.bold("Small"));
  });

  test("wide characters count two columns", () => {
    expect(displayWidth("abc")).toBe(3);
    expect(displayWidth("日本語")).toBe(6);
    expect(displayWidth("e\u0301")).toBe(1);
  });
});

describe("klisk run", () => {
  let fake: FakeOpenAI;
  let dir: string;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    dir = writeFiles({ "klisk.config.yaml": "name: md\n", "src/main.ts": 'import { defineAgent } from "klisk";\ndefineAgent({ name: "Assistant", instructions: "Hi." });\n' });
  });
  afterAll(() => fake.close());

  test("in a terminal, the answer's Markdown is styled", async () => {
    fake.enqueue({ text: "## Done\nIt is **ready** now." });
    // script(1) runs the command on a pseudo-terminal; its own output is what that terminal received.
    const command = [process.execPath, KLISK_BIN, "run", "go", dir].map((a) => `'${a}'`).join(" ");
    const res = await runChild("script", ["-qec", command, "/dev/null"], { env: { ...fakeUpstreamEnv(fake.url), FORCE_COLOR: "1", TERM: "xterm" } });
    expect(res.code).toBe(0);
    expect(screen(res.stdout, 80).filter(Boolean)).toEqual(["Done", "It is ready now."]);
    expect(res.stdout).toMatch(/\x1b\[1mready\x1b\[22m/); // bold
  });

  test("through a pipe the answer is exactly what the model wrote", async () => {
    fake.enqueue({ text: "## Done\nIt is **ready** now." });
    const res = await klisk(["run", "go", dir], { env: { ...fakeUpstreamEnv(fake.url), FORCE_COLOR: "1" } });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("## Done\nIt is **ready** now.\n");
  });
});
