/** Bench scenario: a pool of two members beside one plain tunnel (see bench/bench.ts). */

import {
  alternate,
  serverWithClients,
  type Setup,
  sideBySide,
} from "../harness.ts";

/**
 * Three servers beside the main one: one plain tunnel, a pool of one member
 * (what a pool's picking costs) and a pool of two (two client processes on
 * two shared cores), all to the same backend. Keep-alive side by side with
 * the plain tunnel (a connection's channel is picked once, so only drift
 * could tell them apart), new connections alternated (a pick each).
 */
export async function poolRows(s: Setup): Promise<void> {
  const member = ["--subdomain", "bench-pool", "--pool"];
  const plain = await serverWithClients(s, "plain", []);
  const one = await serverWithClients(s, "pool of 1", [], [member]);
  const two = await serverWithClients(s, "pool of 2", [], [member, member]);
  const a = { name: "plain", target: plain };
  for (const b of [one, two]) {
    await sideBySide(
      `keep-alive: ${b.name} vs one plain tunnel, side by side`,
      a,
      { name: b.name, target: b },
      0.95,
    );
  }
  for (const b of [one, two]) {
    await alternate(
      `new connection: ${b.name} vs one plain tunnel, alternated`,
      a,
      { name: b.name, target: b },
      true,
      0.95,
    );
  }
}
