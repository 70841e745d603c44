/**
 * `deno task bench`: the tunnel beside a direct connection, same machine,
 * same run. Starts the backend (bench/backend.ts), a server and a client
 * (main.ts) as separate processes, drives them with wrk and curl, and prints
 * a table of both with their ratio and the goal of issue 5.
 * Loopback only; about three minutes. Options: `--seconds N` per wrk run,
 * `--only plain|https|features|tcp|acme|cluster|operate|pool` for a part of the table,
 * `--only scale` for what one node costs at scale (bench/scale.ts),
 * `--only churn [--rounds N]` for 100,000 tunnel starts and stops
 * (bench/churn.ts), and
 * `--only soak [--minutes N]` for the soak (bench/soak.ts; neither in the
 * full run).
 */

import { parseArgs } from "node:util";
import {
  extra,
  files,
  groktunnel,
  has,
  progressOf,
  rows,
  settings,
  type Setup,
  spawn,
  type Target,
} from "./harness.ts";
import { plainRows } from "./scenarios/plain.ts";
import { httpsRows } from "./scenarios/https.ts";
import { featureRows } from "./scenarios/features.ts";
import { tcpRows } from "./scenarios/tcp.ts";
import { acmeRows } from "./scenarios/acme.ts";
import { clusterRows } from "./scenarios/cluster.ts";
import { operateRows } from "./scenarios/operate.ts";
import { poolRows } from "./scenarios/pool.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "5" },
    // Only some rows: "plain" or "https".
    only: { type: "string" },
    minutes: { type: "string", default: "10" },
    rounds: { type: "string", default: "20" },
  },
});
if (values.only === "scale") {
  const { scale } = await import("./scale.ts");
  await scale();
  Deno.exit(0);
}
if (values.only === "churn") {
  const { churn } = await import("./churn.ts");
  await churn(Number(values.rounds));
  Deno.exit(0);
}
if (values.only === "soak") {
  const { soak } = await import("./soak.ts");
  await soak(Number(values.minutes));
  Deno.exit(0);
}
const SECONDS = settings.seconds = Number(values.seconds);

for (const tool of ["wrk", "curl"]) {
  if (!(await has(tool))) {
    console.error(
      `bench needs ${tool}: install it with  apt-get install -y wrk curl`,
    );
    Deno.exit(1);
  }
}

const backend = spawn(["run", "--allow-net", "bench/backend.ts"]);
const backendPort = Number((await backend.waitFor(/listening (\d+)/))[1]);
const server = groktunnel(["server", "-p", "0", "--max-connections", "4096"]);
const serverPort = Number(
  (await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1],
);
const client = groktunnel([
  String(backendPort),
  "-p",
  String(serverPort),
  // The request log is terminal output, not tunnel work: off in every
  // client here (the inspector's capture stays on, as by default).
  "--quiet",
]);
const url = new URL((await client.waitFor(/^(http:\/\/\S+)$/m))[1]!);
const direct: Target = {
  name: "direct",
  port: backendPort,
  host: `127.0.0.1:${backendPort}`,
};
const tunnel: Target = { name: "tunnel", port: serverPort, host: url.host };
console.error(
  `backend :${backendPort}, server :${serverPort}, tunnel ${url.host}; ${SECONDS} s per wrk run`,
);

const setup: Setup = {
  backendPort,
  server,
  serverPort,
  client,
  direct,
  tunnel,
  progress: (what) => progressOf(what, server, client),
};
try {
  const only = values.only;
  if (!only || only === "plain") await plainRows(setup);
  if (!only || only === "https") await httpsRows(setup);
  if (!only || only === "features") await featureRows(setup);
  if (!only || only === "tcp") await tcpRows(setup);
  if (!only || only === "acme") await acmeRows(setup);
  if (!only || only === "cluster") await clusterRows(setup);
  if (!only || only === "operate") await operateRows(setup);
  if (!only || only === "pool") await poolRows(setup);
} finally {
  for (const f of files) {
    await Deno.remove(f, { recursive: true }).catch(() => {});
  }
  for (const p of [...extra, client, server, backend]) {
    try {
      p.child.kill("SIGTERM");
    } catch { /* gone */ }
    await p.child.status;
  }
}

const head = ["workload", "direct", "tunnel", "ratio", "goal", "met", "notes"];
const widths = head.map((h, i) =>
  Math.max(h.length, ...rows.map((r) => r[i]!.length))
);
const line = (r: string[]) =>
  "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
console.log(line(head));
console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
for (const r of rows) console.log(line(r));
