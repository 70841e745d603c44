#!/usr/bin/env -S deno run --allow-net --allow-env --v8-flags=--max-semi-space-size=2
/**
 * The groktunnel command line.
 *
 * ```sh
 * deno run --allow-net --allow-env jsr:@x/groktunnel/cli          # a server on :9999
 * deno run --allow-net --allow-env jsr:@x/groktunnel/cli 3000     # expose localhost:3000
 * ```
 *
 * @module
 */
import { main } from "./lib/cli/main.ts";

export { main };

if (import.meta.main) Deno.exit(await main(Deno.args));
