/**
 * Runs a server from its options: automatic TLS and DNS first, then the
 * tunnel server, its start-up lines and its signals.
 */

import {
  describeCertificate,
  type ServerOptions,
  startServer,
  stderrLog,
  type TunnelServer,
} from "../server/mod.ts";
import { VERSION } from "../version.ts";
import { CertificateError, covers } from "../tls/mod.ts";
import { startAutomaticTls, startDns } from "../acme/mod.ts";
import { Zone } from "../dns/mod.ts";
import type { Styles } from "./style.ts";
import { type OperateSettings, startOperate } from "./operate.ts";
import { type AutoTlsSettings, defined, type Loose } from "./flags.ts";

/** How to run this program again, as printed hints should say it. */
function selfCommand(read?: string): string {
  const m = Deno.mainModule;
  const allow = `--allow-net --allow-env${read ? ` --allow-read=${read}` : ""}`;
  if (!m.startsWith("file:")) return `deno run ${allow} ${m}`;
  const path = decodeURIComponent(new URL(m).pathname);
  const cwd = Deno.cwd();
  // Run from its clone: the way it was started. From elsewhere: the command
  // `deno install` made (the README's way), with the extra permission.
  if (path.startsWith(cwd + "/")) {
    return `deno run ${allow} ${path.slice(cwd.length + 1)}`;
  }
  return "groktunnel";
}

export async function runServer(
  o: Loose<ServerOptions> & { hostname: string; port: number; grace: number },
  s: Styles,
  auto: AutoTlsSettings,
  operate: OperateSettings,
): Promise<number> {
  const log = stderrLog(o.logFormat);
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
      zoneServer = await startDns({ ...auto.dns, zone }, log);
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
  let operated;
  try {
    operated = startOperate(server, operate, clean, log);
  } catch (err) {
    await server.close();
    zoneServer?.close();
    console.error(s.red(`groktunnel: ${(err as Error).message}`));
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
  for (const line of operated.lines) console.error(line);
  if (o.tcpPorts) {
    console.error(
      `tcp tunnels on ports ${o.tcpPorts[0]}-${
        o.tcpPorts[1]
      } (tcp://${server.host}:<port>)`,
    );
  }
  if (tls) {
    console.error(`certificate: ${describeCertificate(tls)}`);
    const single = !server.host.includes(".");
    if (single && tls.names.includes(`*.${server.host}`)) {
      // Browsers and curl refuse a wildcard right under a top-level name.
      console.error(
        s.yellow(
          `warning: clients refuse *.${server.host} (a wildcard right under a top-level name): run with -h tunnel.${server.host} and a certificate for tunnel.${server.host}, *.tunnel.${server.host}`,
        ),
      );
    }
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
  const url = `${scheme}://${server.host}${
    port === defaultPort ? "" : `:${port}`
  }`;
  console.error(s.dim(`clients run: ${selfCommand()} <port> --server ${url}`));
  if (tls && !auto.acme) {
    // Certificate files may come from a CA of one's own: say how to trust it.
    console.error(
      s.dim(
        `  (with a CA of your own: ${
          selfCommand("ca.pem")
        } <port> --server ${url} --ca ca.pem${
          selfCommand() === "groktunnel"
            ? ", installed with --allow-read=ca.pem"
            : ""
        })`,
      ),
    );
  }
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
  await operated.close();
  zoneServer?.close();
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  if (tls) Deno.removeSignalListener("SIGHUP", reload);
  console.error("server stopped");
  return 0;
}
