/** createFetchHandler(dir) with MCP servers: their tools answer over the handler, and close() stops their processes. */
import { createFetchHandler } from "../../src/server/fetchHandler";
import { everythingServerYaml, isRunning } from "../helpers/mcp";
import { useFakeOpenAI } from "../helpers/project";
import { writeProjectDir } from "../helpers/tmp";
import { waitFor } from "../helpers/wait";

const fake = useFakeOpenAI();

test("a handler that loaded the project runs its MCP tools and stops the server on close()", async () => {
  const dir = writeProjectDir({
    config: `mcp_servers:\n${everythingServerYaml()}\n`,
    entry: 'import { defineAgent } from "klisk";\ndefineAgent({ name: "A", mcpServers: ["everything"] });\n',
  });
  const handler = await createFetchHandler(dir);
  const pid = handler.context.project.mcp!.connections[0].pid!;
  fake().enqueue({ toolCalls: [{ name: "get-sum", arguments: { a: 20, b: 22 }, callId: "c1" }] });
  const res = await handler(new Request("http://local/api/chat", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ message: "sum", stream: false }) }));
  expect(await res.json()).toMatchObject({ response: "Tool said: The sum of 20 and 22 is 42.", done: true });

  await handler.close();
  await waitFor(() => !isRunning(pid), 5000, "the MCP server process exited");
});
