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

Deno.test("the usage text's options are made from the table: each flag's help and default, in 80 columns", () => {
  const start = USAGE.indexOf("Options:"), end = USAGE.indexOf("Examples:");
  const options = USAGE.slice(start, end);
  const wide = options.split("\n").filter((l) => l.length > 80);
  assert.deepEqual(wide, []);
  const flat = options.replace(/\s+/g, " ");
  for (const [name, f] of Object.entries(FLAGS)) {
    const help = f.help + (f.default ? ` [${f.default}]` : "");
    assert.ok(flat.includes(help), `--${name}: "${help}" is not in the usage`);
  }
});
