/**
 * The small HTML pages the server and client answer with when no tunnel can:
 * complete HTTP/1.1 responses that close the connection.
 */

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

/** The reason phrase of a status code. */
export function reason(status: number): string {
  return REASONS[status] ?? "Error";
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A whole HTTP response with a short HTML page; `message` is plain text.
 * `headOnly` leaves the body out (for HEAD requests).
 */
export function page(
  status: number,
  message: string,
  options: { headOnly?: boolean } = {},
): Uint8Array {
  const title = `${status} ${reason(status)}`;
  const body = `<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}
h1{font-size:1.4em}code{background:#f2f2f2;padding:.1em .3em}footer{color:#888;font-size:.85em}</style></head>
<body><h1>${escape(title)}</h1><p>${
    escape(message)
  }</p><footer>groktunnel</footer></body></html>
`;
  const bytes = new TextEncoder().encode(body);
  const head = `HTTP/1.1 ${title}\r\n` +
    `Content-Type: text/html; charset=utf-8\r\n` +
    `Content-Length: ${bytes.length}\r\n` +
    `Cache-Control: no-store\r\n` +
    `Connection: close\r\n\r\n`;
  const headBytes = new TextEncoder().encode(head);
  if (options.headOnly) return headBytes;
  const out = new Uint8Array(headBytes.length + bytes.length);
  out.set(headBytes);
  out.set(bytes, headBytes.length);
  return out;
}

/** A TLS fatal alert `unrecognized_name` (RFC 6066 §3): the TLS way to say 404. */
export const TLS_UNRECOGNIZED_NAME: Uint8Array = new Uint8Array([
  0x15,
  0x03,
  0x01,
  0x00,
  0x02,
  0x02,
  0x70,
]);
