/**
 * Flag values turned into options: rates, sizes, the inspector's address,
 * files that must be readable, automatic TLS and cluster settings.
 */

import {
  type Flags,
  parseCount,
  parseEtcdEndpoints,
  parsePort,
  parsePublicIps,
  parseSeconds,
  UsageError,
} from "./args.ts";
import { DEFAULT_INSPECT_PORT, isLoopbackHost } from "../inspector/mod.ts";
import type { ClusterOptions } from "../cluster/mod.ts";
import {
  type AutomaticTlsOptions,
  LETS_ENCRYPT,
  LETS_ENCRYPT_STAGING,
} from "../acme/mod.ts";
import { DEFAULT_DNS_PORT, DEFAULT_DNS_RATE_LIMIT } from "../dns/mod.ts";
import { env } from "./style.ts";
import { stderrLog } from "../server/mod.ts";

/** `--inspect-rate`: a whole number of requests a second, 0 for all. */
export function parseRate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,9}$/.test(value)) {
    throw new UsageError(
      `--inspect-rate takes requests a second (0: capture all), not "${value}"`,
    );
  }
  return Number(value);
}

/** `--memory-budget`: whole MiB, as bytes. */
export function parseMiB(value: string | undefined): number | undefined {
  const n = parseCount(value, "--memory-budget");
  return n === undefined ? undefined : n * 1024 * 1024;
}

/** `--inspect`: `port`, `host:port` or `[::1]:port`, loopback only. */
export function parseInspect(
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
export function oneOf<T extends string>(
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
export function needRead(path: string, flag: string): void {
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

/** The flags that name files to read, and the state directory (read and write). */
const READ_FLAGS = ["tls-cert", "tls-key", "ca", "acme-ca", "cluster-tls"];

/**
 * Checks, before anything starts, that every file the flags name may be read
 * (and the state directory written): one {@linkcode UsageError} names every
 * missing permission at once.
 */
export function checkFileAccess(f: Flags): void {
  const wants: Array<{ flag: string; path: string; name: "read" | "write" }> =
    [];
  for (const flag of READ_FLAGS) {
    const v = f[flag];
    if (typeof v !== "string") continue;
    const paths = flag === "cluster-tls" ? v.split(",") : [v];
    for (const path of paths.filter(Boolean)) {
      wants.push({ flag, path, name: "read" });
    }
  }
  const dir = f["state-dir"];
  if (typeof dir === "string" && dir) {
    wants.push({ flag: "state-dir", path: dir, name: "read" });
    wants.push({ flag: "state-dir", path: dir, name: "write" });
  }
  const missing = wants.filter(({ name, path }) =>
    Deno.permissions.querySync({ name, path }).state !== "granted"
  );
  if (missing.length === 0) return;
  const unique = (xs: string[]) => [...new Set(xs)];
  const and = (xs: string[]) =>
    xs.length < 2
      ? xs.join("")
      : `${xs.slice(0, -1).join(", ")} and ${xs.at(-1)}`;
  const flags = unique(missing.map((m) => `--${m.flag}`));
  const reads = unique(
    missing.filter((m) => m.name === "read").map((m) => m.path),
  );
  const writes = unique(
    missing.filter((m) => m.name === "write").map((m) => m.path),
  );
  const access = reads.length && writes.length
    ? "read and write"
    : reads.length
    ? "read"
    : "write";
  const add = [
    reads.length ? `--allow-read=${reads.join(",")}` : "",
    writes.length ? `--allow-write=${writes.join(",")}` : "",
  ].filter(Boolean).join(" ");
  throw new UsageError(
    `${and(flags)} ${flags.length > 1 ? "need" : "needs"} ${access} access to ${
      and(unique(missing.map((m) => `"${m.path}"`)))
    }: add ${add}`,
  );
}

/** What --acme, --public-ip and their friends ask for. */
export interface AutoTlsSettings {
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

export function automaticTls(
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
      log: stderrLog(f["log-format"] === "json" ? "json" : "text"),
    },
  };
}

/** --cluster and its companions. */
export function clusterOptions(f: Flags): ClusterOptions | undefined {
  const str = (k: string) => f[k] as string | undefined;
  const cluster = str("cluster");
  if (cluster === undefined) {
    for (const k of ["node-id", "node-addr", "cluster-secret", "cluster-tls"]) {
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
  const tlsFiles = str("cluster-tls");
  if (tlsFiles === undefined) return { etcd, nodeId, nodeAddr, secret };
  const files = tlsFiles.split(",");
  if (files.length !== 3 || files.some((p) => !p)) {
    throw new UsageError(
      `--cluster-tls takes cert.pem,key.pem,ca.pem (this node's certificate and key, and the nodes' CA), not "${tlsFiles}"`,
    );
  }
  for (const p of files) needRead(p, "--cluster-tls");
  const [cert, key, ca] = files.map((p, i) =>
    readPem(p, "--cluster-tls", i === 1 ? "PRIVATE KEY" : "CERTIFICATE")
  );
  return {
    etcd,
    nodeId,
    nodeAddr,
    secret,
    tls: { cert: cert!, key: key!, ca: ca! },
  };
}

export function readPem(
  path: string,
  flag = "--ca",
  kind = "CERTIFICATE",
): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw new UsageError(
      `Cannot read the ${flag} file "${path}": ${(err as Error).message}`,
    );
  }
  if (!text.includes("-----BEGIN ") || !text.includes(`${kind}-----`)) {
    throw new UsageError(
      `"${path}" holds no PEM ${kind.toLowerCase()} (given to ${flag})`,
    );
  }
  return text;
}

/** Options as parsed: absent flags are `undefined`, dropped before use. */
export type Loose<T> = { [K in keyof T]?: T[K] | undefined };

/** Drops the `undefined` entries, so each option's default applies. */
export function defined<T>(o: Loose<T>): T {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined),
  ) as unknown as T;
}
