/**
 * The bench's harness: child processes, wrk and curl runs, the table's rows
 * and the two ways of comparing a pair of targets (alternated runs, and
 * both loaded at once). The scenarios (bench/scenarios/) use it.
 */

import { createHash } from "node:crypto";
import { BLOCK, block } from "./backend.ts";

/** Seconds per wrk run (`--seconds`). */
export const settings = { seconds: 5 };
/** Sizes. */
export const MiB = 1024 * 1024, GiB = 1024 * MiB;
/** The repository's root. */
export const root = new URL("../", import.meta.url).pathname;

/** Whether `tool` is on the PATH. */
export async function has(tool: string): Promise<boolean> {
  const found = await new Deno.Command("sh", {
    args: ["-c", `command -v ${tool}`],
    stdout: "null",
  }).output();
  return found.success;
}

/** A child process whose output we watch for a line. */
export function spawn(args: string[]) {
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

export function run(cmd: string, args: string[]): Promise<string> {
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
export async function peakRss(pid: number): Promise<number> {
  const status = await run("cat", [`/proc/${pid}/status`]);
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

export interface Target {
  name: string;
  port: number;
  host: string;
  /** For https targets: the CA to trust and the name to ask for. */
  tls?: { ca: string; name: string };
}

/** curl's arguments to reach `path` on `t`. */
export function curlTarget(t: Target, path: string): string[] {
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

export async function wrk(t: Target, close: boolean, share = 1) {
  // `share` 2: one of two wrk runs at once, each with half the load.
  const args = [
    `-t${2 / share}`,
    `-c${50 / share}`,
    `-d${settings.seconds}s`,
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

export async function curlDown(t: Target, bytes: number) {
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

export async function curlUp(t: Target, file: string, bytes: number) {
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

export async function downSha(t: Target, bytes: number): Promise<string> {
  const out = await run("sh", [
    "-c",
    `curl -sS -H 'Host: ${t.host}' http://127.0.0.1:${t.port}/bytes/${bytes} | sha256sum`,
  ]);
  return out.split(" ")[0]!;
}

/** 1,000 connections opened at once, one request each; ms until all answered. */
export async function thousand(t: Target) {
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

export function expectedSha(bytes: number): string {
  const h = createHash("sha256");
  const b = block();
  for (let left = bytes; left > 0; left -= BLOCK) {
    h.update(b.subarray(0, Math.min(left, BLOCK)));
  }
  return h.digest("hex");
}

export async function fileOf(bytes: number): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "groktunnel-bench-" });
  const f = await Deno.open(path, { write: true });
  const b = block();
  for (let left = bytes; left > 0; left -= BLOCK) {
    await f.write(b.subarray(0, Math.min(left, BLOCK)));
  }
  f.close();
  return path;
}

// Server and client run as `deno task start` runs them (small young generation).
export const V8 = Deno.env.get("BENCH_V8") ??
  "--v8-flags=--max-semi-space-size=2";

/** main.ts with `args`, run as `deno task start` runs it (plus `denoFlags`). */
export function groktunnel(args: string[], denoFlags: string[] = []) {
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

export const rows: string[][] = [];
export async function progressOf(
  what: string,
  server: Proc,
  client: Proc,
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
export const row = (
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
export function median(xs: number[]): number {
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
export async function sideBySide(
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
export const PAIRS = 5;
/**
 * Two targets run alternately for one row: one warm-up run each (its number
 * dropped: the JIT is still compiling), then {@linkcode PAIRS} runs each,
 * in the order a b, b a, a b…; the median of each (one run disturbed by the machine moves a
 * mean, not a median), their ratio `b / a`, and every run in the notes.
 */
export async function alternate(
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

/** Temporary files and directories to remove at the end. */
export const files: string[] = [];
/** More processes to stop at the end. */
export const extra: Proc[] = [];

/** A child process started by {@linkcode spawn}. */
export type Proc = ReturnType<typeof spawn>;

/** The backend, the main server and client, as every scenario finds them. */
export interface Setup {
  /** The backend's port. */
  backendPort: number;
  /** The main server and its port. */
  server: Proc;
  serverPort: number;
  /** The main client (inspector on, quiet). */
  client: Proc;
  /** The backend directly, and through the main tunnel. */
  direct: Target;
  tunnel: Target;
  /** Shows which workload raised memory: peak RSS so far, on stderr. */
  progress(what: string): Promise<void>;
}

/**
 * A server with `flags` beside the main one, and a client on it for each
 * of `clients` (their extra flags; a pool's first member's printed secret
 * goes to the next ones), as the main one runs.
 */
export async function serverWithClients(
  s: Setup,
  name: string,
  flags: string[],
  clients: string[][] = [[]],
): Promise<Target> {
  const server = groktunnel([
    "server",
    "-p",
    "0",
    "--max-connections",
    "4096",
    ...flags,
  ]);
  extra.push(server);
  const port = Number(
    (await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1],
  );
  let url: URL | undefined, secret: string | undefined;
  for (const more of clients) {
    const client = groktunnel([
      String(s.backendPort),
      "-p",
      String(port),
      "--quiet",
      ...more,
      ...(secret ? ["--pool-secret", secret] : []),
    ]);
    extra.push(client);
    url = new URL((await client.waitFor(/^(http:\/\/\S+)$/m))[1]!);
    if (more.includes("--pool") && !secret) {
      secret = (await client.waitFor(/pool secret (\S+)/))[1];
    }
  }
  return { name, port, host: url!.host };
}
