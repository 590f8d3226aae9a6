/// <reference lib="dom" />
/** The chat page under `klisk dev` in headless Chromium: a failed reload shows a banner; the next good one clears it. */
import fs from "node:fs";
import path from "node:path";
import { startKlisk, stopChildren } from "../helpers/cli";
import { newContext, screenshotPath, useBrowser } from "../helpers/browser";
import { fakeUpstreamEnv } from "../helpers/env";
import { useFakeOpenAI } from "../helpers/project";
import { writeFiles } from "../helpers/tmp";

const fake = useFakeOpenAI();
const browser = useBrowser();
afterEach(stopChildren);

const ENTRY = 'import { defineAgent } from "klisk";\ndefineAgent({ name: "Assistant", model: "gpt-5.2" });\n';

test("a failed reload shows its file, line and cause as a banner on the chat page until a good reload", async () => {
  const dir = writeFiles({ "src/main.ts": ENTRY });
  const cli = startKlisk(["dev", dir, "--port", "0", "--host", "127.0.0.1"], { env: fakeUpstreamEnv(fake().url) });
  const [, url] = await cli.waitFor(/URL: (http:\/\/\S+)/);
  await cli.waitFor(/Watching .* for changes/);

  const context = await newContext(browser());
  try {
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    await page.goto(`${url}/`);
    await page.locator('#status[data-state="open"]').waitFor({ state: "attached" });
    const banner = page.locator("#dev-banner");
    expect(await banner.isHidden()).toBe(true);

    fs.writeFileSync(path.join(dir, "src/main.ts"), `${ENTRY}defineAgent({ name: "Broken" \n`);
    await banner.waitFor({ state: "visible", timeout: 15_000 });
    expect(await banner.innerText()).toMatch(/^Reload failed, still serving the last good version: src\/main\.ts:\d+(:\d+)?: Syntax error/);
    expect(await banner.getAttribute("role")).toBe("alert");
    await page.screenshot({ path: screenshotPath("dev-reload-error.png") });

    fs.writeFileSync(path.join(dir, "src/main.ts"), ENTRY);
    await banner.waitFor({ state: "hidden", timeout: 15_000 });
    expect(pageErrors).toEqual([]);
  } finally {
    await context.close();
  }
});
