/** Bench scenario: https (see bench/bench.ts). */

import { HOST, makeCerts } from "../../tests/certs.ts";
import {
  curlDown,
  extra,
  files,
  GiB,
  groktunnel,
  peakRss,
  progressOf,
  row,
  rows,
  type Setup,
  spawn,
  type Target,
  wrk,
} from "../harness.ts";

/**
 * The same workloads over https: the backend served directly by Deno.serve
 * with the certificate, beside a TLS-ending server and a client reaching it
 * over TLS (the backend behind the tunnel stays plain, as a local app is).
 */
export async function httpsRows(s: Setup): Promise<void> {
  const certs = await makeCerts();
  files.push(certs.dir);
  const read = `--allow-read=${certs.dir}`;
  const tlsBackend = spawn([
    "run",
    "--allow-net",
    read,
    "bench/backend.ts",
    "0",
    certs.cert1,
    certs.key1,
  ]);
  extra.push(tlsBackend);
  const tlsBackendPort = Number(
    (await tlsBackend.waitFor(/listening (\d+)/))[1],
  );
  const tlsServer = groktunnel([
    "server",
    "-p",
    "0",
    "-h",
    HOST,
    "--tls-cert",
    certs.cert1,
    "--tls-key",
    certs.key1,
    "--max-connections",
    "4096",
  ], [read]);
  extra.push(tlsServer);
  const tlsPort = Number(
    (await tlsServer.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1],
  );
  const tlsClient = groktunnel([
    String(s.backendPort),
    "--server",
    `https://${HOST}:${tlsPort}`,
    "--ca",
    certs.ca1File,
  ], [read]);
  extra.push(tlsClient);
  const tlsUrl = new URL((await tlsClient.waitFor(/^(https:\/\/\S+)$/m))[1]!);
  const directTls: Target = {
    name: "direct https",
    port: tlsBackendPort,
    host: `${HOST}:${tlsBackendPort}`,
    tls: { ca: certs.ca1File, name: HOST },
  };
  const tunnelTls: Target = {
    name: "tunnel https",
    port: tlsPort,
    host: tlsUrl.host,
    tls: { ca: certs.ca1File, name: tlsUrl.hostname },
  };
  for (
    const [what, close, goal] of [
      ["https keep-alive req/s", false, 0.45],
      ["https new connection req/s", true, 0.40],
    ] as const
  ) {
    const d = await wrk(directTls, close);
    const t = await wrk(tunnelTls, close);
    await progressOf(what, tlsServer, tlsClient);
    row(
      what,
      d.rps,
      t.rps,
      "",
      goal,
      `p50 ${d.p50.toFixed(2)}/${
        t.p50.toFixed(2)
      } ms; non-2xx ${d.errors}/${t.errors}${
        t.sockErr ? `; tunnel socket errors: ${t.sockErr}` : ""
      }`,
    );
  }
  const dDown = await curlDown(directTls, GiB);
  const tDown = await curlDown(tunnelTls, GiB);
  await progressOf("https 1 GiB download", tlsServer, tlsClient);
  row("https 1 GiB download MB/s", dDown, tDown, "", 0.20);
  const sRss = await peakRss(tlsServer.child.pid);
  const cRss = await peakRss(tlsClient.child.pid);
  rows.push([
    "https peak RSS server / client",
    "",
    `${sRss.toFixed(0)} / ${cRss.toFixed(0)} MB`,
    "",
    "",
    "",
    "",
  ]);
}
