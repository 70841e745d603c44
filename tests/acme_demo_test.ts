/**
 * `deno task acme-demo --once` (tests/acme_demo.ts): the README's recipe for
 * automatic certificates on one machine, with Debian's pebble, works as
 * printed: a certificate is issued and a request goes through over https.
 */

import assert from "node:assert/strict";
import { within } from "./helpers.ts";

Deno.test("acme-demo: pebble issues a certificate and curl gets the app's answer over https", async () => {
  const out = await within(
    120_000,
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-env",
        "--allow-run",
        "--allow-read",
        "--allow-write",
        new URL("./acme_demo.ts", import.meta.url).pathname,
        "--once",
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    }).output(),
    "acme-demo",
  );
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
  assert.match(
    text,
    /acme: certificate issued in [0-9.]+ s for tunnel\.localhost, \*\.tunnel\.localhost/,
  );
  assert.match(
    text,
    /^GET https:\/\/[a-z0-9]{10}\.tunnel\.localhost:\d+\/ → Hello over https, with a certificate from pebble!$/m,
  );
});
