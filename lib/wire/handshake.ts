/**
 * The control handshake (PROTOCOL.md §1): the client's `GET /` on the
 * bare server host and the server's answer, after which the same connection
 * carries the session. Extensions (§3) are request headers an old peer
 * ignores: our server works without them, and our client with a server that
 * never echoes them.
 */

import { Deadline, TIMED_OUT } from "../net/mod.ts";

/** The public name of the tunnel, `<sub>.<host>[:port]`. */
export const HEADER_PUBLIC_HOST = "x-public-host";
/** Sent by our client with its version; marks a tunnel request. */
export const HEADER_CLIENT = "x-groktunnel-client";
/** Features a side offers (client) or accepts (server), comma-separated. */
export const HEADER_FEATURES = "x-groktunnel-features";
/** A subdomain the client asks for. */
export const HEADER_SUBDOMAIN = "x-groktunnel-subdomain";
/** `<name> <secret>`: the client held this name before and wants it back. */
export const HEADER_RESUME = "x-groktunnel-resume";
/** The secret that proves, on reconnect, that this client held the name. */
export const HEADER_SECRET = "x-groktunnel-secret";
/** CIDR blocks allowed to reach the tunnel, comma-separated. */
export const HEADER_ALLOW_IP = "x-groktunnel-allow-ip";
/** CIDR blocks refused, comma-separated. */
export const HEADER_DENY_IP = "x-groktunnel-deny-ip";
/** The full public URL (`https://<name>.<host>`): tells our client the scheme. */
export const HEADER_URL = "x-groktunnel-url";
/** The liveness extension: PING/PONG (types 107/108) may be sent both ways. */
export const FEATURE_PING = "ping";
/** The pool extension: STATE/MEMBERS (types 109/110), PROTOCOL.md §6. */
export const FEATURE_POOL = "pool";
/** Asks to join (or start) the pool of the name: `join`. */
export const HEADER_POOL = "x-groktunnel-pool";
/** A pool's secret: the client's, to join; the server's answer, to share. */
export const HEADER_POOL_SECRET = "x-groktunnel-pool-secret";
/** The server's answer: how many members the pool has with this one. */
export const HEADER_POOL_MEMBERS = "x-groktunnel-pool-members";

/** Largest response head a client accepts. */
export const MAX_RESPONSE_HEAD = 16 * 1024;
/** How long each side waits for the other's part of the handshake (ms). */
export const HANDSHAKE_TIMEOUT = 10_000;

/** The handshake failed: the server refused, or the answer was not HTTP. */
export class HandshakeError extends Error {
  /** The HTTP status, when the server answered with one. */
  readonly status: number | undefined;
  /** Creates the error; `status` is the server's HTTP status, if any. */
  constructor(message: string, status?: number) {
    super(message);
    this.name = "HandshakeError";
    this.status = status;
  }
}

/** What the client asks for in its control request. */
export interface ControlRequest {
  /** Server host as the user named it. */
  host: string;
  /** Server port. */
  port: number;
  /** Our client's version. */
  version: string;
  /** A bearer token, when the server wants one. */
  token?: string | undefined;
  /** A requested subdomain. */
  subdomain?: string | undefined;
  /** The name and secret of a previous tunnel, to get the name back. */
  resume?: { name: string; secret: string } | undefined;
  /** Features offered. */
  features?: string[];
  /** CIDR blocks that may reach the tunnel (checked by the server). */
  allowIps?: readonly string[] | undefined;
  /** CIDR blocks refused by the server. */
  denyIps?: readonly string[] | undefined;
  /** `tcp` for a TCP tunnel (a public port); HTTP when left out. */
  protocol?: "http" | "tcp" | undefined;
  /** The public port a TCP tunnel asks for. */
  remotePort?: number | undefined;
  /** Join the name's pool (or start it), with its secret when known. */
  pool?: { secret: string | undefined } | undefined;
}

const enc = new TextEncoder();

/** Encodes the control request head. */
export function encodeControlRequest(req: ControlRequest): Uint8Array {
  const host = req.host.includes(":") ? `[${req.host}]` : req.host;
  const lines = [
    "GET / HTTP/1.1",
    `Host: ${host}:${req.port}`,
    `User-Agent: groktunnel/${req.version}`,
    `X-Groktunnel-Client: ${req.version}`,
  ];
  if (req.features?.length) {
    lines.push(`X-Groktunnel-Features: ${req.features.join(", ")}`);
  }
  if (req.token) lines.push(`Authorization: Bearer ${req.token}`);
  if (req.subdomain) lines.push(`X-Groktunnel-Subdomain: ${req.subdomain}`);
  if (req.resume) {
    lines.push(`X-Groktunnel-Resume: ${req.resume.name} ${req.resume.secret}`);
  }
  if (req.allowIps?.length) {
    lines.push(`X-Groktunnel-Allow-Ip: ${req.allowIps.join(", ")}`);
  }
  if (req.protocol === "tcp") lines.push("X-Groktunnel-Protocol: tcp");
  if (req.remotePort !== undefined) {
    lines.push(`X-Groktunnel-Remote-Port: ${req.remotePort}`);
  }
  if (req.denyIps?.length) {
    lines.push(`X-Groktunnel-Deny-Ip: ${req.denyIps.join(", ")}`);
  }
  if (req.pool) {
    lines.push("X-Groktunnel-Pool: join");
    if (req.pool.secret) {
      lines.push(`X-Groktunnel-Pool-Secret: ${req.pool.secret}`);
    }
  }
  return enc.encode(lines.join("\r\n") + "\r\n\r\n");
}

/** Encodes the server's 200: nothing may follow it until the first OPEN. */
export function encodeControlResponse(
  publicHost: string,
  extra: Record<string, string> = {},
): Uint8Array {
  let head = "HTTP/1.1 200 OK\r\n" +
    `X-Public-Host: ${publicHost}\r\n` +
    "Connection: close\r\n";
  for (const [k, v] of Object.entries(extra)) head += `${k}: ${v}\r\n`;
  return enc.encode(head + "\r\n");
}

/** Encodes a refusal with a one-line plain-text reason the client prints. */
export function encodeRefusal(
  status: number,
  reason: string,
  message: string,
): Uint8Array {
  const body = enc.encode(message + "\n");
  const head = enc.encode(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      "Content-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${body.length}\r\n` +
      "Connection: close\r\n\r\n",
  );
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** A parsed response head, and the bytes read past it (the session's start). */
export interface ResponseHead {
  /** Status code. */
  status: number;
  /** Header fields, names lower-cased (last one wins). */
  headers: Map<string, string>;
  /** Bytes that arrived after the blank line. */
  rest: Uint8Array;
}

/** Reads a response head from `conn`, within the size limit and `timeout` ms. */
export async function readResponseHead(
  conn: { read(p: Uint8Array): Promise<number | null> },
  timeout: number = HANDSHAKE_TIMEOUT,
): Promise<ResponseHead> {
  const buf = new Uint8Array(MAX_RESPONSE_HEAD);
  let len = 0;
  const deadline = new Deadline(timeout);
  try {
    for (;;) {
      if (len === buf.length) {
        throw new HandshakeError("Response head too large");
      }
      const n = await deadline.read(conn, buf.subarray(len));
      if (n === TIMED_OUT) {
        throw new HandshakeError(
          `No answer from the server within ${timeout} ms`,
        );
      }
      if (n === null) {
        throw new HandshakeError(
          "The server closed the connection during the handshake",
        );
      }
      const from = Math.max(0, len - 3);
      len += n;
      const end = indexOfBlankLine(buf.subarray(0, len), from);
      if (end < 0) continue;
      const lines = new TextDecoder().decode(buf.subarray(0, end)).split(
        "\r\n",
      );
      const m = /^HTTP\/1\.[01] ([0-9]{3})/.exec(lines[0]!);
      if (!m) throw new HandshakeError("The server did not answer with HTTP");
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) {
          headers.set(
            line.slice(0, colon).trim().toLowerCase(),
            line.slice(colon + 1).trim(),
          );
        }
      }
      return { status: Number(m[1]), headers, rest: buf.slice(end, len) };
    }
  } finally {
    deadline.clear();
  }
}

function indexOfBlankLine(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 3 < bytes.length; i++) {
    if (
      bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 &&
      bytes[i + 3] === 10
    ) {
      return i + 4;
    }
  }
  return -1;
}

/** What the server granted: the client's side of a 200. */
export interface Granted {
  /** `X-Public-Host`. */
  publicHost: string;
  /** The public URL (`X-Groktunnel-Url`, else built from the host). */
  url: string;
  /** The name, which the secret resumes. */
  name: string;
  /** The resume secret, when the server gave one. */
  secret: string | undefined;
  /** Features the server accepted. */
  features: string[];
  /** A TCP tunnel's public port. */
  tcpPort: number | undefined;
  /** The pool's secret and member count, when the tunnel is a pool's member. */
  pool: { secret: string; members: number } | undefined;
  /** Bytes read past the head: the session's start. */
  rest: Uint8Array;
}

/**
 * Sends the control request on `conn` and reads the answer: a refusal is a
 * {@linkcode HandshakeError} with the server's status and one-line reason.
 * `tls` picks the scheme of a URL built from `X-Public-Host` (old servers).
 */
export async function requestTunnel(
  conn: {
    read(p: Uint8Array): Promise<number | null>;
    write(p: Uint8Array): Promise<number>;
  },
  req: ControlRequest,
  o: { timeout: number; tls: boolean },
): Promise<Granted> {
  const request = encodeControlRequest(req);
  let off = 0;
  while (off < request.length) off += await conn.write(request.subarray(off));
  const head = await readResponseHead(conn, o.timeout);
  if (head.status !== 200) {
    const message = await refusalMessage(conn, head.rest, head.headers);
    throw new HandshakeError(
      `The server refused the tunnel: ${head.status} ${message}`,
      head.status,
    );
  }
  const publicHost = head.headers.get(HEADER_PUBLIC_HOST);
  if (!publicHost) {
    throw new HandshakeError(
      "The server's answer has no X-Public-Host: is it a groktunnel server?",
      400,
    );
  }
  const given = head.headers.get(HEADER_URL);
  const url = given && /^(https?|tcp):\/\/[^\s/]+$/.test(given)
    ? given
    : `${o.tls ? "https" : "http"}://${publicHost}`;
  const tcp = /^tcp:\/\/.*:([0-9]+)$/.exec(url);
  const poolSecret = head.headers.get(HEADER_POOL_SECRET);
  if (req.pool && !poolSecret) {
    throw new HandshakeError(
      "The server answered with no pool secret: it does not offer pools (--pool)",
      400,
    );
  }
  if (req.protocol === "tcp" && !tcp) {
    throw new HandshakeError(
      "The server answered with no TCP port: it does not offer TCP tunnels",
      400,
    );
  }
  return {
    publicHost,
    url,
    name: head.headers.get("x-groktunnel-name") ?? publicHost.split(".")[0]!,
    secret: head.headers.get(HEADER_SECRET),
    features: (head.headers.get(HEADER_FEATURES) ?? "").split(",").map((f) =>
      f.trim()
    ),
    tcpPort: tcp ? Number(tcp[1]) : undefined,
    pool: poolSecret && req.pool
      ? {
        secret: poolSecret,
        members: Number(head.headers.get(HEADER_POOL_MEMBERS)) || 1,
      }
      : undefined,
    rest: head.rest,
  };
}

/** A client's clean exit: `DELETE /` with its name and secret frees the name. */
export async function releaseTunnel(
  conn: {
    read(p: Uint8Array): Promise<number | null>;
    write(p: Uint8Array): Promise<number>;
  },
  host: string,
  port: number,
  resume: { name: string; secret: string; version: string; timeout: number },
): Promise<void> {
  const h = host.includes(":") ? `[${host}]` : host;
  const bytes = enc.encode(
    `DELETE / HTTP/1.1\r\nHost: ${h}:${port}\r\n` +
      `X-Groktunnel-Client: ${resume.version}\r\n` +
      `X-Groktunnel-Resume: ${resume.name} ${resume.secret}\r\n` +
      "Connection: close\r\n\r\n",
  );
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
  await readResponseHead(conn, resume.timeout);
}

/** Reads a refusal's short body (bounded) to show the server's reason. */
async function refusalMessage(
  conn: { read(p: Uint8Array): Promise<number | null> },
  rest: Uint8Array,
  headers: Map<string, string>,
): Promise<string> {
  const want = Math.min(Number(headers.get("content-length") ?? 0) || 0, 4096);
  const buf = new Uint8Array(4096);
  buf.set(rest.subarray(0, want));
  let got = Math.min(rest.length, want);
  const until = Date.now() + 2000;
  while (got < want && Date.now() < until) {
    const n = await conn.read(buf.subarray(got, want)).catch(() => null);
    if (n === null) break;
    got += n;
  }
  const text = new TextDecoder().decode(buf.subarray(0, got)).trim();
  // A page (a server port that is not a control endpoint): its message.
  const p = /^<!doctype html>[\s\S]*?<p>([^<]*)<\/p>/i.exec(text);
  return p ? unescapeHtml(p[1]!) : text;
}

function unescapeHtml(s: string): string {
  return s.replace(
    /&#([0-9]{1,3});/g,
    (_, n: string) => String.fromCharCode(Number(n)),
  ).replace(/&amp;/g, "&");
}

/** Why a name cannot be had: an HTTP status and a one-line reason. */
export interface Refusal {
  /** HTTP status for the control answer. */
  status: number;
  /** One line the client prints. */
  message: string;
}
