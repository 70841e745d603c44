/**
 * Runs a client from its options: the tunnel, the inspector, the request
 * log, the QR code, and what the terminal shows.
 */

import {
  type ClientEvent,
  type ClientOptions,
  TunnelClient,
} from "../client/mod.ts";
import { encodeQr, renderQr } from "../qr/mod.ts";
import {
  CaptureStore,
  DEFAULT_CAPTURE_RATE,
  formatSize,
  type Inspector,
  logLine,
  startInspector,
} from "../inspector/mod.ts";
import { env, type Styles } from "./style.ts";
import {
  type MetricsEndpoint,
  renderClientMetrics,
  serveMetrics,
} from "../metrics/mod.ts";
import { VERSION } from "../version.ts";
import { defined, type Loose } from "./flags.ts";

/** The time of day for a log line, as the request log shows it. */
function clock(): string {
  return new Date().toTimeString().slice(0, 8);
}

/** Longest a request's log line waits to be written with others (ms). */
const LOG_FLUSH = 50;

export async function runClient(
  o: Loose<ClientOptions> & { port: number },
  s: Styles,
  ui: {
    qr: boolean;
    quiet: boolean;
    inspect: { hostname: string; port: number; exact: boolean } | undefined;
    inspectRate: number | undefined;
    /** A TCP tunnel: a line per connection. */
    tcpLog: boolean;
    /** Where to serve the client's metrics, if anywhere. */
    metrics: { hostname: string; port: number } | undefined;
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
  let inspectorShown = false;
  let lastUrl: string | undefined;
  let poolMembers: number | undefined;
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
        // Once the tunnel is up: an inspector with nothing to show before
        // (or for a client that then fails) is no news.
        if (inspector && !inspectorShown) {
          inspectorShown = true;
          console.error(`${s.green("inspector")} ${s.bold(inspector.url)}`);
        }
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
        console.error(
          `${s.dim(clock())} ${s.yellow(e.message)}${
            e.visitor ? `  ${s.dim(e.visitor)}` : ""
          }`,
        );
        break;
      case "tcp-connection": {
        if (!ui.tcpLog) break;
        const what = e.state === "opened"
          ? "tcp connection opened"
          : `tcp connection closed after ${
            ((e.ms ?? 0) / 1000).toFixed(1)
          } s  ${formatSize(e.bytesIn ?? 0)} in, ${
            formatSize(e.bytesOut ?? 0)
          } out`;
        console.error(
          `${s.dim(clock())} ${what}${
            e.visitor ? `  ${s.dim(e.visitor)}` : ""
          }`,
        );
        break;
      }
      case "notice":
        console.error(s.dim(e.message));
        break;
      case "pool":
        if (poolMembers === undefined && !o.poolSecret) {
          console.error(
            `${s.green("pool secret")} ${s.bold(e.secret)}  ${
              s.dim(
                "(other members: --pool --pool-secret <it>, or GROKTUNNEL_POOL_SECRET)",
              )
            }`,
          );
        }
        if (e.members !== poolMembers) {
          console.error(
            s.dim(
              `pool of ${e.members} member${e.members === 1 ? "" : "s"}`,
            ),
          );
        }
        poolMembers = e.members;
        break;
      case "health":
        console.error(
          `${s.dim(clock())} ${
            e.up
              ? s.green(
                "the local app answers again: this member takes new connections",
              )
              : s.yellow(
                `the local app does not answer (${e.reason}): this member takes no new connections`,
              )
          }`,
        );
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
          pool: client.pool && { members: client.pool.members },
        }),
        dialLocal: () => client.connectLocal(),
      });
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
  let metrics: MetricsEndpoint | undefined;
  if (ui.metrics) {
    try {
      const c = client;
      metrics = serveMetrics(
        ui.metrics.hostname,
        ui.metrics.port,
        () => renderClientMetrics(c.stats, VERSION),
      );
      console.error(
        `metrics on http://${ui.metrics.hostname}:${metrics.addr.port}/metrics`,
      );
    } catch (err) {
      client.close();
      console.error(
        s.red(`groktunnel: --metrics: ${(err as Error).message}`),
      );
      return 1;
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
    await metrics?.close();
    flushLog();
  }
}
