#!/usr/bin/env -S deno run --allow-net --allow-env --v8-flags=--max-semi-space-size=2
/**
 * The groktunnel command line.
 *
 * ```sh
 * deno run --allow-net --allow-env jsr:@x/groktunnel/cli          # a server on :9999
 * deno run --allow-net --allow-env jsr:@x/groktunnel/cli 3000     # expose localhost:3000
 * ```
 *
 * @module
 */

import {
  describeCertificate,
  type ServerOptions,
  startServer,
  type TunnelServer,
} from "./lib/server/server.ts";
import {
  type ClientEvent,
  type ClientOptions,
  TunnelClient,
} from "./lib/client/client.ts";
import { VERSION } from "./lib/version.ts";
import { runDemo } from "./lib/cli/demo.ts";
import {
  type Flags,
  parseCommandLine,
  parseCount,
  parseEtcdEndpoints,
  parseHostName,
  parsePort,
  parsePublicIps,
  parseSeconds,
  parseServerAddress,
  UsageError,
} from "./lib/cli/args.ts";
import { CertificateError, covers } from "./lib/tls/certificate.ts";
import { encodeQr } from "./lib/qr/encode.ts";
import { parsePortRange } from "./lib/server/tcp_ports.ts";
import { IpFilter } from "./lib/net/ip_filter.ts";
import { CaptureStore, DEFAULT_CAPTURE_RATE } from "./lib/inspector/store.ts";
import {
  DEFAULT_INSPECT_PORT,
  type Inspector,
  isLoopbackHost,
  startInspector,
} from "./lib/inspector/server.ts";
import { logLine } from "./lib/inspector/log.ts";
import { renderQr } from "./lib/qr/render.ts";
import type { ClusterOptions } from "./lib/cluster/node.ts";
import {
  type AutomaticTlsOptions,
  startAutomaticTls,
  startDns,
} from "./lib/acme/auto.ts";
import { LETS_ENCRYPT, LETS_ENCRYPT_STAGING } from "./lib/acme/manager.ts";
import { DEFAULT_DNS_PORT, DEFAULT_DNS_RATE_LIMIT } from "./lib/dns/server.ts";
import { Zone } from "./lib/dns/zone.ts";

const USAGE =
  `groktunnel ${VERSION}: put a localhost HTTP server on a public URL

Usage:
  groktunnel <port> [options]        expose localhost:<port> through a server
  groktunnel tcp <port> [options]    expose a TCP service (ssh, a database): tcp://<host>:<n>
  groktunnel [server] [options]      run a server
  groktunnel demo                    server, app and tunnel in one process

  (From a clone: deno run --allow-net --allow-env main.ts <port>. To get a
  groktunnel command: deno install -g --allow-net --allow-env -n groktunnel main.ts)

Options:
  -h, --host <host>        server host; tunnels are <name>.<host>  [localhost]
  -p, --port <port>        server port                             [9999]
      --token <token>      shared secret (or GROKTUNNEL_TOKEN)
      --stall-timeout <seconds>  end a session whose peer reads nothing
                           of what it is owed for this long        [30]
      --memory-budget <MiB>  unread bytes all tunnels may hold: past it
                           windows stop growing, new connections get 503 [128]
      --help               show this help (also -h alone)
      --version            show the version

Client options:
      --server <url>       the server: https://tunnel.example.com[:port]
                           (or http://…, or host:port); replaces -h/-p
      --tls                reach the server over TLS (as an https:// --server)
      --ca <file>          trust this CA for the server (needs --allow-read=<file>)
      --insecure           skip TLS verification; allow a token without TLS
      --local-host <host>  where the local server listens  [127.0.0.1, then ::1]
      --subdomain <name>   ask for this name instead of a random one
      --qr                 also show the URL as a QR code (for phones)
      --remote-port <n>    tcp: ask for this public port
      --quiet              no line per request on the terminal
      --inspect <addr>     the inspector's address         [127.0.0.1:4040, or the next free port]
      --no-inspect         no inspector
      --inspect-rate <n>   requests captured per second at most, for the
                           inspector and the log (0: all)              [1000]
      --forwarded-headers <replace|append|off>
                           X-Forwarded-*/Forwarded for the app: replace what
                           visitors sent with what the server saw, keep theirs
                           and add ours (a proxy in front), or leave alone [replace]
      --host-header <rewrite|value>  Host sent to the app (rewrite: localhost:<port>)
      --basic-auth <user:password>   visitors must log in (repeatable)
      --allow-ip <cidr>    only these visitors (repeatable; the server checks)
      --deny-ip <cidr>     never these visitors (repeatable)
      --proxy-protocol <v1|v2>  send a PROXY header to the app first

Server options:
  -b, --bind <address>     address to listen on (0.0.0.0 for all)  [127.0.0.1]
      --tls-cert <file>    end TLS with this PEM chain (normally *.<host> and <host>)
      --tls-key <file>     its PEM key (both need --allow-read=<file>)
      --http-port <port>   with TLS: plain HTTP here redirects to https (308);
                           it still takes old clients' plain handshakes
      --https-only         with --http-port: refuse tunnels over plain HTTP
      --cert-reload-interval <seconds>  look for new cert files (0: SIGHUP only) [5]
      --max-tunnels <n>            tunnels at once                 [1000]
      --max-tunnels-per-ip <n>     tunnels at once per client IP   [16]
      --max-connections <n>        public connections per tunnel   [4096]
      --peek-timeout <seconds>     time to send a request head     [10]
      --peek-max-bytes <n>         largest request head            [32768]
      --reserved <a,b,...>         names no client may ask for
      --allow-ip <cidr>            visitors allowed to any tunnel (repeatable)
      --deny-ip <cidr>             visitors refused everywhere (repeatable)
      --name-hold <seconds>        a vanished client's name is kept [600]
      --tcp-ports <low-high>       offer TCP tunnels on these ports (off)
      --max-tcp-tunnels-per-ip <n> TCP tunnels at once per client IP [4]
      --shutdown-grace <seconds>   in-flight time on SIGINT/SIGTERM [10]
      --max-owed <bytes>           answers owed to one client before the
                                   server stops reading it        [262144]

Automatic certificates (the server is the DNS server of its zone):
      --acme               get and renew a certificate for <host> and *.<host>
      --public-ip <ip>     the address(es) <host> and *.<host> point at (repeatable)
      --state-dir <dir>    account and certificate (needs --allow-read/--allow-write=<dir>)
      --acme-email <addr>  contact for the CA
      --acme-directory <url|staging|production>  the CA  [production: Let's Encrypt]
      --acme-ca <file>     trust this CA for the ACME server itself (a test CA)
      --acme-renew-before <seconds>  renew this long before expiry [a third of the lifetime]
      --acme-retry <seconds>         first retry after a failed order, doubling to 1 h [60]
      --dns-port <port>    DNS on UDP and TCP (also without --acme)  [53]
      --dns-rate-limit <n> UDP answers per second to one address     [100]

Several nodes (names shared through etcd):
      --cluster <etcd://host:port[,host:port…]>  join a cluster
      --node-id <id>       this node's name, unique in the cluster
      --node-addr <host:port>  where the other nodes reach this one (it listens there)
      --cluster-secret <s> shared by all nodes (or GROKTUNNEL_CLUSTER_SECRET)

Examples:
  groktunnel                          # server for *.localhost on :9999
  groktunnel 3000                     # prints http://<name>.localhost:9999
  groktunnel -b 0.0.0.0 -p 443 -h tunnel.example.com --tls-cert c.pem --tls-key k.pem --http-port 80
  groktunnel -b 0.0.0.0 -p 443 -h tunnel.example.com --http-port 80 --acme --public-ip 203.0.113.7 --state-dir /var/lib/groktunnel
  groktunnel 3000 --server https://tunnel.example.com
`;

function env(name: string): string | undefined {
  return Deno.permissions.querySync({ name: "env", variable: name }).state ===
      "granted"
    ? Deno.env.get(name)
    : undefined;
}

/** Styles for stderr: colour only on a terminal and never with NO_COLOR. */
function styles() {
  const on = Deno.stderr.isTerminal() && env("NO_COLOR") === undefined;
  const wrap = (code: number) => (s: string) =>
    on ? `\x1b[${code}m${s}\x1b[0m` : s;
  return {
    bold: wrap(1),
    green: wrap(32),
    yellow: wrap(33),
    red: wrap(31),
    dim: wrap(2),
  };
}

/** Longest a request's log line waits to be written with others (ms). */
const LOG_FLUSH = 50;

/** `--inspect-rate`: a whole number of requests a second, 0 for all. */
function parseRate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,9}$/.test(value)) {
    throw new UsageError(
      `--inspect-rate takes requests a second (0: capture all), not "${value}"`,
    );
  }
  return Number(value);
}

/** `--memory-budget`: whole MiB, as bytes. */
function parseMiB(value: string | undefined): number | undefined {
  const n = parseCount(value, "--memory-budget");
  return n === undefined ? undefined : n * 1024 * 1024;
}

/** `--inspect`: `port`, `host:port` or `[::1]:port`, loopback only. */
function parseInspect(
  value: string | undefined,
): { hostname: string; port: number; exact: boolean } {
  if (value === undefined) {
    return { hostname: "127.0.0.1", port: DEFAULT_INSPECT_PORT, exact: false };
  }
  const m = /^(?:\[([^\]]+)\]|([^:]+))?:?([0-9]+)$/.exec(value);
  const hostname = m ? (m[1] ?? m[2] ?? "127.0.0.1") : "";
  if (!m || !isLoopbackHost(hostname)) {
    throw new UsageError(
      `--inspect takes a loopback address such as 127.0.0.1:4040, not "${value}"`,
    );
  }
  return {
    hostname,
    port: parsePort(m[3]!, "--inspect"),
    exact: true,
  };
}

/** `value` if it is one of `allowed` (or absent); else a usage error. */
function oneOf<T extends string>(
  value: string | undefined,
  flag: string,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(
      `${flag} takes ${allowed.join(", ")}, not "${value}"`,
    );
  }
  return value as T;
}

/** Fails with a one-line reason unless `path` may be read. */
function needRead(path: string, flag: string): void {
  if (
    Deno.permissions.querySync({ name: "read", path }).state !== "granted"
  ) {
    throw new UsageError(
      `${flag} needs read access to "${path}": add --allow-read=${path}`,
    );
  }
}

function needWrite(path: string, flag: string): void {
  if (
    Deno.permissions.querySync({ name: "write", path }).state !== "granted"
  ) {
    throw new UsageError(
      `${flag} needs write access to "${path}": add --allow-write=${path}`,
    );
  }
}

/** What --acme, --public-ip and their friends ask for. */
interface AutoTlsSettings {
  /** Certificates from an ACME CA (and the DNS server they need). */
  acme?: AutomaticTlsOptions | undefined;
  /** The zone's DNS server alone (--public-ip without --acme). */
  dns?:
    | {
      hostname: string;
      port: number;
      rateLimit: number;
      ipv4: string[];
      ipv6: string[];
    }
    | undefined;
}

const ACME_ONLY = [
  "acme-email",
  "acme-directory",
  "acme-ca",
  "acme-renew-before",
  "acme-retry",
  "state-dir",
];

function automaticTls(
  f: Flags,
  host: string,
  hostname: string,
  haveCert: boolean,
): AutoTlsSettings {
  const str = (k: string) => f[k] as string | undefined;
  const acme = f.acme === true;
  for (const k of ACME_ONLY) {
    if (!acme && f[k] !== undefined) {
      throw new UsageError(`--${k} goes with --acme`);
    }
  }
  const ips = parsePublicIps((f["public-ip"] as string[] | undefined) ?? []);
  const anyIp = ips.ipv4.length + ips.ipv6.length > 0;
  const needsIp = acme
    ? "--acme"
    : ["dns-port", "dns-rate-limit"].map((k) => `--${k}`).find((k) =>
      str(k.slice(2)) !== undefined
    );
  if (!anyIp && needsIp) {
    throw new UsageError(
      `${needsIp} needs --public-ip: the address(es) that ${host} and *.${host} point at`,
    );
  }
  if (!anyIp) return {};
  const dnsPort = str("dns-port") === undefined
    ? DEFAULT_DNS_PORT
    : parsePort(str("dns-port")!, "--dns-port", true);
  const rateLimit = parseCount(str("dns-rate-limit"), "--dns-rate-limit") ??
    DEFAULT_DNS_RATE_LIMIT;
  const dns = { hostname, port: dnsPort, rateLimit, ...ips };
  if (!acme) return { dns };
  if (haveCert) {
    throw new UsageError(
      "--acme gets its own certificate: leave out --tls-cert and --tls-key",
    );
  }
  const stateDir = str("state-dir");
  if (stateDir === undefined) {
    throw new UsageError(
      "--acme needs --state-dir <dir> for the account and the certificate",
    );
  }
  needRead(stateDir, "--state-dir");
  needWrite(stateDir, "--state-dir");
  const dir = str("acme-directory") ?? "production";
  const directory = dir === "production"
    ? LETS_ENCRYPT
    : dir === "staging"
    ? LETS_ENCRYPT_STAGING
    : dir;
  if (!/^https:\/\/[^/]/.test(directory)) {
    throw new UsageError(
      `--acme-directory must be an https:// URL, "staging" or "production", not "${dir}"`,
    );
  }
  let caCerts: string[] | undefined;
  const ca = str("acme-ca");
  if (ca !== undefined) {
    needRead(ca, "--acme-ca");
    caCerts = [readPem(ca)];
  }
  const email = str("acme-email");
  if (email !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
    throw new UsageError(
      `--acme-email must be an email address, not "${email}"`,
    );
  }
  return {
    acme: {
      host,
      directory,
      email,
      stateDir,
      caCerts,
      renewBefore: parseSeconds(
        str("acme-renew-before"),
        "--acme-renew-before",
      ),
      retryMin: parseSeconds(str("acme-retry"), "--acme-retry"),
      hostname,
      dnsPort,
      dnsRateLimit: rateLimit,
      ...ips,
      log: serverLog,
    },
  };
}

/** --cluster and its companions. */
function clusterOptions(f: Flags): ClusterOptions | undefined {
  const str = (k: string) => f[k] as string | undefined;
  const cluster = str("cluster");
  if (cluster === undefined) {
    for (const k of ["node-id", "node-addr", "cluster-secret"]) {
      if (str(k) !== undefined) {
        throw new UsageError(`--${k} goes with --cluster`);
      }
    }
    return undefined;
  }
  const etcd = parseEtcdEndpoints(cluster);
  const nodeId = str("node-id");
  if (!nodeId || !/^[A-Za-z0-9._-]{1,64}$/.test(nodeId)) {
    throw new UsageError(
      "--cluster needs --node-id <id>: a name for this node, unique in the cluster (letters, digits, . _ -)",
    );
  }
  const nodeAddr = str("node-addr");
  if (
    !nodeAddr ||
    !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(nodeAddr)
  ) {
    throw new UsageError(
      "--cluster needs --node-addr <host:port>: where the other nodes reach this one (it listens there)",
    );
  }
  parsePort(
    nodeAddr.slice(nodeAddr.lastIndexOf(":") + 1),
    "--node-addr's port",
  );
  const secret = str("cluster-secret") ?? env("GROKTUNNEL_CLUSTER_SECRET");
  if (!secret || secret.length < 16) {
    throw new UsageError(
      "--cluster needs a shared secret of 16 characters or more: --cluster-secret or GROKTUNNEL_CLUSTER_SECRET",
    );
  }
  return { etcd, nodeId, nodeAddr, secret };
}

function serverLog(line: string): void {
  console.error(`${new Date().toISOString()} ${line}`);
}

function readPem(path: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw new UsageError(
      `Cannot read the CA file "${path}": ${(err as Error).message}`,
    );
  }
  if (!text.includes("BEGIN CERTIFICATE")) {
    throw new UsageError(`"${path}" holds no PEM certificate`);
  }
  return text;
}

/** Runs the CLI with \`args\`; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const s = styles();
  try {
    const parsed = parseCommandLine(args);
    if (parsed.mode === "help") {
      console.log(USAGE);
      return 0;
    }
    if (parsed.mode === "version") {
      console.log(`groktunnel ${VERSION}`);
      return 0;
    }
    if (Deno.permissions.querySync({ name: "net" }).state !== "granted") {
      console.error(
        "groktunnel: needs network access: run with --allow-net --allow-env",
      );
      return 2;
    }
    if (parsed.mode !== "server" && parsed.mode !== "client") {
      const stop = new AbortController();
      const abort = () => stop.abort();
      Deno.addSignalListener("SIGINT", abort);
      Deno.addSignalListener("SIGTERM", abort);
      await runDemo((line) => console.log(line), stop.signal);
      return 0;
    }
    const f: Flags = parsed.flags;
    const str = (k: string) => f[k] as string | undefined;
    const list = (k: string) => (f[k] as string[] | undefined) ?? [];
    const cidrs = (k: string) => {
      for (const c of list(k)) {
        try {
          new IpFilter([c]);
        } catch (err) {
          throw new UsageError(`--${k}: ${(err as Error).message}`);
        }
      }
      return list(k).length ? list(k) : undefined;
    };
    const token = str("token") ?? env("GROKTUNNEL_TOKEN");
    if (parsed.mode === "server") {
      const cert = str("tls-cert"), key = str("tls-key");
      if ((cert === undefined) !== (key === undefined)) {
        throw new UsageError("--tls-cert and --tls-key go together");
      }
      const host = parseHostName(str("host") ?? "localhost", "--host");
      const hostname = str("bind") ?? "127.0.0.1";
      const auto = automaticTls(f, host, hostname, cert !== undefined);
      if (
        cert === undefined && !auto.acme &&
        (f["http-port"] !== undefined || f["https-only"])
      ) {
        throw new UsageError(
          "--http-port and --https-only need --tls-cert and --tls-key, or --acme",
        );
      }
      if (f["https-only"] && f["http-port"] === undefined) {
        throw new UsageError("--https-only needs --http-port");
      }
      if (cert !== undefined) {
        needRead(cert, "--tls-cert");
        needRead(key!, "--tls-key");
      }
      const port = str("port") === undefined
        ? 9999
        : parsePort(str("port")!, "--port", true);
      return await runServer(
        {
          host,
          port,
          hostname,
          token,
          tls: cert !== undefined
            ? {
              certFile: cert,
              keyFile: key!,
              reloadInterval: parseSeconds(
                str("cert-reload-interval"),
                "--cert-reload-interval",
                true,
              ) ?? 5000,
            }
            : undefined,
          httpPort: str("http-port") === undefined
            ? undefined
            : parsePort(str("http-port")!, "--http-port", true),
          httpsOnly: f["https-only"] === true ? true : undefined,
          maxTunnels: parseCount(str("max-tunnels"), "--max-tunnels"),
          maxTunnelsPerIp: parseCount(
            str("max-tunnels-per-ip"),
            "--max-tunnels-per-ip",
          ),
          maxConnectionsPerTunnel: parseCount(
            str("max-connections"),
            "--max-connections",
          ),
          peekTimeout: parseSeconds(str("peek-timeout"), "--peek-timeout"),
          peekMaxBytes: parseCount(str("peek-max-bytes"), "--peek-max-bytes"),
          reservedNames: str("reserved")?.split(",").map((n) => n.trim())
            .filter(Boolean),
          allowIps: cidrs("allow-ip"),
          denyIps: cidrs("deny-ip"),
          nameHold: parseSeconds(str("name-hold"), "--name-hold", true),
          tcpPorts: str("tcp-ports") === undefined ? undefined : (() => {
            try {
              return parsePortRange(str("tcp-ports")!);
            } catch (err) {
              throw new UsageError(`--tcp-ports: ${(err as Error).message}`);
            }
          })(),
          maxTcpTunnelsPerIp: parseCount(
            str("max-tcp-tunnels-per-ip"),
            "--max-tcp-tunnels-per-ip",
          ),
          grace: parseSeconds(str("shutdown-grace"), "--shutdown-grace") ??
            10_000,
          cluster: clusterOptions(f),
          stallTimeout: parseSeconds(str("stall-timeout"), "--stall-timeout"),
          memoryBudget: parseMiB(str("memory-budget")),
          maxOwed: parseCount(str("max-owed"), "--max-owed"),
        },
        s,
        auto,
      );
    }
    const where = parseServerAddress(
      str("server"),
      str("host"),
      str("port"),
      f.tls === true,
    );
    if (str("server") !== undefined && str("host") !== undefined) {
      throw new UsageError("Give the server by --server or by -h, not both");
    }
    let caCerts: string[] | undefined;
    const ca = str("ca");
    if (ca !== undefined) {
      needRead(ca, "--ca");
      caCerts = [readPem(ca)];
    }
    return await runClient(
      {
        port: parsed.port,
        protocol: parsed.protocol,
        remotePort: str("remote-port") === undefined
          ? undefined
          : parsePort(str("remote-port")!, "--remote-port"),
        localHost: str("local-host"),
        server: where.host,
        serverPort: where.port,
        tls: where.tls,
        caCerts,
        insecure: f.insecure === true ? true : undefined,
        token,
        subdomain: str("subdomain"),
        forwardedHeaders: oneOf(
          str("forwarded-headers"),
          "--forwarded-headers",
          ["replace", "append", "off"] as const,
        ),
        hostHeader: str("host-header"),
        basicAuth: list("basic-auth").map((c) => {
          if (c.indexOf(":") < 1) {
            throw new UsageError(
              `--basic-auth takes user:password, not "${c.slice(0, 40)}"`,
            );
          }
          return c;
        }),
        allowIps: cidrs("allow-ip"),
        denyIps: cidrs("deny-ip"),
        proxyProtocol: oneOf(
          str("proxy-protocol"),
          "--proxy-protocol",
          ["v1", "v2"] as const,
        ),
        stallTimeout: parseSeconds(str("stall-timeout"), "--stall-timeout"),
        memoryBudget: parseMiB(str("memory-budget")),
      },
      s,
      {
        qr: f.qr === true,
        // Raw TCP has no requests to log or inspect.
        quiet: f.quiet === true || parsed.protocol === "tcp",
        inspect: f["no-inspect"] === true || parsed.protocol === "tcp"
          ? undefined
          : parseInspect(str("inspect")),
        inspectRate: parseRate(str("inspect-rate")),
      },
    );
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`groktunnel: ${err.message}\n`);
      console.error(USAGE);
      return 2;
    }
    throw err;
  }
}

type Styles = ReturnType<typeof styles>;

/** Options as parsed: absent flags are `undefined`, dropped before use. */
type Loose<T> = { [K in keyof T]?: T[K] | undefined };

/** Drops the `undefined` entries, so each option's default applies. */
function defined<T>(o: Loose<T>): T {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined),
  ) as unknown as T;
}

/** How to run this program again, as printed hints should say it. */
function selfCommand(): string {
  const m = Deno.mainModule;
  let where = m;
  if (m.startsWith("file:")) {
    const path = decodeURIComponent(new URL(m).pathname);
    const cwd = Deno.cwd();
    where = path.startsWith(cwd + "/") ? path.slice(cwd.length + 1) : path;
  }
  return `deno run --allow-net --allow-env ${where}`;
}

async function runServer(
  o: Loose<ServerOptions> & { hostname: string; port: number; grace: number },
  s: Styles,
  auto: AutoTlsSettings,
): Promise<number> {
  let zoneServer: { close(): void } | undefined;
  let server: TunnelServer | undefined;
  try {
    if (auto.acme) {
      // The first certificate may take a while (or never come): Ctrl-C works.
      const early = new AbortController();
      const abort = () => early.abort();
      Deno.addSignalListener("SIGINT", abort);
      Deno.addSignalListener("SIGTERM", abort);
      try {
        const a = await startAutomaticTls({
          ...auto.acme,
          signal: early.signal,
          onRenewed: () => server?.reloadCertificate(),
        });
        zoneServer = a;
        o.tls = {
          certFile: a.manager.certFile,
          keyFile: a.manager.keyFile,
          reloadInterval: 0, // the manager says when
        };
      } finally {
        Deno.removeSignalListener("SIGINT", abort);
        Deno.removeSignalListener("SIGTERM", abort);
      }
      if (early.signal.aborted) return 130;
    } else if (auto.dns) {
      const zone = new Zone({ apex: o.host!, ...auto.dns });
      zoneServer = await startDns({ ...auto.dns, zone }, serverLog);
    }
  } catch (err) {
    console.error(
      s.red(
        `groktunnel: ${(err as Error).message}`,
      ),
    );
    return 1;
  }
  const clean = defined<ServerOptions>(o);
  try {
    server = startServer(clean);
    await server.ready;
  } catch (err) {
    zoneServer?.close();
    console.error(
      s.red(
        err instanceof CertificateError
          ? `groktunnel: ${err.message}`
          : `groktunnel: cannot listen on ${o.hostname}:${o.port}: ${
            (err as Error).message
          }`,
      ),
    );
    return 1;
  }
  const tls = server.certificate;
  const where = `${server.addr.hostname}:${server.addr.port}`;
  console.error(
    `${s.bold("groktunnel server")} ${VERSION} listening on ${where}${
      tls ? " (https)" : ""
    } for *.${server.host}`,
  );
  if (server.httpAddr) {
    console.error(
      `plain http on ${server.httpAddr.hostname}:${server.httpAddr.port}: redirects to https${
        o.httpsOnly ? "" : "; takes old clients' handshakes"
      }`,
    );
  }
  if (tls) {
    console.error(`certificate: ${describeCertificate(tls)}`);
    for (const name of [server.host, `x.${server.host}`]) {
      if (!covers(tls, name)) {
        console.error(
          s.yellow(
            `warning: the certificate does not cover ${
              name === server.host ? name : `*.${server.host}`
            }: browsers will refuse it`,
          ),
        );
      }
    }
  }
  const scheme = tls ? "https" : "http";
  const port = server.addr.port;
  const defaultPort = tls ? 443 : 80;
  console.error(
    s.dim(
      `clients run: ${selfCommand()} <port> --server ${scheme}://${server.host}${
        port === defaultPort ? "" : `:${port}`
      }`,
    ),
  );
  let stopping = false;
  const stop = () => {
    if (stopping) Deno.exit(130); // a second signal: stop now
    stopping = true;
    console.error(
      `shutting down: waiting up to ${o.grace / 1000} s for requests in flight`,
    );
    server.shutdown(o.grace);
  };
  const reload = () => {
    if (!server.reloadCertificate()) {
      console.error("SIGHUP: the certificate files hold no new certificate");
    }
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  if (tls) Deno.addSignalListener("SIGHUP", reload);
  await server.finished;
  zoneServer?.close();
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  if (tls) Deno.removeSignalListener("SIGHUP", reload);
  console.error("server stopped");
  return 0;
}

async function runClient(
  o: Loose<ClientOptions> & { port: number },
  s: Styles,
  ui: {
    qr: boolean;
    quiet: boolean;
    inspect: { hostname: string; port: number; exact: boolean } | undefined;
    inspectRate: number | undefined;
  },
): Promise<number> {
  const qr = ui.qr;
  const store = ui.quiet && !ui.inspect
    ? undefined
    : new CaptureStore({ rate: ui.inspectRate ?? DEFAULT_CAPTURE_RATE });
  let flushLog = () => {};
  if (store && !ui.quiet) {
    // Lines are written in batches (at most every LOG_FLUSH ms): one write
    // per request would cost more than the request itself at high rates.
    let pending = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const bytes = new TextEncoder().encode(pending);
      pending = "";
      let off = 0;
      try {
        while (off < bytes.length) {
          off += Deno.stderr.writeSync(bytes.subarray(off));
        }
      } catch { /* stderr closed */ }
    };
    flushLog = () => {
      clearTimeout(timer);
      if (pending) flush();
    };
    let notCaptured = 0;
    store.onClear(() => notCaptured = 0);
    store.listen((c, kind) => {
      if (store.notCaptured > notCaptured) {
        pending += s.dim(
          `… ${
            store.notCaptured - notCaptured
          } not captured (over ${store.rate} requests/s: --inspect-rate)`,
        ) + "\n";
        notCaptured = store.notCaptured;
      }
      pending += logLine(c, kind, s) + "\n";
      if (pending.length > 32 * 1024) flush();
      else timer ??= setTimeout(flush, LOG_FLUSH);
    });
  }
  let inspector: Inspector | undefined;
  let lastUrl: string | undefined;
  const onEvent = (e: ClientEvent) => {
    switch (e.type) {
      case "connecting":
        if (e.attempt === 0 && !lastUrl) {
          console.error(s.dim(`connecting to ${e.server}…`));
          if (o.insecure) {
            console.error(
              s.yellow(
                o.tls
                  ? "warning: --insecure: the server's certificate is NOT checked"
                  : "warning: --insecure: the token and traffic cross the network unencrypted",
              ),
            );
          }
        }
        break;
      case "connected":
        if (e.url !== lastUrl) {
          // The URL alone on stdout, for scripts; the rest on stderr.
          console.log(e.url);
          if (qr) {
            const colour = Deno.stderr.isTerminal() &&
              env("NO_COLOR") === undefined;
            console.error(renderQr(encodeQr(e.url), colour).join("\n"));
          }
          if (lastUrl) {
            console.error(
              s.yellow(
                `the server gave a new name; the old URL ${lastUrl} no longer works`,
              ),
            );
          }
        } else {
          console.error(s.green("reconnected; same URL"));
        }
        lastUrl = e.url;
        console.error(
          `${s.green("forwarding")} ${s.bold(e.url)} → ${e.local}  ${
            s.dim("(Ctrl-C to stop)")
          }`,
        );
        break;
      case "disconnected":
        console.error(s.yellow(`lost the server: ${e.reason}`));
        break;
      case "retrying":
        console.error(
          s.dim(
            `reconnecting in ${(e.delay / 1000).toFixed(1)} s (${e.reason})`,
          ),
        );
        break;
      case "local-error":
        console.error(s.yellow(e.message));
        break;
      case "notice":
        console.error(s.dim(e.message));
        break;
    }
  };
  const clean = defined<ClientOptions>(o);
  let client: TunnelClient;
  try {
    client = new TunnelClient({
      ...clean,
      onEvent,
      ...(store ? { capture: store } : {}),
    });
  } catch (err) {
    console.error(s.red(`groktunnel: ${(err as Error).message}`));
    return 1;
  }
  if (store && ui.inspect) {
    try {
      inspector = startInspector({
        store,
        ...ui.inspect,
        tunnel: () => ({
          publicUrl: client.url,
          local: o.localHost
            ? `${o.localHost}:${o.port}`
            : `localhost:${o.port}`,
        }),
        dialLocal: () => client.connectLocal(),
      });
      console.error(`${s.green("inspector")} ${s.bold(inspector.url)}`);
    } catch (err) {
      console.error(
        s.yellow(
          `no inspector: cannot listen on ${ui.inspect.hostname}:${ui.inspect.port}: ${
            (err as Error).message
          }`,
        ),
      );
    }
  }
  let stopping = false;
  const stop = () => {
    if (stopping) Deno.exit(130); // a second Ctrl-C: stop now
    stopping = true;
    client.close();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await client.finished;
    return 0;
  } catch (err) {
    console.error(s.red(`groktunnel: ${(err as Error).message}`));
    return 1;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    await inspector?.close();
    flushLog();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
