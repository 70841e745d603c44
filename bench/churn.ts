/**
 * `deno task bench --only churn [--rounds N]`: does a server give back what
 * tunnels took? Rounds of opening 5,000 tunnels through the library and
 * closing them (a clean exit each), on a server run as users run it (plain
 * `deno run`); its RSS and V8 heap with them open and 5 s after they
 * closed, each round. 20 rounds are 100,000 tunnel starts and stops.
 */

import { connect, type TunnelClient } from "../mod.ts";
import { memory, startScaleServer } from "./scale.ts";

/** Tunnels opened and closed per round. */
const PER_ROUND = 5_000;
/** Tunnels opened at once. */
const AT_ONCE = 200;

/** Runs the churn bench and prints its table. */
export async function churn(rounds: number): Promise<void> {
  const backend = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("ok\n"),
  );
  const { server, port, metricsPort } = await startScaleServer();
  const pid = server.child.pid;
  const fmt = (m: { rss: number; heap: number }) =>
    `${m.rss.toFixed(0)} MB RSS, ${m.heap.toFixed(0)} MB heap`;
  const lines = [
    "| round | tunnels so far | open | 5 s after closing |",
    "|---|---|---|---|",
  ];
  try {
    await new Promise((r) => setTimeout(r, 3000));
    lines.push(`| 0 | 0 | ${fmt(await memory(pid, metricsPort))} | |`);
    for (let round = 1; round <= rounds; round++) {
      const open: TunnelClient[] = [];
      while (open.length < PER_ROUND) {
        open.push(
          ...await Promise.all(
            Array.from(
              { length: AT_ONCE },
              () => connect({ port: backend.addr.port, serverPort: port }),
            ),
          ),
        );
      }
      const up = await memory(pid, metricsPort);
      await Promise.all(open.map((c) => c.close()));
      await new Promise((r) => setTimeout(r, 5000));
      lines.push(
        `| ${round} | ${round * PER_ROUND} | ${fmt(up)} | ${
          fmt(await memory(pid, metricsPort))
        } |`,
      );
      console.error(lines.at(-1));
    }
  } finally {
    await server.stop();
    await backend.shutdown();
  }
  console.log(lines.join("\n"));
}
