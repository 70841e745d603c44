/** Bench scenario: Several nodes (see bench/bench.ts). */

import { makeLocalhostCert } from "../../tests/certs.ts";
import { freePort } from "../../tests/process.ts";
import {
  alternate,
  extra,
  files,
  groktunnel,
  has,
  type Setup,
  spawn,
  type Target,
  V8,
} from "../harness.ts";

/**
 * Several nodes: a request that enters at a node that does not hold the
 * tunnel (one hop more) beside one that enters at the holder; one etcd,
 * two nodes, runs alternated.
 */
export async function clusterRows(s: Setup): Promise<void> {
  if (!(await has("etcd"))) {
    console.error("cluster rows need etcd: apt-get install -y etcd-server");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "groktunnel-bench-etcd-" });
  files.push(dir);
  const etcdPort = freePort(), peer = freePort();
  const etcd = new Deno.Command("etcd", {
    args: [
      "--data-dir",
      dir,
      "--listen-client-urls",
      `http://127.0.0.1:${etcdPort}`,
      "--advertise-client-urls",
      `http://127.0.0.1:${etcdPort}`,
      "--listen-peer-urls",
      `http://127.0.0.1:${peer}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${peer}`,
      "--initial-cluster",
      `default=http://127.0.0.1:${peer}`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`http://127.0.0.1:${etcdPort}/v3/kv/range`, {
        method: "POST",
        body: JSON.stringify({ key: btoa("x") }),
      }).then((r) => r.body?.cancel().then(() => r.ok), () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const nodeTls = await makeLocalhostCert();
    files.push(nodeTls.dir);
    const node = (id: string, tls = false) =>
      spawn([
        "run",
        "--allow-net",
        "--allow-env",
        ...(tls ? [`--allow-read=${nodeTls.dir}`] : []),
        V8,
        "main.ts",
        "server",
        "-p",
        "0",
        "--max-connections",
        "4096",
        "--cluster",
        `etcd://127.0.0.1:${etcdPort}`,
        "--node-id",
        id,
        "--node-addr",
        `127.0.0.1:${freePort()}`,
        "--cluster-secret",
        "bench-cluster-secret-0123456789",
        ...(tls
          ? ["--cluster-tls", `${nodeTls.cert},${nodeTls.key},${nodeTls.ca}`]
          : []),
      ]);
    /**
     * Two nodes (with or without TLS between them) and a client on the
     * first: the tunnel at the holder, and the same name at the other.
     */
    const pair = async (prefix: string, tls: boolean) => {
      const holder = node(`${prefix}holder`, tls);
      const entry = node(`${prefix}entry`, tls);
      extra.push(holder, entry);
      const port = async (n: typeof holder) =>
        Number((await n.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
      const holderPort = await port(holder), entryPort = await port(entry);
      const c = groktunnel([
        String(s.backendPort),
        "-p",
        String(holderPort),
        "--quiet",
      ]);
      extra.push(c);
      const name = new URL((await c.waitFor(/^(http:\/\/\S+)$/m))[1]!)
        .hostname;
      const at = (port: number): Target => ({
        name,
        port,
        host: `${name}:${port}`,
      });
      return { holder: at(holderPort), entry: at(entryPort) };
    };
    const plain = await pair("", false);
    for (
      const [what, close] of [
        ["cluster keep-alive: entering at another node vs the holder", false],
        ["cluster new connection: another node vs the holder", true],
      ] as const
    ) {
      await alternate(
        what,
        { name: "holder", target: plain.holder },
        { name: "hop", target: plain.entry },
        close,
        undefined,
      );
    }
    // The same hop over TLS between the nodes (--cluster-tls), beside the
    // plain hop: a second pair of nodes in the same etcd.
    const tls = await pair("tls-", true);
    for (
      const [what, close] of [
        [
          "cluster keep-alive: hop over TLS (--cluster-tls) vs plain hop",
          false,
        ],
        ["cluster new connection: hop over TLS vs plain hop", true],
      ] as const
    ) {
      await alternate(
        what,
        { name: "plain hop", target: plain.entry },
        { name: "TLS hop", target: tls.entry },
        close,
        undefined,
      );
    }
  } finally {
    try {
      etcd.kill("SIGTERM");
    } catch { /* gone */ }
    await etcd.status;
  }
}
