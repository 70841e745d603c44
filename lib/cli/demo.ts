/**
 * `groktunnel demo`: a server, a hello-world app and a client in one
 * process, so a newcomer sees a working tunnel with nothing else running.
 * It makes one request through the tunnel, prints it, and stays up.
 */

import { startServer, type TunnelServer } from "../server/mod.ts";
import { connect } from "../client/mod.ts";

/** Runs the demo until `signal` aborts; `log` gets each line to show. */
export async function runDemo(
  log: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  let server: TunnelServer;
  let taken = false;
  try {
    server = startServer({ port: 9999, log: () => {} });
  } catch {
    taken = true;
    server = startServer({ port: 0, log: () => {} });
  }
  const app: Deno.HttpServer<Deno.NetAddr> = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new Response(
        `Hello from 127.0.0.1:${app.addr.port}${
          new URL(req.url).pathname
        }, through groktunnel!\n`,
      ),
  );
  const tunnel = await connect({
    port: app.addr.port,
    serverPort: server.addr.port,
  });
  try {
    if (taken) {
      log(
        `server:  port 9999 is taken (another groktunnel?), so this demo uses ${server.addr.port}`,
      );
    }
    log(`server:  listening on 127.0.0.1:${server.addr.port} for *.localhost`);
    log(`app:     a hello-world HTTP server on 127.0.0.1:${app.addr.port}`);
    log(`client:  exposing it at ${tunnel.url}`);
    // Through the server as a proxy: Deno's fetch does not resolve *.localhost.
    const http = Deno.createHttpClient({
      proxy: { url: `http://127.0.0.1:${server.addr.port}` },
    });
    const res = await fetch(`${tunnel.url}/`, { client: http });
    log(
      `GET ${tunnel.url}/ → ${res.status} ${JSON.stringify(await res.text())}`,
    );
    http.close();
    log(`Open ${tunnel.url}/ in a browser, or: curl ${tunnel.url}/`);
    log("Ctrl-C to stop.");
    await new Promise<void>((r) =>
      signal.addEventListener("abort", () => r(), { once: true })
    );
  } finally {
    await tunnel.close();
    await server.close();
    await app.shutdown();
  }
}
