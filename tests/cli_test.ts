/**
 * The command line's one flag table (lib/cli/args.ts) against what people
 * read: the usage text and the README's flag table name exactly its flags.
 */

import assert from "node:assert/strict";
import { FLAGS } from "../lib/cli/args.ts";
import { USAGE } from "../lib/cli/usage.ts";

const README = new URL("../README.md", import.meta.url);

/** `--name` for each flag, with `-x` for those that have a short form. */
const names = Object.keys(FLAGS).map((k) => `--${k}`).sort();

Deno.test("the README's flag table names every flag, and only flags that exist", async () => {
  const text = await Deno.readTextFile(README);
  const start = text.indexOf("### Flags");
  const table = text.slice(start, text.indexOf("\n## ", start));
  const listed = new Set<string>();
  for (const row of table.split("\n").filter((l) => l.startsWith("| `"))) {
    const cell = row.split("|")[1]!;
    for (const m of cell.matchAll(/--[a-z0-9-]+/g)) listed.add(m[0]);
  }
  assert.deepEqual([...listed].sort(), names);
});

Deno.test("the usage text names every flag", () => {
  const missing = names.filter((n) => !USAGE.includes(n));
  assert.deepEqual(missing, []);
});
