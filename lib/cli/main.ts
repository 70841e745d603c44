/**
 * The command line: parses the words (lib/cli/args.ts) and runs the server,
 * a client or the demo.
 */

import { VERSION } from "../version.ts";
import { runDemo } from "./demo.ts";
import {
  type Flags,
  parseCommandLine,
  parseCount,
  parseHostName,
  parsePort,
  parseSeconds,
  parseServerAddress,
  UsageError,
} from "./args.ts";
import { parsePortRange } from "../server/mod.ts";
import { IpFilter } from "../net/mod.ts";
import { USAGE } from "./usage.ts";
import { env, styles } from "./style.ts";
import {
  automaticTls,
  checkFileAccess,
  clusterOptions,
  type Loose,
  needRead,
  oneOf,
  parseInspect,
  parseMiB,
  parseRate,
  readPem,
} from "./flags.ts";
import { runServer } from "./run_server.ts";
import { operateSettings, parseBandwidth, parseListen } from "./operate.ts";
import { runClient } from "./run_client.ts";
import type { ClientOptions } from "../client/mod.ts";

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
    checkFileAccess(f);
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
          maxPoolMembers: parseCount(
            str("max-pool-members"),
            "--max-pool-members",
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
          rateLimit: parseCount(str("rate-limit"), "--rate-limit"),
          bandwidth: parseBandwidth(str("bandwidth")),
          browserWarning: f["browser-warning"] === true ? true : undefined,
          tunnelTtl: parseSeconds(str("tunnel-ttl"), "--tunnel-ttl"),
          idleTimeout: parseSeconds(str("idle-timeout"), "--idle-timeout"),
          logFormat: oneOf(
            str("log-format"),
            "--log-format",
            [
              "text",
              "json",
            ] as const,
          ),
        },
        s,
        auto,
        operateSettings(f),
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
        maxConnections: parseCount(
          str("max-connections"),
          "--max-connections",
        ),
        memoryBudget: parseMiB(str("memory-budget")),
        ...poolOptions(f, str),
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
        tcpLog: parsed.protocol === "tcp" && f.quiet !== true,
        metrics: str("metrics") === undefined
          ? undefined
          : parseListen(str("metrics")!, "--metrics"),
      },
    );
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`groktunnel: ${err.message}`);
      console.error("Run groktunnel --help for the options.");
      return 2;
    }
    throw err;
  }
}

/** A pool member's options (`--pool` and the flags that need it). */
function poolOptions(
  f: Flags,
  str: (name: string) => string | undefined,
): Loose<
  Pick<
    ClientOptions,
    "pool" | "poolSecret" | "healthPath" | "healthInterval" | "shutdownGrace"
  >
> {
  const pool = f.pool === true;
  for (const name of ["pool-secret", "health-path", "health-interval"]) {
    if (!pool && str(name) !== undefined) {
      throw new UsageError(`--${name} is for a pool's member: add --pool`);
    }
  }
  const healthPath = str("health-path");
  if (healthPath !== undefined && !/^\/[\x21-\x7e]*$/.test(healthPath)) {
    throw new UsageError(
      `--health-path takes a path such as /healthz, not "${
        healthPath.slice(0, 40)
      }"`,
    );
  }
  if (!pool) return {};
  return {
    pool,
    poolSecret: str("pool-secret") ?? env("GROKTUNNEL_POOL_SECRET"),
    healthPath,
    healthInterval: parseSeconds(str("health-interval"), "--health-interval"),
    shutdownGrace: parseSeconds(
      str("shutdown-grace"),
      "--shutdown-grace",
      true,
    ),
  };
}
