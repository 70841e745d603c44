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

import { parseArgs } from "node:util";
import {
  type ServerOptions,
  startServer,
  type TunnelServer,
} from "./lib/server.ts";
import {
  type ClientEvent,
  type ClientOptions,
  TunnelClient,
} from "./lib/client.ts";
import { VERSION } from "./lib/version.ts";
import { runDemo } from "./lib/demo.ts";

const USAGE =
  `groktunnel ${VERSION}: put a localhost HTTP server on a public URL

Usage:
  groktunnel <port> [options]        expose localhost:<port> through a server
  groktunnel [server] [options]      run a server
  groktunnel demo                    server, app and tunnel in one process

Options:
  -h, --host <host>        server host; tunnels are <name>.<host>  [localhost]
  -p, --port <port>        server port                             [9999]
      --token <token>      shared secret (or GROKTUNNEL_TOKEN)
      --help               show this help
      --version            show the version

Client options:
      --local-host <host>  where the local server listens          [127.0.0.1]
      --subdomain <name>   ask for this name instead of a random one

Server options:
  -b, --bind <address>     address to listen on (0.0.0.0 for all)  [127.0.0.1]
      --max-tunnels <n>            tunnels at once                 [1000]
      --max-tunnels-per-ip <n>     tunnels at once per client IP   [16]
      --max-connections <n>        public connections per tunnel   [4096]
      --peek-timeout <seconds>     time to send a request head     [10]
      --peek-max-bytes <n>         largest request head            [32768]
      --reserved <a,b,...>         names no client may ask for
      --shutdown-grace <seconds>   in-flight time on SIGINT/SIGTERM [10]

Examples:
  groktunnel                          # server for *.localhost on :9999
  groktunnel 3000                     # prints http://<name>.localhost:9999
  groktunnel -b 0.0.0.0 -p 80 -h tunnel.example.com
  groktunnel 3000 -h tunnel.example.com -p 80
`;

/** A usage error: exit 2 with a one-line message and the usage. */
class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

function parsePort(value: string, what: string, allowZero = false): number {
  const n = Number(value);
  if (!/^[0-9]{1,5}$/.test(value) || n < (allowZero ? 0 : 1) || n > 65535) {
    throw new UsageError(
      `${what} must be a port number (1-65535), not "${value}"`,
    );
  }
  return n;
}

function parseCount(
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

function parseSeconds(
  value: string | undefined,
  what: string,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || n <= 0) {
    throw new UsageError(
      `${what} must be a positive number of seconds, not "${value}"`,
    );
  }
  return Math.round(n * 1000);
}

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

/** Runs the CLI with `args`; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const s = styles();
  let values, positionals;
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        host: { type: "string", short: "h" },
        port: { type: "string", short: "p" },
        bind: { type: "string", short: "b" },
        token: { type: "string" },
        "local-host": { type: "string" },
        subdomain: { type: "string" },
        "max-tunnels": { type: "string" },
        "max-tunnels-per-ip": { type: "string" },
        "max-connections": { type: "string" },
        "peek-timeout": { type: "string" },
        "peek-max-bytes": { type: "string" },
        reserved: { type: "string" },
        "shutdown-grace": { type: "string" },
        help: { type: "boolean" },
        version: { type: "boolean" },
      },
    }));
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (values.version) {
      console.log(`groktunnel ${VERSION}`);
      return 0;
    }
    if (positionals.length > 1) {
      throw new UsageError(`Unexpected argument: "${positionals[1]}"`);
    }
    if (Deno.permissions.querySync({ name: "net" }).state !== "granted") {
      console.error(
        "groktunnel: needs network access: run with --allow-net --allow-env",
      );
      return 2;
    }
    const mode = positionals[0];
    if (mode === "demo") {
      const stop = new AbortController();
      const abort = () => stop.abort();
      Deno.addSignalListener("SIGINT", abort);
      Deno.addSignalListener("SIGTERM", abort);
      await runDemo((line) => console.log(line), stop.signal);
      return 0;
    }
    const isServer = mode === undefined || mode === "server";
    // A server may take port 0 (any free port; it prints the one it got).
    const port = values.port === undefined
      ? 9999
      : parsePort(values.port, "--port", isServer);
    const host = values.host ?? "localhost";
    const token = values.token ?? env("GROKTUNNEL_TOKEN");
    if (isServer) {
      return await runServer({
        host,
        port,
        hostname: values.bind ?? "127.0.0.1",
        token,
        maxTunnels: parseCount(values["max-tunnels"], "--max-tunnels"),
        maxTunnelsPerIp: parseCount(
          values["max-tunnels-per-ip"],
          "--max-tunnels-per-ip",
        ),
        maxConnectionsPerTunnel: parseCount(
          values["max-connections"],
          "--max-connections",
        ),
        peekTimeout: parseSeconds(values["peek-timeout"], "--peek-timeout"),
        peekMaxBytes: parseCount(values["peek-max-bytes"], "--peek-max-bytes"),
        reservedNames: values.reserved?.split(",").map((n) => n.trim()).filter(
          Boolean,
        ),
        grace: parseSeconds(values["shutdown-grace"], "--shutdown-grace") ??
          10_000,
      }, s);
    }
    const localPort = parsePort(mode, "The local port");
    return await runClient({
      port: localPort,
      localHost: values["local-host"] ?? "127.0.0.1",
      server: host,
      serverPort: port,
      token,
      subdomain: values.subdomain,
    }, s);
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      console.error(`groktunnel: ${(err as Error).message}\n`);
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

async function runServer(
  o: Loose<ServerOptions> & { hostname: string; port: number; grace: number },
  s: Styles,
): Promise<number> {
  const clean = defined<ServerOptions>(o);
  let server: TunnelServer;
  try {
    server = startServer(clean);
  } catch (err) {
    console.error(
      s.red(
        `groktunnel: cannot listen on ${o.hostname}:${o.port}: ${
          (err as Error).message
        }`,
      ),
    );
    return 1;
  }
  const where = `${server.addr.hostname}:${server.addr.port}`;
  console.error(
    `${
      s.bold("groktunnel server")
    } ${VERSION} listening on ${where} for *.${server.host}`,
  );
  console.error(
    s.dim(
      `clients run: groktunnel <port> -h ${server.host} -p ${server.addr.port}`,
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
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  console.error("server stopped");
  return 0;
}

async function runClient(
  o: Loose<ClientOptions> & { port: number; localHost: string },
  s: Styles,
): Promise<number> {
  const target = `http://${o.localHost}:${o.port}`;
  let lastUrl: string | undefined;
  const onEvent = (e: ClientEvent) => {
    switch (e.type) {
      case "connecting":
        if (e.attempt === 0 && !lastUrl) {
          console.error(s.dim(`connecting to ${e.server}…`));
        }
        break;
      case "connected":
        if (e.url !== lastUrl) {
          // The URL alone on stdout, for scripts; the rest on stderr.
          console.log(e.url);
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
          `${s.green("forwarding")} ${s.bold(e.url)} → ${target}  ${
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
    }
  };
  const clean = defined<ClientOptions>(o);
  const client = new TunnelClient({ ...clean, onEvent });
  const stop = () => client.close();
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
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
