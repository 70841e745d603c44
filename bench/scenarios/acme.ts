/** Bench scenario: Automatic certificates and DNS (see bench/bench.ts). */

import { HOST, makeCerts, makeLocalhostCert } from "../../tests/certs.ts";
import { freePort } from "../../tests/process.ts";
import { createSocket } from "node:dgram";
import {
  alternate,
  extra,
  files,
  groktunnel,
  has,
  rows,
  settings,
  type Setup,
  type Target,
} from "../harness.ts";

/**
 * Automatic certificates: https through a server with `--acme` (its
 * certificate from pebble, its DNS answering) beside one with the same kind
 * of key from files; runs alternated. Then what the DNS server answers per
 * second over UDP, with the rate limit lifted.
 */
export async function acmeRows(s: Setup): Promise<void> {
  if (!(await has("pebble"))) {
    console.error("acme rows need pebble: apt-get install -y pebble");
    return;
  }
  const local = await makeLocalhostCert();
  const certs = await makeCerts();
  const state = await Deno.makeTempDir({ prefix: "groktunnel-bench-" });
  files.push(local.dir, certs.dir, state);
  const acmePort = freePort(), mgmtPort = freePort(), dnsPort = freePort();
  await Deno.writeTextFile(
    `${local.dir}/pebble.json`,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: local.cert,
        privateKey: local.key,
        httpPort: freePort(),
        tlsPort: freePort(),
      },
    }),
  );
  const pebble = new Deno.Command("pebble", {
    args: [
      "-config",
      `${local.dir}/pebble.json`,
      "-dnsserver",
      `127.0.0.1:${dnsPort}`,
    ],
    env: { PEBBLE_VA_NOSLEEP: "1" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const http = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(local.ca)],
    });
    let rootPem = "";
    for (let i = 0; !rootPem && i < 100; i++) {
      rootPem = await fetch(`https://127.0.0.1:${mgmtPort}/roots/0`, {
        client: http,
      }).then((r) => r.text(), () => "");
      if (!rootPem) await new Promise((r) => setTimeout(r, 100));
    }
    http.close();
    const rootFile = `${state}/pebble-root.pem`;
    await Deno.writeTextFile(rootFile, rootPem);
    const read = `--allow-read=${state},${local.dir},${certs.dir}`;
    const started = Date.now();
    const acmeServer = groktunnel([
      "server",
      "-p",
      "0",
      "-h",
      HOST,
      "--max-connections",
      "4096",
      "--acme",
      "--public-ip",
      "127.0.0.1",
      "--dns-port",
      String(dnsPort),
      "--dns-rate-limit",
      "100000000",
      "--state-dir",
      state,
      "--acme-directory",
      `https://127.0.0.1:${acmePort}/dir`,
      "--acme-ca",
      local.ca,
    ], [read, `--allow-write=${state}`]);
    const fileServer = groktunnel([
      "server",
      "-p",
      "0",
      "-h",
      HOST,
      "--max-connections",
      "4096",
      "--tls-cert",
      certs.cert1,
      "--tls-key",
      certs.key1,
    ], [read]);
    extra.push(acmeServer, fileServer);
    const acmePortNo = Number(
      (await acmeServer.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1],
    );
    const firstCert = Date.now() - started;
    const filePortNo = Number(
      (await fileServer.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1],
    );
    const through = async (port: number, ca: string) => {
      const c = groktunnel([
        String(s.backendPort),
        "--server",
        `https://${HOST}:${port}`,
        "--ca",
        ca,
        "--quiet",
      ], [read]);
      extra.push(c);
      const u = new URL((await c.waitFor(/^(https:\/\/\S+)$/m))[1]!);
      return {
        name: u.hostname,
        port,
        host: u.host,
        tls: { ca, name: u.hostname },
      } as Target;
    };
    const on = await through(acmePortNo, rootFile);
    const off = await through(filePortNo, certs.ca1File);
    for (
      const [what, close] of [
        ["https keep-alive: --acme vs --tls-cert files", false],
        ["https new connection: --acme vs --tls-cert files", true],
      ] as const
    ) {
      await alternate(
        what,
        { name: "files", target: off },
        { name: "acme", target: on },
        close,
        0.9,
        `; first certificate ${firstCert} ms from spawn`,
      );
    }
    const qps = await dnsLoad(dnsPort, `x.${HOST}`);
    rows.push([
      "dns: UDP answers/s (one asker, 64 in flight)",
      "",
      qps.toFixed(0),
      "",
      "",
      "",
      "rate limit lifted for the run",
    ]);
  } finally {
    try {
      pebble.kill("SIGTERM");
    } catch { /* gone */ }
    await pebble.status;
  }
}

/** Answers per second to A queries for `name`, 64 outstanding. */
export async function dnsLoad(port: number, name: string): Promise<number> {
  const sock = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  const labels = name.split(".").flatMap((l) => [
    l.length,
    ...new TextEncoder().encode(l),
  ]);
  const query = new Uint8Array([
    0,
    0,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...labels,
    0,
    0,
    1,
    0,
    1,
  ]);
  let answers = 0;
  const until = Date.now() + settings.seconds * 1000;
  const send = () => {
    if (Date.now() < until) sock.send(query, port, "127.0.0.1");
  };
  sock.on("message", () => {
    answers++;
    send();
  });
  const start = Date.now();
  for (let i = 0; i < 64; i++) send();
  // Lost packets shrink the window: top it up every 50 ms.
  const timer = setInterval(() => {
    for (let i = 0; i < 8; i++) send();
  }, 50);
  await new Promise((r) => setTimeout(r, settings.seconds * 1000));
  clearInterval(timer);
  sock.close();
  return answers / ((Date.now() - start) / 1000);
}
