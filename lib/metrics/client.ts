/**
 * The client's metrics (`groktunnel 3000 --metrics 127.0.0.1:9091`): whether
 * the tunnel is up, reconnects, visitor connections (all and open), request
 * heads the request filter passed on, bytes each way, and local app errors.
 */

import { Exposition, processSeries, type Series } from "./text.ts";

/** What the metrics read of a client (a `TunnelClient` has it as `stats`). */
export interface ClientView {
  readonly up: number;
  readonly reconnects: number;
  readonly connections: number;
  readonly open: number;
  readonly requests: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly localErrors: number;
}

/** The exposition for a client now. */
export function renderClientMetrics(c: ClientView, version: string): string {
  const e = new Exposition();
  e.family("groktunnel_build_info", "gauge", "The version running (1).")
    .sample("groktunnel_build_info", 1, { version });
  const rows: Array<[string, Series["type"], string, number]> = [
    ["groktunnel_client_up", "gauge", "1 while the tunnel is up.", c.up],
    [
      "groktunnel_client_reconnects_total",
      "counter",
      "Reconnects after the server was lost.",
      c.reconnects,
    ],
    [
      "groktunnel_client_connections_total",
      "counter",
      "Visitor connections the server opened to this client.",
      c.connections,
    ],
    [
      "groktunnel_client_connections_open",
      "gauge",
      "Visitor connections open now.",
      c.open,
    ],
    [
      "groktunnel_client_requests_total",
      "counter",
      "HTTP request heads passed on to the local app by the request filter.",
      c.requests,
    ],
    [
      "groktunnel_client_from_visitors_bytes_total",
      "counter",
      "Bytes from visitors, of connections that ended.",
      c.bytesIn,
    ],
    [
      "groktunnel_client_to_visitors_bytes_total",
      "counter",
      "Bytes to visitors, of connections that ended.",
      c.bytesOut,
    ],
    [
      "groktunnel_client_local_errors_total",
      "counter",
      "Visitor connections the local app did not take (502 or closed).",
      c.localErrors,
    ],
  ];
  e.series([
    ...rows.map(([name, type, help, value]) => ({ name, type, help, value })),
    ...processSeries(),
  ]);
  return e.text();
}
