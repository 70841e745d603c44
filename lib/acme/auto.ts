/**
 * Automatic certificates: the zone's DNS server first (the CA checks the
 * challenge through it), then a {@linkcode CertificateManager} that fills
 * the state directory. The server then serves the manager's files and swaps
 * them in whenever `onRenewed` fires.
 */

import { DnsServer, type DnsServerOptions, Zone } from "../dns/mod.ts";
import {
  CertificateManager,
  type CertificateManagerOptions,
} from "./manager.ts";

/** Options of {@linkcode startAutomaticTls}. */
export interface AutomaticTlsOptions
  extends Omit<CertificateManagerOptions, "dns"> {
  /** Address the DNS server binds. */
  hostname: string;
  /** The DNS port (53 in real use). */
  dnsPort: number;
  /** UDP answers per second to one address. */
  dnsRateLimit?: number | undefined;
  /** A records for the zone. */
  ipv4: string[];
  /** AAAA records for the zone. */
  ipv6: string[];
  /** Aborting stops everything, also a start still waiting for its certificate. */
  signal?: AbortSignal | undefined;
}

/** The running pieces. */
export interface AutomaticTls {
  /** The zone's records (challenge TXT records come and go here). */
  zone: Zone;
  /** The DNS server. */
  dns: DnsServer;
  /** The certificate's keeper. */
  manager: CertificateManager;
  /** Stops renewing and answering. */
  close(): void;
}

/**
 * Starts the DNS server, then the manager; resolves once a certificate is in
 * the state directory (see {@linkcode CertificateManager.start}).
 */
export async function startAutomaticTls(
  o: AutomaticTlsOptions,
): Promise<AutomaticTls> {
  const zone = new Zone({
    apex: o.host,
    ipv4: o.ipv4,
    ipv6: o.ipv6,
    email: o.email,
  });
  const dns = await startDns({
    hostname: o.hostname,
    port: o.dnsPort,
    zone,
    rateLimit: o.dnsRateLimit,
  }, o.log);
  const manager = new CertificateManager({ ...o, dns: zone });
  const close = () => {
    manager.stop();
    dns.close();
  };
  o.signal?.addEventListener("abort", close);
  try {
    await manager.start();
  } catch (err) {
    close();
    throw err;
  } finally {
    o.signal?.removeEventListener("abort", close);
  }
  return { zone, dns, manager, close };
}

/**
 * {@linkcode DnsServer.start}, saying so in the log, or failing with a
 * message that says where.
 */
export async function startDns(
  o: DnsServerOptions,
  log: (line: string) => void,
): Promise<DnsServer> {
  try {
    const dns = await DnsServer.start(o);
    const apex = o.zone.apex;
    log(
      `dns: answering for ${apex} and *.${apex} on ${o.hostname}:${dns.port} (udp, tcp)`,
    );
    return dns;
  } catch (err) {
    throw new Error(
      `cannot listen for DNS on ${o.hostname}:${o.port} (UDP and TCP): ${
        (err as Error).message
      }${
        o.port < 1024
          ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
          : ""
      }`,
      { cause: err },
    );
  }
}
