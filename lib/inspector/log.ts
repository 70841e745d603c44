/**
 * The request log on the terminal: one line per request (time, method,
 * path, status, duration, response size, visitor), and for a WebSocket one
 * line when it opens (101) and one when it closes.
 */

import type { Capture } from "./store.ts";

/** Colours to use (identity functions when off). */
export interface LogStyles {
  green: (s: string) => string;
  yellow: (s: string) => string;
  red: (s: string) => string;
  dim: (s: string) => string;
}

/** A byte count for people: B, KiB or MiB. */
export function size(n: number): string {
  return n < 1024
    ? `${n} B`
    : n < 1024 * 1024
    ? `${(n / 1024).toFixed(1)} KiB`
    : `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** One capture's line. `kind` "closed" is a WebSocket's end. */
export function logLine(
  c: Capture,
  kind: "new" | "closed",
  s: LogStyles,
): string {
  const time = new Date(kind === "closed" ? c.closed ?? Date.now() : c.start)
    .toTimeString().slice(0, 8);
  const status = c.response?.head.status ?? 0;
  const colour = status >= 500
    ? s.red
    : status >= 400
    ? s.yellow
    : status >= 100
    ? s.green
    : s.dim;
  // Control characters from a hostile path must not reach the terminal.
  const path =
    c.request.head.target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "")
      // deno-lint-ignore no-control-regex
      .replace(/[\x00-\x1f\x7f-\x9f]/g, "?") || "/";
  const who = c.remoteAddr ? `  ${s.dim(c.remoteAddr)}` : "";
  if (kind === "closed") {
    const secs = (((c.closed ?? Date.now()) - c.start) / 1000).toFixed(1);
    return `${s.dim(time)} ${c.request.head.method} ${path}  ${
      s.dim(`websocket closed after ${secs} s`)
    }${who}`;
  }
  const what = status === 101
    ? s.dim("websocket open")
    : `${c.duration} ms  ${size(c.response?.bodySize ?? 0)}`;
  return `${s.dim(time)} ${c.request.head.method} ${path}  ${
    colour(String(status))
  }  ${what}${c.replayOf ? s.dim(`  (replay of ${c.replayOf})`) : ""}${who}`;
}
