/**
 * The metrics endpoint: `GET /metrics` (and `HEAD`) answers the exposition
 * `render` makes at that moment; anything else is 404. It keeps no state of
 * its own, so a scrape costs what rendering costs and nothing in between.
 */

import { METRICS_CONTENT_TYPE } from "./text.ts";

/** A running metrics endpoint. */
export interface MetricsEndpoint {
  /** Where it listens. */
  readonly addr: Deno.NetAddr;
  /** Stops it. */
  close(): Promise<void>;
}

/** Serves `render()` at `http://<hostname>:<port>/metrics`; throws if it cannot bind. */
export function serveMetrics(
  hostname: string,
  port: number,
  render: () => string,
): MetricsEndpoint {
  const server = Deno.serve(
    {
      hostname,
      port,
      onListen() {},
      onError: () => new Response(null, { status: 500 }),
    },
    (req) => {
      const path = new URL(req.url).pathname;
      if (
        path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")
      ) {
        return new Response("Not found: metrics are at /metrics\n", {
          status: 404,
        });
      }
      const body = req.method === "HEAD" ? null : render();
      return new Response(body, {
        headers: {
          "content-type": METRICS_CONTENT_TYPE,
          "cache-control": "no-store",
        },
      });
    },
  );
  return { addr: server.addr, close: () => server.shutdown() };
}
