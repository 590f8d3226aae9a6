/** CORS from `deploy.api.cors_origins`; `["*"]` allows any origin, like the Python original. */
import corsPackage from "cors";
import type { Handler } from "./handlers";

export function cors(origins: readonly string[]): Handler {
  return corsPackage({
    origin: origins.includes("*") ? "*" : [...origins],
    // Requested headers are reflected on preflight (the original allows all), so Authorization and
    // X-API-Key pass; Content-Type too.
    methods: ["GET", "POST", "OPTIONS"],
    maxAge: 600,
  });
}
