/**
 * `deno task bench`: the tunnel beside a direct connection, same machine,
 * same run. Starts the backend (bench/backend.ts), a server and a client
 * (main.ts) as separate processes, drives them with wrk and curl, and prints
 * a table of both with their ratio and the goal of issue 5.
 * Loopback only; about three minutes. Options: `--seconds N` per wrk run,
 * `--only plain|https|features|tcp|acme|cluster` for a part of the table,
 * `--only soak [--minutes N]` for the soak (bench/soak.ts; not in the
 * full run).
 */

import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { BLOCK, block } from "./backend.ts";
import { HOST, makeCerts, makeLocalhostCert } from "../tests/certs.ts";
import { freePort } from "../tests/process.ts";
import { createSocket } from "node:dgram";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "5" },
    // Only some rows: "plain" or "https".
    only: { type: "string" },
    minutes: { type: "string", default: "10" },
  },
});
if (values.only === "soak") {
  const { soak } = await import("./soak.ts");
  await soak(Number(values.minutes));
  Deno.exit(0);
}
const SECONDS = Number(values.seconds);
const MiB = 1024 * 1024, GiB = 1024 * MiB;
const root = new URL("../", import.meta.url).pathname;

/** Whether `tool` is on the PATH. */
async function has(tool: string): Promise<boolean> {
  const found = await new Deno.Command("sh", {
    args: ["-c", `command -v ${tool}`],
    stdout: "null",
  }).output();
  return found.success;
}

for (const tool of ["wrk", "curl"]) {
  if (!(await has(tool))) {
    console.error(
      `bench needs ${tool}: install it with  apt-get install -y wrk curl`,
    );
    Deno.exit(1);
  }
}

/** A child process whose output we watch for a line. */
function spawn(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  }).spawn();
  let out = "";
  const waiters: Array<() => void> = [];
  for (const s of [child.stdout, child.stderr]) {
    (async () => {
      for await (const t of s.pipeThrough(new TextDecoderStream())) {
        out += t;
        waiters.splice(0).forEach((w) => w());
      }
    })();
  }
  return {
    child,
    async waitFor(re: RegExp): Promise<RegExpMatchArray> {
      const until = Date.now() + 20_000;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (Date.now() > until) throw new Error(`no ${re}: ${out}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
  };
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" })
    .output().then((o) => {
      const text = new TextDecoder().decode(o.stdout);
      if (!o.success) {
        throw new Error(`${cmd} failed: ${new TextDecoder().decode(o.stderr)}`);
      }
      return text;
    });
}

/** Peak resident memory in MB (through cat: Deno guards /proc behind -A). */
async function peakRss(pid: number): Promise<number> {
  const status = await run("cat", [`/proc/${pid}/status`]);
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

interface Target {
  name: string;
  port: number;
  host: string;
  /** For https targets: the CA to trust and the name to ask for. */
  tls?: { ca: string; name: string };
}

/** curl's arguments to reach `path` on `t`. */
function curlTarget(t: Target, path: string): string[] {
  return t.tls
    ? [
      "--cacert",
      t.tls.ca,
      "--resolve",
      `${t.tls.name}:${t.port}:127.0.0.1`,
      `https://${t.tls.name}:${t.port}${path}`,
    ]
    : ["-H", `Host: ${t.host}`, `http://127.0.0.1:${t.port}${path}`];
}

async function wrk(t: Target, close: boolean, share = 1) {
  // `share` 2: one of two wrk runs at once, each with half the load.
  const args = [
    `-t${2 / share}`,
    `-c${50 / share}`,
    `-d${SECONDS}s`,
    "--latency",
    "-H",
    `Host: ${t.host}`,
  ];
  if (close) args.push("-H", "Connection: close");
  const scheme = t.tls ? "https" : "http";
  const out = await run("wrk", [...args, `${scheme}://127.0.0.1:${t.port}/`]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
  const pct = (p: string) =>
    /(\d+\.\d+)(us|ms|s)\b/.exec(
      new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(out)![1]!,
    )!;
  const ms = (m: RegExpExecArray) =>
    Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 }[m[2] as "us"]);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? "0";
  const sockErr = /Socket errors: (.*)/.exec(out)?.[1];
  return {
    rps,
    p50: ms(pct("50")),
    p99: ms(pct("99")),
    errors: Number(errors),
    sockErr,
  };
}

async function curlDown(t: Target, bytes: number) {
  const out = await run("curl", [
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{speed_download} %{size_download} %{http_code}",
    ...curlTarget(t, `/bytes/${bytes}`),
  ]);
  const [speed, size, code] = out.split(" ").map(Number);
  if (size !== bytes || code !== 200) throw new Error(`download: ${out}`);
  return speed! / 1e6;
}

async function curlUp(t: Target, file: string, bytes: number) {
  const out = await run("curl", [
    "-sS",
    "-T",
    file,
    "-w",
    "\n%{speed_upload}",
    ...curlTarget(t, "/upload"),
  ]);
  const [json, speed] = out.trim().split("\n");
  const r = JSON.parse(json!);
  if (r.length !== bytes) throw new Error(`upload: ${out}`);
  return { mbps: Number(speed) / 1e6, sha256: r.sha256 as string };
}

async function downSha(t: Target, bytes: number): Promise<string> {
  const out = await run("sh", [
    "-c",
    `curl -sS -H 'Host: ${t.host}' http://127.0.0.1:${t.port}/bytes/${bytes} | sha256sum`,
  ]);
  return out.split(" ")[0]!;
}

/** 1,000 connections opened at once, one request each; ms until all answered. */
async function thousand(t: Target) {
  const req = new TextEncoder().encode(
    `GET / HTTP/1.1\r\nHost: ${t.host}\r\nConnection: close\r\n\r\n`,
  );
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: 1000 }, async () => {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
      await c.write(req);
      const buf = new Uint8Array(4096);
      let text = "";
      for (;;) {
        const n = await c.read(buf);
        if (n === null) break;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
      c.close();
      return text.startsWith("HTTP/1.1 200");
    } catch {
      return false;
    }
  }));
  return {
    ms: performance.now() - started,
    ok: results.filter(Boolean).length,
  };
}

function expectedSha(bytes: number): string {
  const h = createHash("sha256");
  const b = block();
  for (let left = bytes; left > 0; left -= BLOCK) {
    h.update(b.subarray(0, Math.min(left, BLOCK)));
  }
  return h.digest("hex");
}

async function fileOf(bytes: number): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "groktunnel-bench-" });
  const f = await Deno.open(path, { write: true });
  const b = block();
  for (let left = bytes; left > 0; left -= BLOCK) {
    await f.write(b.subarray(0, Math.min(left, BLOCK)));
  }
  f.close();
  return path;
}

const backend = spawn(["run", "--allow-net", "bench/backend.ts"]);
const backendPort = Number((await backend.waitFor(/listening (\d+)/))[1]);
// Server and client run as `deno task start` runs them (small young generation).
const V8 = Deno.env.get("BENCH_V8") ?? "--v8-flags=--max-semi-space-size=2";

/** main.ts with `args`, run as `deno task start` runs it (plus `denoFlags`). */
function groktunnel(args: string[], denoFlags: string[] = []) {
  return spawn([
    "run",
    "--allow-net",
    "--allow-env",
    ...denoFlags,
    V8,
    "main.ts",
    ...args,
  ]);
}
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

const rows: string[][] = [];
/** Shows which workload raised memory: peak RSS so far, on stderr. */
const progress = (what: string) => progressOf(what, server, client);
async function progressOf(
  what: string,
  server: ReturnType<typeof spawn>,
  client: ReturnType<typeof spawn>,
) {
  const [s, c] = await Promise.all([
    peakRss(server.child.pid),
    peakRss(client.child.pid),
  ]);
  console.error(
    `after ${what}: peak RSS server ${s.toFixed(0)} MB, client ${
      c.toFixed(0)
    } MB`,
  );
}
const row = (
  what: string,
  d: number,
  t: number,
  unit: string,
  goal: number | undefined,
  extra = "",
) => {
  const ratio = t / d;
  rows.push([
    what,
    `${d.toFixed(0)} ${unit}`,
    `${t.toFixed(0)} ${unit}`,
    `${ratio.toFixed(2)}×`,
    goal === undefined ? "" : `≥ ${goal}×`,
    goal === undefined ? "" : ratio >= goal ? "yes" : "no",
    extra,
  ]);
};
/** The middle of `xs` (the mean of the two middle ones for an even count). */
function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Two targets loaded at the same time, each by its own wrk with half the
 * connections, for one row: whatever the machine does during a run (and on
 * two shared cores it does a lot) happens to both. One warm-up round, then
 * {@linkcode PAIRS} rounds; the median of each target, the median of the
 * rounds' ratios `b / a`, and every round in the notes. For a feature on
 * beside the same client with it off.
 */
async function sideBySide(
  label: string,
  a: { name: string; target: Target },
  b: { name: string; target: Target },
  goal: number,
): Promise<void> {
  const round = () =>
    Promise.all([wrk(a.target, false, 2), wrk(b.target, false, 2)]);
  await round();
  const runs = { a: [] as number[], b: [] as number[], r: [] as number[] };
  for (let i = 0; i < PAIRS; i++) {
    const [x, y] = await round();
    runs.a.push(x.rps);
    runs.b.push(y.rps);
    runs.r.push(y.rps / x.rps);
  }
  const ratio = median(runs.r);
  rows.push([
    label,
    `${median(runs.a).toFixed(0)} (${a.name})`,
    `${median(runs.b).toFixed(0)} (${b.name})`,
    `${ratio.toFixed(2)}×`,
    `≥ ${goal}×`,
    ratio >= goal ? "yes" : "no",
    `side by side, median of rounds' ratios ${
      runs.r.map((x) => x.toFixed(2)).join("/")
    }`,
  ]);
}

/** Alternated runs of each target in a row (after one warm-up run each). */
const PAIRS = 5;
/**
 * Two targets run alternately for one row: one warm-up run each (its number
 * dropped: the JIT is still compiling), then {@linkcode PAIRS} runs each,
 * in the order a b, b a, a b…; the median of each (one run disturbed by the machine moves a
 * mean, not a median), their ratio `b / a`, and every run in the notes.
 */
async function alternate(
  label: string,
  a: { name: string; target: Target },
  b: { name: string; target: Target },
  close: boolean,
  goal: number | undefined,
  note = "",
): Promise<void> {
  await wrk(a.target, close);
  await wrk(b.target, close);
  const runs = { a: [] as number[], b: [] as number[] };
  // a b, b a, a b, …: whatever favours a run's place in a pair (or drifts)
  // falls on both.
  for (let i = 0; i < PAIRS; i++) {
    for (const which of i % 2 ? ["b", "a"] as const : ["a", "b"] as const) {
      runs[which].push((await wrk((which === "a" ? a : b).target, close)).rps);
    }
  }
  const ratio = median(runs.b) / median(runs.a);
  const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join("/");
  rows.push([
    label,
    `${median(runs.a).toFixed(0)} (${a.name})`,
    `${median(runs.b).toFixed(0)} (${b.name})`,
    `${ratio.toFixed(2)}×`,
    goal === undefined ? "" : `≥ ${goal}×`,
    goal === undefined ? "" : ratio >= goal ? "yes" : "no",
    `medians; runs ${a.name} ${list(runs.a)}, ${b.name} ${list(runs.b)}${note}`,
  ]);
}
const files: string[] = [];
const extra: Array<ReturnType<typeof spawn>> = [];
try {
  const only = values.only;
  if (!only || only === "plain") await plainRows();
  if (!only || only === "https") await httpsRows();
  if (!only || only === "features") await featureRows();
  if (!only || only === "tcp") await tcpRows();
  if (!only || only === "acme") await acmeRows();
  if (!only || only === "cluster") await clusterRows();
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

/** The plain rows: the backend directly, and through a plain tunnel. */
async function plainRows(): Promise<void> {
  for (
    const [what, close, goal] of [["keep-alive req/s", false, 0.45], [
      "new connection req/s",
      true,
      0.40,
    ]] as const
  ) {
    const d = await wrk(direct, close);
    const t = await wrk(tunnel, close);
    await progress(what);
    row(
      what,
      d.rps,
      t.rps,
      "",
      goal,
      `p50 ${d.p50.toFixed(2)}/${t.p50.toFixed(2)} ms, p99 ${
        d.p99.toFixed(2)
      }/${t.p99.toFixed(2)} ms; non-2xx ${d.errors}/${t.errors}${
        t.sockErr ? `; tunnel socket errors: ${t.sockErr}` : ""
      }`,
    );
  }
  const dDown = await curlDown(direct, GiB),
    tDown = await curlDown(tunnel, GiB);
  await progress("1 GiB download");
  row("1 GiB download MB/s", dDown, tDown, "", 0.20);
  const big = await fileOf(GiB);
  files.push(big);
  const dUp = await curlUp(direct, big, GiB),
    tUp = await curlUp(tunnel, big, GiB);
  row(
    "1 GiB upload MB/s",
    dUp.mbps,
    tUp.mbps,
    "",
    undefined,
    tUp.sha256 === dUp.sha256 ? "same SHA-256" : "SHA-256 DIFFERS",
  );
  await progress("1 GiB upload");
  const dK = await thousand(direct), tK = await thousand(tunnel);
  await progress("1,000 at once");
  rows.push([
    "1,000 at once",
    `${dK.ms.toFixed(0)} ms, ${dK.ok} ok`,
    `${tK.ms.toFixed(0)} ms, ${tK.ok} ok`,
    `${(tK.ms / dK.ms).toFixed(2)}× time`,
    "all answered",
    tK.ok === 1000 ? "yes" : "no",
    "",
  ]);
  const want = expectedSha(64 * MiB);
  const gotDown = await downSha(tunnel, 64 * MiB);
  const small = await fileOf(64 * MiB);
  files.push(small);
  const gotUp = (await curlUp(tunnel, small, 64 * MiB)).sha256;
  rows.push([
    "integrity 64 MiB each way",
    "",
    `${gotDown === want ? "down ok" : "DOWN BAD"}, ${
      gotUp === want ? "up ok" : "UP BAD"
    }`,
    "",
    "SHA-256 equal",
    gotDown === want && gotUp === want ? "yes" : "no",
    "",
  ]);
  const sRss = await peakRss(server.child.pid),
    cRss = await peakRss(client.child.pid);
  rows.push([
    "peak RSS server / client",
    "",
    `${sRss.toFixed(0)} / ${cRss.toFixed(0)} MB`,
    "",
    "≤ 80 MB each",
    sRss <= 80 && cRss <= 80 ? "yes" : "no",
    "",
  ]);
}

/**
 * TCP tunnels: the same backend through a TCP tunnel (raw bytes, no name
 * routing) beside it directly: bulk MB/s and a new connection per request.
 */
async function tcpRows(): Promise<void> {
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
    String(backendPort),
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
  const d = await wrk(direct, true), t = await wrk(through, true);
  row("tcp: new connection req/s", d.rps, t.rps, "", 0.40);
  const dDown = await curlDown(direct, GiB),
    tDown = await curlDown(through, GiB);
  row("tcp: 1 GiB download MB/s", dDown, tDown, "", 0.20);
}

/**
 * A feature on beside the same run with it off: keep-alive req/s through a
 * client that rewrites request heads (the default: forwarded headers) and
 * one with `--forwarded-headers off`, and the inspector on beside
 * `--no-inspect`; same server and backend, runs alternated (see
 * {@linkcode alternate}) and both loaded at once ({@linkcode sideBySide}).
 */
async function featureRows(): Promise<void> {
  /** A client with `flags` beside the others (quiet: see the README). */
  const another = async (label: string, flags: string[]) => {
    const c = groktunnel([
      String(backendPort),
      "-p",
      String(serverPort),
      "--quiet",
      ...flags,
    ]);
    extra.push(c);
    const u = new URL((await c.waitFor(/^(http:\/\/\S+)$/m))[1]!);
    return { name: label, port: serverPort, host: u.host } as Target;
  };
  /** A second client with `offFlags` against the main one, or one with `onFlags`. */
  const compare = async (
    label: string,
    offFlags: string[],
    onFlags?: string[],
  ) => {
    const off = await another(label, offFlags);
    const on = onFlags ? await another(label, onFlags) : tunnel;
    const a = { name: "off", target: off }, b = { name: "on", target: on };
    // Alone at full load, as a user runs one client (noisy: ±10% a run
    // here), then both at once (precise, and gentler: each carries half).
    await alternate(`${label}, alternated`, a, b, false, 0.9);
    await sideBySide(`${label}, side by side`, a, b, 0.9);
  };
  await compare("keep-alive: inspector on vs --no-inspect", ["--no-inspect"]);
  // The same with every request captured, however many come (no rate).
  await compare(
    "keep-alive: inspector capturing all (--inspect-rate 0) vs --no-inspect",
    ["--no-inspect"],
    ["--inspect-rate", "0"],
  );
  await compare("keep-alive: forwarded headers on vs off", [
    "--forwarded-headers",
    "off",
  ]);
}

/**
 * The same workloads over https: the backend served directly by Deno.serve
 * with the certificate, beside a TLS-ending server and a client reaching it
 * over TLS (the backend behind the tunnel stays plain, as a local app is).
 */
async function httpsRows(): Promise<void> {
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
    String(backendPort),
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

/**
 * Automatic certificates: https through a server with `--acme` (its
 * certificate from pebble, its DNS answering) beside one with the same kind
 * of key from files; runs alternated. Then what the DNS server answers per
 * second over UDP, with the rate limit lifted.
 */
async function acmeRows(): Promise<void> {
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
        String(backendPort),
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

/**
 * Several nodes: a request that enters at a node that does not hold the
 * tunnel (one hop more) beside one that enters at the holder; one etcd,
 * two nodes, runs alternated.
 */
async function clusterRows(): Promise<void> {
  if (!(await has("etcd"))) {
    console.error("cluster rows need etcd: apt-get install -y etcd-server");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "groktunnel-bench-etcd-" });
  files.push(dir);
  const client = freePort(), peer = freePort();
  const etcd = new Deno.Command("etcd", {
    args: [
      "--data-dir",
      dir,
      "--listen-client-urls",
      `http://127.0.0.1:${client}`,
      "--advertise-client-urls",
      `http://127.0.0.1:${client}`,
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
      const ok = await fetch(`http://127.0.0.1:${client}/v3/kv/range`, {
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
        `etcd://127.0.0.1:${client}`,
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
        String(backendPort),
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

/** Answers per second to A queries for `name`, 64 outstanding. */
async function dnsLoad(port: number, name: string): Promise<number> {
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
  const until = Date.now() + SECONDS * 1000;
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
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  clearInterval(timer);
  sock.close();
  return answers / ((Date.now() - start) / 1000);
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
