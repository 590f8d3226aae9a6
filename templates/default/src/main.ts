// The entry file: every agent defined here is served by `klisk serve`. The first one is the default.
import { defineAgent } from "klisk";
import { greet } from "./tools/greet";

defineAgent({
  name: "Assistant",
  instructions:
    "You are a friendly, concise assistant. When someone tells you their name, greet them with the greet tool.",
  model: "{{model}}",
  tools: [greet],
});
