/**
 * What the client counts as it works, for its metrics (`--metrics`): plain
 * numbers, one add per connection or request, read when someone scrapes.
 */

import type { ClientEvent } from "./options.ts";

/** See the module doc. */
export class ClientStats {
  /** Visitor connections joined to the local app (or refused) since start. */
  connections = 0;
  /** Visitor connections open now. */
  open = 0;
  /** Request heads the request filter passed on (0 when no filter runs). */
  requests = 0;
  /** Bytes from visitors, of connections that ended. */
  bytesIn = 0;
  /** Bytes to visitors, of connections that ended. */
  bytesOut = 0;
  /** Local app errors (not answering: 502; refused for the budget). */
  localErrors = 0;
  /** Reconnects to the server after it was lost. */
  reconnects = 0;
  /** 1 while the tunnel is up. */
  up = 0;
}

/** Counts what an event of the client says (errors, reconnects, up or down). */
export function countEvent(stats: ClientStats, e: ClientEvent): void {
  if (e.type === "local-error") stats.localErrors++;
  else if (e.type === "retrying") stats.reconnects++;
  else if (e.type === "connected") stats.up = 1;
  else if (e.type === "disconnected") stats.up = 0;
}
