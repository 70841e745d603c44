/**
 * `deno task bench --only scale`: what one node costs as its work grows.
 * A server run as users run it (plain `deno run`, no V8 flags), tunnels
 * opened through the library from this process, and visitor connections
 * held open through a client process:
 * - server RSS and V8 heap idle, with 1,000 and 10,000 idle tunnels, and
 *   after they closed (is it reclaimed?);
 * - how long the 10,000 take to open (handshakes a second);
 * - p50/p99 of a request (2,000 of them) through a random tunnel with 1 and
 *   with 10,000 open;
 * - server and client RSS with 10,000 idle visitor connections through one
 *   tunnel (half with a request in flight, half keep-alive at rest), on a
 *   fresh server so that the tunnels' garbage does not blur the slope, and
 *   the same through the floor: the smallest relay Deno allows
 *   (bench/floor.ts), what two sockets with a read waiting cost;
 * - 1,000 keep-alive connections at rest after a 1 MiB download each;
 * - the limits at 10,000 (tunnels, tunnels per IP, connections of a
 *   tunnel): the next is refused, and once one leaves, a new one fits.
 * `SCALE_TUNNELS=100,1000` and `SCALE_CLIENT_FLAGS="--forwarded-headers off"`
 * change the counts and the client's flags.
 * The per-tunnel and per-connection costs are the slopes. This machine's
 * open-file limit is 20,000 (hard), which bounds the counts.
 */

import { connect, type TunnelClient } from "../mod.ts";
import { freePort, Proc, ResponseReader } from "../tests/process.ts";

const TUNNELS = (Deno.env.get("SCALE_TUNNELS") ?? "1000,10000").split(",")
  .map(Number);
const CONNECTIONS = 10_000;
const AT_ONCE = 200;
/**
 * Requests per latency row: a p99 of 400 was the 4th slowest, and one pause
 * of any of the processes moved it 0.6-4x between runs.
 */
const SAMPLES = 2_000;
/**
 * Visitors through the floor: it holds two sockets each, and this process
 * their ends and the app's, all under the open-file limit (20,000 here).
 */
const FLOOR_CONNECTIONS = 5_000;

const enc = new TextEncoder();
/** What `/mib` answers: a download. */
const MIB = new Uint8Array(1024 * 1024);
/** Connections at rest after a download each. */
const AFTER_DOWNLOADS = 1_000;

/** Current RSS (MB) and, from the metrics endpoint, V8's used heap (MB). */
export async function memory(pid: number, metricsPort?: number) {
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
  }).output();
  const status = new TextDecoder().decode(out.stdout);
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
  let heap = NaN;
  if (metricsPort) {
    const text = await (await fetch(
      `http://127.0.0.1:${metricsPort}/metrics`,
    )).text();
    heap = Number(/^deno_heap_used_bytes (\S+)$/m.exec(text)?.[1]) / 1048576;
  }
  return { rss, heap };
}

/** One request on a new connection; ms until its answer's head. */
async function timed(port: number, host: string): Promise<number> {
  const started = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      enc.encode(
        `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const r = await new ResponseReader(conn).next();
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    return performance.now() - started;
  } finally {
    conn.close();
  }
}

/** p50 and p99 of `n` sequential requests, each to a host `pick` gives. */
async function latency(port: number, pick: () => string, n = SAMPLES) {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) ms.push(await timed(port, pick()));
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(n * 0.5)]!, p99: ms[Math.floor(n * 0.99)]! };
}

/** Waits for `ms`, letting the processes settle (and V8 collect). */
const settle = (ms = 3000) => new Promise((r) => setTimeout(r, ms));

/** Runs the scale bench and prints its table. */
export async function scale(): Promise<void> {
  const backend = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      if (new URL(req.url).pathname === "/mib") {
        return new Response(MIB);
      }
      if (new URL(req.url).pathname === "/hold") {
        // An answer that does not come while the visitor waits.
        await new Promise((r) => req.signal.addEventListener("abort", r));
      }
      return new Response("ok\n");
    },
  );
  const { server, port, metricsPort } = await startScaleServer();
  const pid = server.child.pid;
  const rows: string[][] = [];
  const row = (...cells: string[]) => rows.push(cells);
  const clients: TunnelClient[] = [];
  try {
    await settle();
    const idle = await memory(pid, metricsPort);
    row(
      "server idle",
      `${idle.rss.toFixed(1)} MB RSS`,
      `${idle.heap.toFixed(1)} MB heap`,
    );
    // One tunnel: the latency to compare with.
    clients.push(await connect({ port: backend.addr.port, serverPort: port }));
    const one = await latency(port, () => new URL(clients[0]!.url!).host);
    row(
      "one tunnel: request p50 / p99",
      `${one.p50.toFixed(2)} ms`,
      `${one.p99.toFixed(2)} ms`,
    );
    let before = idle;
    for (const target of TUNNELS) {
      const started = performance.now();
      while (clients.length < target) {
        const batch = Math.min(AT_ONCE, target - clients.length);
        clients.push(
          ...await Promise.all(
            Array.from({ length: batch }, () =>
              connect({
                port: backend.addr.port,
                serverPort: port,
              })),
          ),
        );
      }
      const took = (performance.now() - started) / 1000;
      await settle();
      const m = await memory(pid, metricsPort);
      row(
        `${target} idle tunnels`,
        `${m.rss.toFixed(1)} MB RSS, ${m.heap.toFixed(1)} MB heap`,
        `${((m.rss - idle.rss) * 1024 / target).toFixed(1)} KB RSS, ${
          ((m.heap - idle.heap) * 1024 / target).toFixed(1)
        } KB heap per tunnel; opened ${
          target - (before === idle ? 1 : TUNNELS[0]!)
        } in ${took.toFixed(1)} s`,
      );
      before = m;
    }
    const hosts = clients.map((c) => new URL(c.url!).host);
    const many = await latency(
      port,
      () => hosts[Math.floor(Math.random() * hosts.length)]!,
    );
    row(
      `${clients.length} tunnels: request p50 / p99 (random tunnel)`,
      `${many.p50.toFixed(2)} ms`,
      `${many.p99.toFixed(2)} ms (${
        (many.p99 / one.p99).toFixed(2)
      }× one tunnel's)`,
    );
    // In batches: each close opens a connection of its own (`DELETE /`),
    // and 10,000 at once would pass the open-file limit.
    while (clients.length) {
      await Promise.all(clients.splice(0, AT_ONCE).map((c) => c.close()));
    }
    await settle(5000);
    const after = await memory(pid, metricsPort);
    row(
      "all tunnels closed",
      `${after.rss.toFixed(1)} MB RSS`,
      `${after.heap.toFixed(1)} MB heap`,
    );
    await server.stop();
    // A fresh server: the tunnels' garbage must not blur the slope.
    await limits(backend.addr.port, row);
    await connectionLimit(row);
    await connections(row);
    await afterDownloads(backend.addr.port, row);
    await floor(backend.addr.port, row);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
    await backend.shutdown();
  }
  const widths = [0, 1, 2].map((i) =>
    Math.max(...rows.map((r) => (r[i] ?? "").length))
  );
  for (const r of rows) {
    console.log(`| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`);
  }
}

/**
 * The tunnel limits at 10,000 (`--max-tunnels`, `--max-tunnels-per-ip`):
 * with 10,000 tunnels open, the next handshake is refused (503, 429), and
 * once one tunnel leaves, a new one fits.
 */
async function limits(
  appPort: number,
  row: (...cells: string[]) => void,
): Promise<void> {
  const LIMIT = 10_000;
  for (const flag of ["--max-tunnels", "--max-tunnels-per-ip"]) {
    // The later flag wins over startScaleServer's raised one.
    const { server, port } = await startScaleServer([flag, String(LIMIT)]);
    const clients: TunnelClient[] = [];
    try {
      while (clients.length < LIMIT) {
        clients.push(
          ...await Promise.all(
            Array.from(
              { length: Math.min(AT_ONCE, LIMIT - clients.length) },
              () => connect({ port: appPort, serverPort: port }),
            ),
          ),
        );
      }
      const refused = await handshakeStatus(port);
      await clients.pop()!.close();
      const again = await handshakeStatus(port);
      row(
        `${flag} ${LIMIT}, ${LIMIT} open`,
        `the next handshake: ${refused}`,
        `after one left: ${again}`,
      );
    } finally {
      while (clients.length) {
        await Promise.all(clients.splice(0, AT_ONCE).map((c) => c.close()));
      }
      await server.stop();
    }
  }
}

/**
 * `--max-connections` at 10,000: with 10,000 visitors of one tunnel waiting
 * for answers, the next gets 503, and once one leaves, a new one is served.
 * The app is a process of its own ({@linkcode startApp}).
 */
async function connectionLimit(row: (...cells: string[]) => void) {
  const LIMIT = 10_000;
  const app = await startApp();
  const t = await tunnelOf(app.port, ["--max-connections", String(LIMIT)]);
  const { port, host } = t;
  const open: Deno.TcpConn[] = [];
  try {
    while (open.length < LIMIT) {
      open.push(
        ...await Promise.all(Array.from({ length: AT_ONCE }, async () => {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          await conn.write(
            enc.encode(`GET /hold HTTP/1.1\r\nHost: ${host}\r\n\r\n`),
          );
          return conn;
        })),
      );
    }
    await settle(1000);
    const status = async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(
          enc.encode(
            `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
          ),
        );
        return (await new ResponseReader(conn).next()).status;
      } finally {
        conn.close();
      }
    };
    const refused = await status();
    open.pop()!.close();
    // Its channel is released once CLOSE has gone both ways.
    let again = 0;
    for (let i = 0; i < 50 && (again = await status()) !== 200; i++) {
      await settle(100);
    }
    row(
      `--max-connections ${LIMIT}, ${LIMIT} open`,
      `the next visitor: ${refused}`,
      `after one left: ${again}`,
    );
  } finally {
    closeAll(open);
    await t.stop();
    await app.stop();
  }
}

/** The status a control handshake gets (the connection is closed after). */
async function handshakeStatus(port: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      enc.encode(
        `GET / HTTP/1.1\r\nHost: localhost:${port}\r\nX-Groktunnel-Client: bench\r\n\r\n`,
      ),
    );
    const buf = new Uint8Array(64);
    let got = "";
    while (!/^HTTP\/1\.1 \d{3}/.test(got)) {
      const n = await conn.read(buf);
      if (n === null) throw new Error(`closed after ${JSON.stringify(got)}`);
      got += new TextDecoder().decode(buf.subarray(0, n));
    }
    return Number(got.slice(9, 12));
  } finally {
    conn.close();
  }
}

/**
 * A scale server (`serverFlags` added) and one client process for the app
 * at `appPort` (its own limit raised, `SCALE_CLIENT_FLAGS` added), and the
 * tunnel's host.
 */
async function tunnelOf(appPort: number, serverFlags: string[] = []) {
  const s = await startScaleServer(serverFlags);
  const client = new Proc([
    String(appPort),
    "-p",
    String(s.port),
    "--quiet",
    "--no-inspect",
    // The client's own limit (8192) raised too.
    "--max-connections",
    "20000",
    ...(Deno.env.get("SCALE_CLIENT_FLAGS") ?? "").split(" ").filter(Boolean),
  ]);
  const host =
    new URL((await client.waitFor("stdout", /^(http:\/\/\S+)$/m))[1]!).host;
  return {
    ...s,
    client,
    host,
    /** Memory of both processes now. */
    async memory() {
      return {
        server: await memory(s.server.child.pid, s.metricsPort),
        client: await memory(client.child.pid),
      };
    },
    async stop() {
      await client.stop();
      await s.server.stop();
    },
  };
}

type Memory = Awaited<ReturnType<typeof memory>>;

/** A row of what each of `n` connections cost the server and the client. */
function perConnection(
  label: string,
  n: number,
  before: { server: Memory; client: Memory },
  after: { server: Memory; client: Memory },
): string[] {
  const per = (a: number, b: number) => ((b - a) * 1024 / n).toFixed(1);
  return [
    label,
    `server ${after.server.rss.toFixed(1)} MB, client ${
      after.client.rss.toFixed(1)
    } MB RSS`,
    `${per(before.server.rss, after.server.rss)} KB server + ${
      per(before.client.rss, after.client.rss)
    } KB client per connection (server heap ${
      per(before.server.heap, after.server.heap)
    } KB)`,
  ];
}

/** 10,000 idle visitor connections through one client process. */
async function connections(row: (...cells: string[]) => void): Promise<void> {
  const app = await startApp();
  const t = await tunnelOf(app.port);
  let open: Deno.TcpConn[] = [];
  try {
    await settle();
    const before = await t.memory();
    open = await holdOpen(t.port, t.host);
    await settle();
    // Every one is relayed and open (none was answered and closed).
    const relayed = await openAtServer(t.metricsPort);
    if (relayed < CONNECTIONS) throw new Error(`only ${relayed} open`);
    row(
      ...perConnection(
        `${CONNECTIONS} idle visitor connections, one tunnel`,
        CONNECTIONS,
        before,
        await t.memory(),
      ),
    );
  } finally {
    closeAll(open);
    await t.stop();
    await app.stop();
  }
}

/**
 * {@linkcode AFTER_DOWNLOADS} keep-alive connections at rest after a 1 MiB
 * download each: what a connection holds once a big transfer is over (the
 * read that waits for its next request or answer).
 */
async function afterDownloads(
  appPort: number,
  row: (...cells: string[]) => void,
): Promise<void> {
  const t = await tunnelOf(appPort);
  const open: Deno.TcpConn[] = [];
  try {
    await settle();
    const before = await t.memory();
    while (open.length < AFTER_DOWNLOADS) {
      open.push(
        ...await Promise.all(Array.from({ length: 50 }, async () => {
          const conn = await Deno.connect({
            hostname: "127.0.0.1",
            port: t.port,
          });
          await conn.write(
            enc.encode(`GET /mib HTTP/1.1\r\nHost: ${t.host}\r\n\r\n`),
          );
          const r = await new ResponseReader(conn).next();
          if (r.body.length !== MIB.length) throw new Error("short download");
          return conn;
        })),
      );
    }
    await settle();
    row(
      ...perConnection(
        `${AFTER_DOWNLOADS} keep-alive connections at rest after 1 MiB each`,
        AFTER_DOWNLOADS,
        before,
        await t.memory(),
      ),
    );
  } finally {
    closeAll(open);
    await t.stop();
  }
}

/**
 * The same connections through the floor (bench/floor.ts): the smallest
 * Deno relay, two sockets with a read waiting per visitor.
 */
async function floor(
  appPort: number,
  row: (...cells: string[]) => void,
): Promise<void> {
  const relay = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("./floor.ts", import.meta.url).pathname,
      String(appPort),
    ],
    stdout: "piped",
    stderr: "inherit",
    env: { DENO_NO_UPDATE_CHECK: "1" },
  }).spawn();
  const reader = relay.stdout.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  const port = Number(first.trim());
  let open: Deno.TcpConn[] = [];
  try {
    await settle();
    const f0 = await memory(relay.pid);
    open = await holdOpen(port, "floor", FLOOR_CONNECTIONS);
    await settle();
    const f1 = await memory(relay.pid);
    row(
      `${FLOOR_CONNECTIONS} through the floor (bench/floor.ts)`,
      `${f1.rss.toFixed(1)} MB RSS`,
      `${
        ((f1.rss - f0.rss) * 1024 / FLOOR_CONNECTIONS).toFixed(1)
      } KB per connection: Deno's own cost of its two sockets`,
    );
  } finally {
    closeAll(open);
    relay.kill();
    reader.releaseLock();
    await relay.stdout.cancel();
    await relay.status;
  }
}

/**
 * Opens `count` idle visitor connections to `port` for
 * `host`: half wait for an answer that does not come (`/hold`), half had
 * theirs and rest, kept alive.
 */
async function holdOpen(
  port: number,
  host: string,
  count = CONNECTIONS,
): Promise<Deno.TcpConn[]> {
  const open: Deno.TcpConn[] = [];
  while (open.length < count) {
    const batch = await Promise.all(
      Array.from({ length: AT_ONCE }, async (_, i) => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        const hold = (open.length + i) % 2 === 0;
        await conn.write(
          enc.encode(
            `GET ${hold ? "/hold" : "/"} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
          ),
        );
        if (!hold) {
          const r = await new ResponseReader(conn).next();
          if (r.status !== 200) throw new Error(`status ${r.status}`);
        }
        return conn;
      }),
    );
    open.push(...batch);
  }
  return open;
}

/**
 * The app as a process of its own (bench/backend.ts, `/hold` among its
 * paths): the visitors' ends here and the app's there each stay under the
 * open-file limit.
 */
async function startApp() {
  const app = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      new URL("./backend.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "inherit",
    env: { DENO_NO_UPDATE_CHECK: "1" },
  }).spawn();
  const reader = app.stdout.getReader();
  const line = new TextDecoder().decode((await reader.read()).value);
  return {
    port: Number(/listening (\d+)/.exec(line)![1]),
    async stop() {
      app.kill();
      reader.releaseLock();
      await app.stdout.cancel();
      await app.status;
    },
  };
}

/** Public connections the server relays now (its metrics). */
async function openAtServer(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`))
    .text();
  return Number(
    /^groktunnel_public_connections_open (\S+)$/m.exec(text)?.[1],
  );
}

function closeAll(conns: Deno.TcpConn[]): void {
  for (const c of conns) {
    try {
      c.close();
    } catch { /* closed */ }
  }
}

/** The server the scale and churn benches measure (plain `deno run`, limits raised). */
export async function startScaleServer(extra: string[] = []) {
  const metricsPort = freePort();
  const server = new Proc([
    "server",
    "-p",
    "0",
    "--max-tunnels",
    "20000",
    "--max-tunnels-per-ip",
    "20000",
    "--max-connections",
    "20000",
    "--metrics",
    `127.0.0.1:${metricsPort}`,
    ...extra,
  ]);
  const port = Number(
    (await server.waitFor("stderr", /listening on 127\.0\.0\.1:(\d+)/))[1],
  );
  return { server, port, metricsPort };
}
