/**
 * The server's metrics, named as Prometheus's conventions ask (`promtool
 * check metrics` passes them): what is up now (tunnels by kind, control
 * sessions, open public connections, unread bytes), what happened since
 * start (public connections by outcome, tunnels started and refused, bytes
 * each way), two histograms (the control handshake, opening a channel for a
 * visitor) and the certificate's expiry. Per-tunnel series only when asked
 * (`--metrics-per-tunnel`): their labels grow with the tunnels.
 */

import {
  Exposition,
  type Histogram,
  processSeries,
  type Series,
} from "./text.ts";

/** What the metrics read of a server (a `TunnelServer` has it). */
export interface ServerView {
  /** Counters since start. */
  readonly stats: {
    readonly outcomes: Readonly<Record<string, number>>;
    readonly tunnelsStarted: number;
    readonly tunnelsRefused: number;
    readonly endedBytesIn: number;
    readonly endedBytesOut: number;
    readonly handshake: Histogram;
    readonly channelOpen: Histogram;
    readonly firstByte: Histogram;
    readonly responses: Readonly<Record<string, number>>;
  };
  /** The tunnels up now. */
  readonly tunnels: ReadonlyArray<{
    name: string;
    kind: string;
    connections: number;
    openConnections: number;
    bytesIn: number;
    bytesOut: number;
    members?: readonly unknown[] | undefined;
  }>;
  /** The certificate served, when the server ends TLS. */
  readonly certificate?: { notAfter: number } | undefined;
  /** What features add (one sample each). */
  readonly pluginMetrics?: readonly Series[];
}

/** What else goes in: the version, and the process's unread-bytes budget. */
export interface ServerExtras {
  /** groktunnel's version. */
  version: string;
  /** Unread bytes held now, and the budget. */
  budget: { used: number; limit: number };
}

/** The exposition for `server` now. */
export function renderServerMetrics(
  server: ServerView,
  extras: ServerExtras,
  perTunnel: boolean,
): string {
  const e = new Exposition();
  const s = server.stats, tunnels = server.tunnels;
  e.family("groktunnel_build_info", "gauge", "The version running (1).")
    .sample("groktunnel_build_info", 1, { version: extras.version });
  const byKind: Record<string, number> = { http: 0, tcp: 0, pooled: 0 };
  let open = 0, bytesIn = s.endedBytesIn, bytesOut = s.endedBytesOut;
  let members = 0;
  for (const t of tunnels) {
    byKind[t.kind] = (byKind[t.kind] ?? 0) + 1;
    members += t.members?.length ?? 0;
    open += t.openConnections;
    bytesIn += t.bytesIn;
    bytesOut += t.bytesOut;
  }
  e.family("groktunnel_tunnels", "gauge", "Tunnels up now, by kind.");
  for (const [kind, n] of Object.entries(byKind)) {
    e.sample("groktunnel_tunnels", n, { kind });
  }
  e.family(
    "groktunnel_pool_members",
    "gauge",
    "Clients in pools now (a pooled tunnel has one or more).",
  ).sample("groktunnel_pool_members", members);
  e.family(
    "groktunnel_public_connections_total",
    "counter",
    "Public connections by what became of them.",
  );
  for (const [outcome, n] of Object.entries(s.outcomes)) {
    e.sample("groktunnel_public_connections_total", n, { outcome });
  }
  e.family(
    "groktunnel_control_handshake_seconds",
    "histogram",
    "From a tunnel client's request head to its tunnel's start.",
  ).histogram("groktunnel_control_handshake_seconds", s.handshake);
  e.family(
    "groktunnel_channel_open_seconds",
    "histogram",
    "Opening a channel to the tunnel's client for a public connection.",
  ).histogram("groktunnel_channel_open_seconds", s.channelOpen);
  e.family(
    "groktunnel_public_first_byte_seconds",
    "histogram",
    "From opening a public connection's channel to the first byte back to its visitor (the app's time included).",
  ).histogram("groktunnel_public_first_byte_seconds", s.firstByte);
  e.family(
    "groktunnel_http_first_responses_total",
    "counter",
    "The first answer on each public HTTP connection, by status class (later ones on a keep-alive connection are not read).",
  );
  for (const [status, n] of Object.entries(s.responses)) {
    e.sample("groktunnel_http_first_responses_total", n, { class: status });
  }
  const one = (
    name: string,
    type: Series["type"],
    help: string,
    value: number,
  ): Series => ({ name, type, help, value });
  e.series([
    one(
      "groktunnel_control_sessions",
      "gauge",
      "Control sessions (one per tunnel client) up now.",
      tunnels.length,
    ),
    one(
      "groktunnel_tunnels_started_total",
      "counter",
      "Tunnels started since the server started.",
      s.tunnelsStarted,
    ),
    one(
      "groktunnel_tunnels_refused_total",
      "counter",
      "Tunnel clients refused at the handshake (token, name, limits).",
      s.tunnelsRefused,
    ),
    one(
      "groktunnel_public_connections_open",
      "gauge",
      "Public connections relayed to a tunnel and open now.",
      open,
    ),
    one(
      "groktunnel_from_clients_bytes_total",
      "counter",
      "Bytes received from tunnel clients (what visitors get).",
      bytesIn,
    ),
    one(
      "groktunnel_to_clients_bytes_total",
      "counter",
      "Bytes sent to tunnel clients (what visitors send).",
      bytesOut,
    ),
    one(
      "groktunnel_unread_bytes",
      "gauge",
      "Bytes received and not yet read, all tunnels (--memory-budget caps it).",
      extras.budget.used,
    ),
    one(
      "groktunnel_memory_budget_bytes",
      "gauge",
      "The cap on unread bytes (--memory-budget).",
      extras.budget.limit,
    ),
    ...(server.certificate
      ? [one(
        "groktunnel_certificate_expiry_timestamp_seconds",
        "gauge",
        "When the certificate served now expires (Unix time).",
        Math.floor(server.certificate.notAfter / 1000),
      )]
      : []),
    ...processSeries(),
    ...(server.pluginMetrics ?? []),
  ]);
  if (perTunnel) tunnelSeries(e, tunnels);
  return e.text();
}

function tunnelSeries(e: Exposition, tunnels: ServerView["tunnels"]): void {
  const series: Array<
    [
      string,
      "counter" | "gauge",
      string,
      (t: ServerView["tunnels"][0]) => number,
    ]
  > = [
    [
      "groktunnel_tunnel_connections_total",
      "counter",
      "Public connections relayed to the tunnel.",
      (t) => t.connections,
    ],
    [
      "groktunnel_tunnel_connections_open",
      "gauge",
      "Public connections to the tunnel open now.",
      (t) => t.openConnections,
    ],
    [
      "groktunnel_tunnel_from_client_bytes_total",
      "counter",
      "Bytes received from the tunnel's client.",
      (t) => t.bytesIn,
    ],
    [
      "groktunnel_tunnel_to_client_bytes_total",
      "counter",
      "Bytes sent to the tunnel's client.",
      (t) => t.bytesOut,
    ],
  ];
  for (const [name, type, help, value] of series) {
    e.family(name, type, help);
    for (const t of tunnels) {
      e.sample(name, value(t), { tunnel: t.name, kind: t.kind });
    }
  }
}
