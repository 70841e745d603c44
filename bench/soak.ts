/**
 * `deno task bench --only soak [--minutes N]`: honest traffic beside
 * abusers and killed clients, for N minutes (10 by default), against a
 * server and a client run as users run them (plain `deno run`, no V8
 * flags). Reports what the honest traffic got (byte-exact or not, p50/p99
 * of a small request), what each abuse did, and the RSS of the server and
 * the client over time: flat after the warm-up, or not.
 *
 * Loopback only; every loop is bounded by the soak's end. Not part of CI.
 */

import { createHash } from "node:crypto";
import { startBackend } from "../tests/backend.ts";
import { pattern } from "../tests/helpers.ts";
import { Proc, ResponseReader, startClientProc } from "../tests/process.ts";

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** RSS in MB of a process (through cat: /proc needs -A to read). */
async function rssOf(pid: number): Promise<number> {
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
  }).output();
  const m = /VmRSS:\s+(\d+)/.exec(new TextDecoder().decode(out.stdout));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** One HTTP/1.1 request on `conn`; the response (Content-Length bodies). */
async function request(
  conn: Deno.Conn,
  reader: ResponseReader,
  head: string,
  body?: Uint8Array,
) {
  await conn.write(encoder.encode(head));
  if (body) {
    let off = 0;
    while (off < body.length) off += await conn.write(body.subarray(off));
  }
  return await reader.next();
}

/** Counts by name. */
class Tally {
  counts = new Map<string, number>();
  add(name: string, n = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }
  toString(): string {
    return [...this.counts].map(([k, v]) => `${k} ${v}`).join(", ");
  }
}

/** Runs the soak; prints its report. */
export async function soak(minutes: number): Promise<void> {
  const end = Date.now() + minutes * 60_000;
  const backend = startBackend();
  const server = new Proc(["server", "-p", "0"]);
  const port = Number(
    (await server.waitFor("stderr", /listening on 127\.0\.0\.1:([0-9]+)/))[1],
  );
  const honest = await startClientProc(backend.addr.port, port, [
    "--subdomain",
    "honest",
    "--quiet",
  ]);
  const host = honest.url.host;
  const ok = new Tally(), bad = new Tally(), abuse = new Tally();
  const latencies: number[] = [];
  const samples: Array<[number, number, number]> = [];
  const started = Date.now();
  const live = () => Date.now() < end;
  const download = pattern(1 << 20, 5); // what /bytes/1048576 answers
  const upload = pattern(1 << 20, 9);
  const uploadHash = hex(upload);

  // Honest traffic: keep-alive small requests, new connections, 1 MiB
  // down and up, each checked byte for byte.
  const keepAlive = async () => {
    while (live()) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const reader = new ResponseReader(conn);
      try {
        for (let i = 0; i < 200 && live(); i++) {
          const t0 = performance.now();
          const r = await request(
            conn,
            reader,
            `GET /hello?i=${i} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
          );
          latencies.push(performance.now() - t0);
          const text = new TextDecoder().decode(r.body);
          if (r.status === 200 && text === `hello ?i=${i}`) ok.add("small");
          else bad.add(`small ${r.status}`);
        }
      } catch (err) {
        bad.add(`small: ${(err as Error).message.slice(0, 40)}`);
      } finally {
        conn.close();
      }
    }
  };
  const bulk = async () => {
    while (live()) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const reader = new ResponseReader(conn);
      try {
        const down = await request(
          conn,
          reader,
          `GET /bytes/${1 << 20} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
        );
        if (down.status === 200 && hex(down.body) === hex(download)) {
          ok.add("download");
        } else bad.add(`download ${down.status}`);
        const up = await request(
          conn,
          reader,
          `POST /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${upload.length}\r\n\r\n`,
          upload,
        );
        const seen = JSON.parse(new TextDecoder().decode(up.body));
        if (seen.sha256 === uploadHash) ok.add("upload");
        else bad.add("upload");
      } catch (err) {
        bad.add(`bulk: ${(err as Error).message.slice(0, 40)}`);
      } finally {
        conn.close();
      }
    }
  };

  // Abusers, each in turn, all through the soak.
  const control = async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(encoder.encode(
      `GET / HTTP/1.1\r\nHost: localhost:${port}\r\nX-Groktunnel-Client: soak\r\nX-Groktunnel-Features: ping\r\n\r\n`,
    ));
    const buf = new Uint8Array(4096);
    let got = "";
    while (!got.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += new TextDecoder().decode(buf.subarray(0, n));
    }
    return conn;
  };
  const flood = async (message: number[], what: string) => {
    const conn = await control();
    const block = new Uint8Array(64 * 1024 - (64 * 1024) % message.length);
    for (let i = 0; i < block.length; i += message.length) {
      block.set(message, i);
    }
    let sent = 0;
    const stop = Date.now() + 5000;
    try {
      while (Date.now() < stop) {
        let off = 0;
        while (off < block.length) {
          const n = await Promise.race([
            conn.write(block.subarray(off)),
            sleep(stop - Date.now()).then(() => 0),
          ]);
          if (n === 0 && Date.now() >= stop) break;
          off += n;
        }
        sent += off;
      }
    } catch { /* cut off by the server */ }
    conn.close();
    abuse.add(`${what} MiB sent`, Math.round(sent / (1 << 20)));
  };
  const stalledDownloads = async () => {
    const conns: Deno.Conn[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      await c.write(encoder.encode(
        `GET /bytes/${64 << 20} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      ));
      conns.push(c);
    }
    await sleep(15_000);
    for (const c of conns) c.close();
    abuse.add("stalled downloads", conns.length);
  };
  const confetti = async () => {
    const wire = new Uint8Array((1 << 20) * 6 + 5);
    for (let i = 0; i < 1 << 20; i++) {
      wire.set([0x31, 13, 10, 0x61, 13, 10], i * 6);
    }
    wire.set(encoder.encode("0\r\n\r\n"), (1 << 20) * 6);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(encoder.encode(
        `POST /upload HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      ));
      let off = 0;
      while (off < wire.length) off += await conn.write(wire.subarray(off));
      const r = await new ResponseReader(conn).next();
      abuse.add(`confetti upload ${r.status}`);
    } catch (err) {
      abuse.add(`confetti: ${(err as Error).message.slice(0, 40)}`);
    } finally {
      conn.close();
    }
  };
  const slowHeads = async () => {
    const conns: Deno.Conn[] = [];
    for (let i = 0; i < 200; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      await c.write(encoder.encode("GET / HTTP/1.1\r\nHo"));
      conns.push(c);
    }
    await sleep(12_000);
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    abuse.add("slow heads", conns.length);
  };
  const killedClient = async () => {
    const c = await startClientProc(backend.addr.port, port, ["--quiet"]);
    const conns = [];
    for (let i = 0; i < 5; i++) {
      const v = await Deno.connect({ hostname: "127.0.0.1", port });
      await v.write(encoder.encode(
        `GET /bytes/${16 << 20} HTTP/1.1\r\nHost: ${c.url.host}\r\n\r\n`,
      ));
      conns.push(v);
    }
    await sleep(2000);
    c.client.child.kill("SIGKILL");
    await c.client.done;
    for (const v of conns) v.close();
    abuse.add("clients killed");
  };
  const abusers = async () => {
    const all = [
      () => flood([100, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 128, 0], "OPEN flood"),
      () => flood([107, 0, 0, 0, 7], "PING flood"),
      stalledDownloads,
      confetti,
      slowHeads,
      killedClient,
    ];
    for (let i = 0; live(); i++) {
      await all[i % all.length]!().catch((err) =>
        abuse.add(`error: ${(err as Error).message.slice(0, 40)}`)
      );
      await sleep(5000);
    }
  };
  const sampler = async () => {
    while (live()) {
      samples.push([
        (Date.now() - started) / 1000,
        await rssOf(server.child.pid),
        await rssOf(honest.client.child.pid),
      ]);
      await sleep(10_000);
    }
  };

  console.log(
    `soak: ${minutes} min; server :${port}, honest tunnel ${host}; RSS every 10 s`,
  );
  await Promise.all([
    keepAlive(),
    keepAlive(),
    bulk(),
    abusers(),
    sampler(),
  ]);
  await honest.client.stop("SIGINT");
  await server.stop();
  await backend.shutdown();

  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]
      ?.toFixed(2);
  console.log("\n| t (s) | server RSS MB | client RSS MB |\n|---|---|---|");
  for (const [t, s, c] of samples) {
    console.log(`| ${t.toFixed(0)} | ${s.toFixed(0)} | ${c.toFixed(0)} |`);
  }
  const after = samples.filter(([t]) => t >= 60);
  const range = (k: 1 | 2) =>
    after.length
      ? `${Math.min(...after.map((s) => s[k])).toFixed(0)}–${
        Math.max(...after.map((s) => s[k])).toFixed(0)
      } MB`
      : "n/a";
  console.log(`
honest: ${ok}; failed or wrong: ${bad.toString() || "none"}
small request over keep-alive: p50 ${pct(0.5)} ms, p99 ${
    pct(0.99)
  } ms (${latencies.length} requests)
abuse: ${abuse}
RSS after the first minute: server ${range(1)}, client ${range(2)}`);
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--minutes");
  await soak(i >= 0 ? Number(Deno.args[i + 1]) : 10);
}
