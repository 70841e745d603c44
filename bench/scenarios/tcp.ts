/** Bench scenario: TCP tunnels (see bench/bench.ts). */

import {
  curlDown,
  extra,
  GiB,
  groktunnel,
  row,
  type Setup,
  type Target,
  wrk,
} from "../harness.ts";

/**
 * TCP tunnels: the same backend through a TCP tunnel (raw bytes, no name
 * routing) beside it directly: bulk MB/s and a new connection per request.
 */
export async function tcpRows(s: Setup): Promise<void> {
  const lo = 20000 + Math.floor(Math.random() * 20000);
  const tcpServer = groktunnel([
    "server",
    "-p",
    "0",
    "--tcp-ports",
    `${lo}-${lo + 99}`,
  ]);
  extra.push(tcpServer);
  const port = Number(
    (await tcpServer.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1],
  );
  const tcpClient = groktunnel([
    "tcp",
    String(s.backendPort),
    "-p",
    String(port),
  ]);
  extra.push(tcpClient);
  const publicPort = Number(
    (await tcpClient.waitFor(/^tcp:\/\/\S+:(\d+)$/m))[1],
  );
  const through: Target = {
    name: "tcp tunnel",
    port: publicPort,
    host: `127.0.0.1:${publicPort}`,
  };
  const d = await wrk(s.direct, true), t = await wrk(through, true);
  row("tcp: new connection req/s", d.rps, t.rps, "", 0.40);
  const dDown = await curlDown(s.direct, GiB),
    tDown = await curlDown(through, GiB);
  row("tcp: 1 GiB download MB/s", dDown, tDown, "", 0.20);
}
