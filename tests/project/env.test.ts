import { loadEnv } from "../../src/project/env";
import { writeFiles } from "../helpers/tmp";

const KEYS = ["KLISK_TEST_FROM_FILE", "KLISK_TEST_ALREADY_SET", "KLISK_TEST_QUOTED"];

afterEach(() => {
  for (const key of KEYS) delete process.env[key];
});

test("loads .env without overriding variables that are already set", () => {
  process.env.KLISK_TEST_ALREADY_SET = "from-shell";
  const dir = writeFiles({
    ".env": "KLISK_TEST_FROM_FILE=from-file\nKLISK_TEST_ALREADY_SET=from-file\nKLISK_TEST_QUOTED=\"a b # c\"\n",
  });
  const log = jest.spyOn(console, "log").mockImplementation(() => undefined);
  try {
    expect(loadEnv(dir).sort()).toEqual(["KLISK_TEST_FROM_FILE", "KLISK_TEST_QUOTED"]);
    expect(log).not.toHaveBeenCalled(); // dotenv 17 is told to stay quiet
  } finally {
    log.mockRestore();
  }
  expect(process.env.KLISK_TEST_FROM_FILE).toBe("from-file");
  expect(process.env.KLISK_TEST_ALREADY_SET).toBe("from-shell");
  expect(process.env.KLISK_TEST_QUOTED).toBe("a b # c");
});

test("a missing .env is fine", () => {
  expect(loadEnv(writeFiles())).toEqual([]);
});
