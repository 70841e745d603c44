/** Test helpers for real processes of main.ts and raw HTTP on loopback. */

import { decoder, encoder, readWithin } from "./helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A running `main.ts` with its output collected. */
export class Proc {
  readonly child: Deno.ChildProcess;
  stdout = "";
  stderr = "";
  #changed: Array<() => void> = [];
  readonly done: Promise<Deno.CommandStatus>;

  constructor(
    args: string[],
    env: Record<string, string> = {},
    denoFlags: string[] = [],
  ) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-env", ...denoFlags, MAIN, ...args],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...env },
    }).spawn();
    const collect = async (
      s: ReadableStream<Uint8Array>,
      key: "stdout" | "stderr",
    ) => {
      for await (const text of s.pipeThrough(new TextDecoderStream())) {
        this[key] += text;
        for (const wake of this.#changed.splice(0)) wake();
      }
    };
    const streams = Promise.all([
      collect(this.child.stdout, "stdout"),
      collect(this.child.stderr, "stderr"),
    ]);
    this.done = streams.then(() => this.child.status);
  }

  /** Waits until `re` matches the stream's text (or fails after `ms`). */
  async waitFor(
    key: "stdout" | "stderr",
    re: RegExp,
    ms = 15_000,
  ): Promise<RegExpMatchArray> {
    const until = Date.now() + ms;
    for (;;) {
      const m = this[key].match(re);
      if (m) return m;
      const left = until - Date.now();
      if (left <= 0) {
        throw new Error(
          `no ${re} on ${key} within ${ms} ms; stdout: ${this.stdout}; stderr: ${this.stderr}`,
        );
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.#changed.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Sends `signal` and waits for the exit (killing it if it takes over `ms`). */
  async stop(
    signal: Deno.Signal = "SIGTERM",
    ms = 15_000,
  ): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
    const t = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
    }, ms);
    try {
      return await this.done;
    } finally {
      clearTimeout(t);
    }
  }
}

/** Starts a server on `port` (0: any); resolves with it and its port. */
export async function startServerProc(
  port = 0,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<{ server: Proc; port: number }> {
  const server = new Proc(["server", "-p", String(port), ...extra], env);
  const m = await server.waitFor(
    "stderr",
    /listening on 127\.0\.0\.1:([0-9]+)/,
  );
  return { server, port: Number(m[1]) };
}

/** Starts a client for `localPort`; resolves with it and its public URL. */
export async function startClientProc(
  localPort: number,
  serverPort: number,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<{ client: Proc; url: URL }> {
  const client = new Proc([
    String(localPort),
    "-p",
    String(serverPort),
    ...extra,
  ], env);
  const m = await client.waitFor("stdout", /^(http:\/\/\S+)$/m);
  return { client, url: new URL(m[1]!) };
}

/** A port that was free a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

/** A parsed HTTP response. */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Uint8Array;
}

/** Reads HTTP/1.1 responses (Content-Length bodies) off one connection. */
export class ResponseReader {
  #conn: { read(p: Uint8Array): Promise<number | null> };
  #buf = new Uint8Array(0);
  constructor(conn: { read(p: Uint8Array): Promise<number | null> }) {
    this.#conn = conn;
  }
  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await readWithin(this.#conn, chunk);
    if (n === null) return false;
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }
  /** The next response; with no Content-Length, the body runs to EOF. */
  async next(): Promise<RawResponse> {
    let end = -1;
    while ((end = decoder.decode(this.#buf).indexOf("\r\n\r\n")) < 0) {
      if (!await this.#fill()) {
        throw new Error(
          `EOF before a response head: ${decoder.decode(this.#buf)}`,
        );
      }
    }
    const headText = decoder.decode(this.#buf.subarray(0, end));
    const [statusLine, ...lines] = headText.split("\r\n");
    const headers = new Map<string, string>();
    for (const l of lines) {
      const c = l.indexOf(":");
      headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
    }
    const status = Number(statusLine!.split(" ")[1]);
    const start = encoder.encode(headText).length + 4;
    const length = headers.has("content-length")
      ? Number(headers.get("content-length"))
      : Infinity;
    while (this.#buf.length - start < length) {
      if (!await this.#fill()) {
        if (length === Infinity) break;
        throw new Error("EOF inside a response body");
      }
    }
    const stop = length === Infinity ? this.#buf.length : start + length;
    const body = this.#buf.slice(start, stop);
    this.#buf = this.#buf.slice(stop);
    return { status, headers, body };
  }
}

/** One request on a new raw connection to the server, as `Host: host`. */
export async function rawRequest(
  port: number,
  host: string,
  path = "/",
  extra = "",
): Promise<RawResponse & { text: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      encoder.encode(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${extra}\r\n`,
      ),
    );
    const r = await new ResponseReader(conn).next();
    return { ...r, text: decoder.decode(r.body) };
  } finally {
    conn.close();
  }
}

/** A process's resident memory in MB (from /proc; `cat`, as /proc needs -A to read). */
export async function rss(pid: number): Promise<number> {
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
  }).output();
  return Number(/VmRSS:\s+(\d+)/.exec(decoder.decode(out.stdout))![1]) /
    1024;
}
