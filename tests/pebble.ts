/**
 * Debian's pebble (Let's Encrypt's ACME test server) on loopback, for the
 * ACME test and `deno task acme-demo`: its own HTTPS certificate (Debian's
 * package ships none), its config, the process asking `dnsPort` for the
 * challenges, and the root it issues under (new on every start).
 */

import { makeLocalhostCert } from "./certs.ts";
import { freePort } from "./process.ts";

/** A running pebble. */
export interface Pebble {
  /** The CA file for pebble's own HTTPS (`--acme-ca`), and its folder. */
  tls: { ca: string; dir: string };
  /** The root the certificates it issues chain to (PEM). */
  root: string;
  /** Its config file (shown by the demo). */
  config: string;
  /**
   * A server's words for `host` on `port` with certificates from this
   * pebble, its state in `state`.
   */
  serverArgs(host: string, port: number, state: string): string[];
  /** Stops it and removes its files. */
  stop(): Promise<void>;
}

/** Starts pebble; `env` tunes it (PEBBLE_* variables), `validity` in seconds. */
export async function startPebble(
  dnsPort: number,
  env: Record<string, string>,
  validity?: number,
): Promise<Pebble> {
  const tls = await makeLocalhostCert();
  const acmePort = freePort(), mgmtPort = freePort();
  const config = `${tls.dir}/pebble.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: tls.cert,
        privateKey: tls.key,
        httpPort: freePort(),
        tlsPort: freePort(),
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        ...(validity ? { certificateValidityPeriod: validity } : {}),
      },
    }),
  );
  const proc = new Deno.Command("pebble", {
    args: ["-config", config, "-dnsserver", `127.0.0.1:${dnsPort}`],
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const http = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(tls.ca)],
  });
  const stop = async () => {
    try {
      proc.kill("SIGTERM");
    } catch { /* gone */ }
    await proc.status;
    await Deno.remove(tls.dir, { recursive: true }).catch(() => {});
  };
  try {
    let root = "";
    for (let i = 0; !root; i++) {
      try {
        const r = await fetch(`https://127.0.0.1:${mgmtPort}/roots/0`, {
          client: http,
        });
        root = await r.text();
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return {
      tls: { ca: tls.ca, dir: tls.dir },
      root,
      config,
      stop,
      serverArgs: (host, port, state) => [
        "server",
        "-h",
        host,
        "-p",
        String(port),
        "--acme",
        "--public-ip",
        "127.0.0.1",
        "--state-dir",
        state,
        "--acme-directory",
        `https://127.0.0.1:${acmePort}/dir`,
        "--acme-ca",
        tls.ca,
      ],
    };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    http.close();
  }
}
