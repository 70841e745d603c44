/**
 * The command line's words, checked: which mode, which flags belong to it,
 * and values turned into numbers, hosts and URLs. Everything wrong is a
 * {@linkcode UsageError} with one line to print; nothing here opens a socket.
 */

import { parseArgs } from "node:util";
import { FLAGS } from "./flag_table.ts";

export { FLAGS };
import { ipv6Bytes } from "../net/mod.ts";

function isIpv6(ip: string): boolean {
  try {
    ipv6Bytes(ip);
    return true;
  } catch {
    return false;
  }
}

/** A usage error: the CLI prints its one line and the usage, and exits with 2. */
export class UsageError extends Error {
  /** Creates the error with the line to print. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parsed flags: strings, booleans and (repeatable flags) lists by long name. */
export type Flags = Record<string, string | boolean | string[] | undefined>;

/** What the words ask for. */
export type Parsed =
  | { mode: "help" | "version" | "demo" }
  | { mode: "server"; flags: Flags }
  | { mode: "client"; port: number; protocol: "http" | "tcp"; flags: Flags };

/**
 * `-p -1` as `--port=-1`: a value that starts with a minus is still the
 * flag's value (the flag's own check then says what it takes), not a
 * missing one.
 */
function joinNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!, next = args[i + 1];
    const name = a.startsWith("--")
      ? a.slice(2)
      : Object.keys(FLAGS).find((k) => a === `-${FLAGS[k]!.short}`);
    if (
      name !== undefined && !a.includes("=") &&
      FLAGS[name]?.type === "string" && next !== undefined &&
      /^-[0-9.]/.test(next)
    ) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** Parses the arguments; throws {@linkcode UsageError}. */
export function parseCommandLine(args: string[]): Parsed {
  // `-h` alone is a plea for help, not a host without its value.
  if (args.length === 1 && (args[0] === "-h" || args[0] === "help")) {
    return { mode: "help" };
  }
  args = joinNegativeValues(args);
  let values: Flags, positionals: string[];
  try {
    const options = Object.fromEntries(
      Object.entries(FLAGS).map(([k, v]) => [
        k,
        {
          type: v.type,
          ...(v.short ? { short: v.short } : {}),
          ...(v.multiple ? { multiple: true } : {}),
        },
      ]),
    );
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options,
    }) as { values: Flags; positionals: string[] });
  } catch (err) {
    throw new UsageError(explainParseError(err as Error, args));
  }
  if (values.help) return { mode: "help" };
  if (values.version) return { mode: "version" };
  // `tcp <port>`: a TCP tunnel; otherwise one positional at most.
  const tcp = positionals[0] === "tcp";
  if (tcp) positionals.shift();
  if (tcp && positionals.length === 0) {
    throw new UsageError('"tcp" needs the local port: groktunnel tcp 22');
  }
  if (positionals.length > 1) {
    throw new UsageError(`Unexpected argument: "${positionals[1]}"`);
  }
  const first = positionals[0];
  if (first === "demo") {
    const extra = Object.keys(values);
    if (extra.length) {
      throw new UsageError(`"demo" takes no options (got --${extra[0]})`);
    }
    return { mode: "demo" };
  }
  const mode = !tcp && (first === undefined || first === "server")
    ? "server"
    : "client";
  if (mode === "client" && !/^[0-9]+$/.test(first!)) {
    throw new UsageError(
      `"${first}" is neither a local port nor "server" or "demo"`,
    );
  }
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const side = FLAGS[name]!.side;
    if (side !== "both" && side !== mode) {
      throw new UsageError(
        mode === "client"
          ? `--${name} is a server option; to run a server, leave out the port ${first}`
          : `--${name} is a client option; to run a client, give the local port first (groktunnel 3000 --${name} …)`,
      );
    }
  }
  if (mode === "server") return { mode, flags: values };
  if (values.ca !== undefined && values.insecure === true) {
    throw new UsageError(
      "--insecure checks no certificate, so --ca would go unused: give one of them",
    );
  }
  // A TCP tunnel carries bytes it cannot read: HTTP-only options would be
  // silently ignored (a --basic-auth that guards nothing).
  if (tcp) {
    const httpOnly = [
      "basic-auth",
      "forwarded-headers",
      "host-header",
      "inspect",
      "inspect-rate",
    ].find((k) => values[k] !== undefined);
    if (httpOnly) {
      throw new UsageError(
        `--${httpOnly} is for HTTP tunnels: a TCP tunnel passes bytes it does not read`,
      );
    }
  }
  if (!tcp && values["remote-port"] !== undefined) {
    throw new UsageError(
      "--remote-port is for TCP tunnels: groktunnel tcp <port> --remote-port N",
    );
  }
  return {
    mode,
    port: parsePort(first!, "The local port"),
    protocol: tcp ? "tcp" : "http",
    flags: values,
  };
}

function explainParseError(err: Error, args: string[]): string {
  const m = /option '([^']+)'/.exec(err.message) ??
    /Unknown option '([^']+)'/.exec(err.message);
  const code = (err as { code?: string }).code;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const opt = m?.[1]?.replace(/^-+/, "") ??
      args.find((a) => a.startsWith("-")) ?? "?";
    return `Unknown option: ${opt.length === 1 ? "-" : "--"}${opt}`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const name = /--([a-z-]+)/.exec(err.message)?.[1];
    return name
      ? (FLAGS[name]?.type === "boolean"
        ? `--${name} takes no value`
        : `--${name} needs a value`)
      : "An option is missing its value";
  }
  return err.message.replace(/'/g, '"');
}

/** A port 1-65535 (0 too when `allowZero`). */
export function parsePort(
  value: string,
  what: string,
  allowZero = false,
): number {
  const n = Number(value);
  if (!/^[0-9]{1,5}$/.test(value) || n < (allowZero ? 0 : 1) || n > 65535) {
    throw new UsageError(
      `${what} must be a port number (${
        allowZero ? 0 : 1
      }-65535), not "${value}"`,
    );
  }
  return n;
}

/** A positive whole number, or `undefined` when absent. */
export function parseCount(
  value: string | undefined,
  what: string,
): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value) || Number(value) < 1) {
    throw new UsageError(
      `${what} must be a positive whole number, not "${value}"`,
    );
  }
  return Number(value);
}

/** Seconds (≥ 0 when `allowZero`, else > 0) as ms, or `undefined` when absent. */
export function parseSeconds(
  value: string | undefined,
  what: string,
  allowZero = false,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || n < 0 || (!allowZero && n === 0)) {
    throw new UsageError(
      `${what} must be a ${
        allowZero ? "" : "positive "
      }number of seconds, not "${value}"`,
    );
  }
  return Math.round(n * 1000);
}

/** A host name or IP address, without scheme, port or path. */
export function parseHostName(value: string, what: string): string {
  const v = value.trim().toLowerCase().replace(/\.$/, "");
  const ipv6 = /^\[?[0-9a-f:]+\]?$/.test(v) && v.includes(":");
  if (ipv6) return v.replace(/^\[|\]$/g, "");
  const label = /^(?!-)[a-z0-9-_]{1,63}(?<!-)$/;
  if (v.length > 253 || !v.split(".").every((l) => label.test(l))) {
    throw new UsageError(
      `${what} must be a host name such as tunnel.example.com, not "${value}"` +
        (value.includes("://") || value.includes(":")
          ? " (no scheme or port here)"
          : ""),
    );
  }
  return v;
}

/** Where a client finds its server. */
export interface ServerAddress {
  /** Host name or address. */
  host: string;
  /** Port. */
  port: number;
  /** Whether to use TLS. */
  tls: boolean;
}

/**
 * The server a client names: `--server` (a URL, or `host[:port]`), else
 * `-h/-p` (where `-h` may be a URL too), with `--tls` forcing TLS.
 */
export function parseServerAddress(
  server: string | undefined,
  host: string | undefined,
  port: string | undefined,
  tls: boolean,
): ServerAddress {
  const given = server ?? host;
  if (given === undefined) {
    return {
      host: "localhost",
      port: port ? parsePort(port, "--port") : tls ? 443 : 9999,
      tls,
    };
  }
  const what = server !== undefined ? "--server" : "--host";
  let scheme: string | undefined;
  let rest = given.trim();
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(rest);
  if (m) {
    scheme = m[1]!.toLowerCase();
    rest = m[2]!;
    if (scheme !== "http" && scheme !== "https") {
      throw new UsageError(
        `${what} takes http:// or https:// URLs, not "${given}"`,
      );
    }
    rest = rest.replace(/\/+$/, "");
    if (rest.includes("/") || rest.includes("?") || rest.includes("@")) {
      throw new UsageError(
        `${what} is a server address without path or credentials, not "${given}"`,
      );
    }
  }
  let hostPart = rest, portPart: string | undefined;
  const bracket = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(rest);
  if (bracket) {
    hostPart = bracket[1]!;
    portPart = bracket[2];
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    [hostPart, portPart] = rest.split(":") as [string, string];
  }
  const useTls = tls || scheme === "https";
  if (portPart !== undefined && port !== undefined && portPart !== port) {
    throw new UsageError(
      `Two ports given: ${portPart} in ${what} and ${port} in --port`,
    );
  }
  const p = portPart ?? port;
  return {
    host: parseHostName(hostPart, what),
    port: p !== undefined
      ? parsePort(p, what)
      : scheme === "https" || (scheme === undefined && useTls)
      ? 443
      : scheme === "http"
      ? 80
      : 9999,
    tls: useTls,
  };
}

/** `--public-ip` values (repeatable, or comma-separated), split by family. */
export function parsePublicIps(
  values: string[],
): { ipv4: string[]; ipv6: string[] } {
  const ipv4: string[] = [], ipv6: string[] = [];
  for (const raw of values.flatMap((v) => v.split(","))) {
    const ip = raw.trim().replace(/^\[|\]$/g, "");
    if (!ip) continue;
    const v4 =
      /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;
    if (v4.test(ip)) ipv4.push(ip);
    else if (ip.includes(":") && isIpv6(ip)) ipv6.push(ip);
    else {
      throw new UsageError(
        `--public-ip must be an IPv4 or IPv6 address, not "${raw.trim()}"`,
      );
    }
  }
  return { ipv4, ipv6 };
}

/**
 * `--cluster etcd://host:port[,host:port…]` (or http:// URLs) as the etcd
 * gateway's base URLs.
 */
export function parseEtcdEndpoints(value: string): string[] {
  const rest = value.replace(/^etcd:\/\//, "");
  const out: string[] = [];
  for (const raw of rest.split(",")) {
    const part = raw.trim().replace(/\/+$/, "");
    if (!part) continue;
    const url = /^https?:\/\//.test(part) ? part : `http://${part}`;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new UsageError(`--cluster: "${part}" is not host:port`);
    }
    if (!u.port || u.pathname !== "/") {
      throw new UsageError(
        `--cluster: "${part}" must be host:port (etcd://10.0.0.5:2379,10.0.0.6:2379)`,
      );
    }
    out.push(`${u.protocol}//${u.host}`);
  }
  if (!out.length) {
    throw new UsageError("--cluster needs at least one host:port");
  }
  return out;
}
