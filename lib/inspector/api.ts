/**
 * Captures in the shapes of ngrok's agent API (`/api/requests/http`), so
 * tools that read ngrok's inspector read ours: headers as `{Name: [values]}`,
 * `raw` as base64 of the bytes on the wire, `duration` in nanoseconds. Our
 * additions sit under `groktunnel` (and `body`, the payload without chunked
 * framing, base64), where an ngrok reader does not look.
 */

import { type CapturedMessage, headersOf } from "./capture.ts";
import type { Capture } from "./store.ts";

/** The list endpoint's path. */
export const REQUESTS_URI = "/api/requests/http";

/** Base64 of latin1 text (the captured bytes, one char each). */
const b64 = (latin1: string): string => btoa(latin1);

function headers(
  m: CapturedMessage,
  side: "request" | "response",
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of headersOf(m, side)) {
    const name = k.split("-").map((w) =>
      w ? w[0]!.toUpperCase() + w.slice(1).toLowerCase() : w
    ).join("-");
    (out[name] ??= []).push(v);
  }
  return out;
}

function raw(m: CapturedMessage): string {
  return b64(m.rawHead + m.rawBody);
}

/** One capture as the API shows it. */
export function requestObject(c: Capture, tunnelName: string) {
  const q = c.request, r = c.response;
  return {
    uri: `${REQUESTS_URI}/${c.id}`,
    id: c.id,
    tunnel_name: tunnelName,
    remote_addr: c.remoteAddr,
    start: new Date(c.start).toISOString(),
    duration: c.duration * 1_000_000,
    request: {
      method: q.head.method,
      proto: q.head.version,
      headers: headers(q, "request"),
      uri: q.head.target,
      raw: raw(q),
      body: b64(q.body),
    },
    response: r
      ? {
        status: `${r.head.status} ${r.head.reason}`.trim(),
        status_code: r.head.status,
        proto: r.head.version,
        headers: headers(r, "response"),
        raw: raw(r),
        body: b64(r.body),
      }
      : null,
    groktunnel: {
      replay_of: c.replayOf ?? null,
      request_body_size: q.bodySize,
      request_truncated: q.truncated,
      response_body_size: r?.bodySize ?? 0,
      response_truncated: r?.truncated ?? false,
      websocket_closed: c.closed ? new Date(c.closed).toISOString() : null,
    },
  };
}

/** A short form for the live list (no bodies). */
export function summary(c: Capture) {
  return {
    id: c.id,
    start: new Date(c.start).toISOString(),
    duration_ms: c.duration,
    remote_addr: c.remoteAddr,
    method: c.request.head.method,
    uri: c.request.head.target,
    status_code: c.response?.head.status ?? 0,
    size: c.response?.bodySize ?? 0,
    replay_of: c.replayOf ?? null,
    headers: headersOf(c.request, "request"),
    websocket_closed: c.closed ? new Date(c.closed).toISOString() : null,
  };
}
