/** The version of groktunnel, from deno.json. */
import config from "../deno.json" with { type: "json" };

/** This package's version. */
export const VERSION: string = config.version;
