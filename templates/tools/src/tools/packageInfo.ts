// A tool that calls an HTTP API. `ctx.signal` is aborted when the client disconnects, cancels, the run times
// out (limits.run_timeout_s) or the server shuts down: passing it to fetch stops the request with the run.
import { tool, z } from "klisk";

/** The public npm registry; set PACKAGE_REGISTRY_URL in .env to use a mirror. */
const registry = () => (process.env.PACKAGE_REGISTRY_URL || "https://registry.npmjs.org").replace(/\/+$/, "");

export const packageInfo = tool({
  name: "package_info",
  description: "The latest version of an npm package, with its description, license and homepage.",
  parameters: z.object({
    name: z.string().min(1).max(214).describe('The package name, e.g. "zod" or "@types/node"'),
  }),
  execute: async ({ name }, ctx) => {
    const url = `${registry()}/${name.replace("/", "%2f")}/latest`;
    const res = await fetch(url, { signal: ctx.signal, headers: { accept: "application/json" } });
    if (res.status === 404) return `There is no npm package named ${name}.`;
    // Any other failure throws: with the default onError the run ends with an error event.
    if (!res.ok) throw new Error(`The registry answered ${res.status} ${res.statusText}`);
    const pkg = (await res.json()) as Record<string, unknown>;
    return {
      name: pkg.name,
      version: pkg.version,
      description: pkg.description ?? "",
      license: pkg.license ?? "unknown",
      homepage: pkg.homepage ?? "",
    };
  },
});
