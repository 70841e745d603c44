/** A private redis-server for tests: loopback, no persistence, its own dir. */

import { decoder, within } from "./helpers.ts";
import { freePort } from "./process.ts";

/** Starts redis-server on a free port in `dir`; resolves once it answers PING. */
export async function startRedis(
  dir: string,
): Promise<{ port: number; child: Deno.ChildProcess }> {
  const port = freePort();
  const child = new Deno.Command("redis-server", {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await within(
    10_000,
    (async () => {
      for (;;) {
        const out = await new Deno.Command("redis-cli", {
          args: ["-p", String(port), "PING"],
          stdout: "piped",
          stderr: "null",
        }).output();
        if (decoder.decode(out.stdout).trim() === "PONG") return;
        await new Promise((r) => setTimeout(r, 50));
      }
    })(),
    "redis-server up",
  );
  return { port, child };
}
