/**
 * The small HTML pages the server and client answer with when no tunnel can:
 * complete HTTP/1.1 responses that close the connection.
 */

const REASONS: Record<number, string> = {
  200: "OK",
  204: "No Content",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  421: "Misdirected Request",
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

/** Options of {@linkcode page}. */
export interface PageOptions {
  /** Leave the body out (for HEAD requests). */
  headOnly?: boolean;
  /** The heading and title; default the status and its reason. */
  title?: string;
  /** A command to show under the message, in a block that never breaks inside a flag. */
  code?: string;
  /** More paragraphs after the message. */
  more?: string[];
  /** A link shown as a button at the end: where it goes, and its text. */
  link?: { href: string; text: string };
  /** The footer line. */
  footer?: string;
  /** Extra header lines, each `Name: value`. */
  headers?: string[];
}

/**
 * A whole HTTP response with a short HTML page, readable on a phone;
 * `message` (and every option) is plain text, escaped here.
 */
export function page(
  status: number,
  message: string,
  options: PageOptions = {},
): Uint8Array {
  const statusLine = `${status} ${reason(status)}`;
  const title = options.title ?? statusLine;
  const code = options.code
    ? `<pre><code>${escape(options.code)}</code></pre>`
    : "";
  const body = `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#222}
h1{font-size:1.4em;overflow-wrap:anywhere}p{overflow-wrap:anywhere}pre{background:#f2f2f2;padding:.6em .8em;overflow-x:auto}
code{white-space:pre}footer{color:#888;font-size:.85em}
a.go{display:inline-block;padding:.5em 1em;background:#224;color:#fff;border-radius:.3em;text-decoration:none}
@media (prefers-color-scheme:dark){body{background:#161616;color:#ddd}pre{background:#262626}}</style></head>
<body><h1>${escape(title)}</h1><p>${escape(message)}</p>${
    (options.more ?? []).map((p) => `<p>${escape(p)}</p>`).join("")
  }${code}${
    options.link
      ? `<p><a class="go" href="${escape(options.link.href)}">${
        escape(options.link.text)
      }</a></p>`
      : ""
  }<footer>${escape(options.footer ?? "groktunnel")}</footer></body></html>
`;
  const bytes = new TextEncoder().encode(body);
  const extra = (options.headers ?? []).map((h) =>
    `${h.replace(/[\r\n]/g, "")}\r\n`
  ).join("");
  const head = `HTTP/1.1 ${statusLine}\r\n` + extra +
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

/** A TLS fatal alert record (RFC 8446 §6) with `description`. */
function tlsAlert(description: number): Uint8Array {
  return new Uint8Array([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, description]);
}

/** A TLS fatal alert `unrecognized_name` (RFC 6066 §3): the TLS way to say 404. */
export const TLS_UNRECOGNIZED_NAME: Uint8Array = tlsAlert(0x70);

/** A TLS fatal alert `access_denied` (RFC 8446 §6.2): the TLS way to say 403. */
export const TLS_ACCESS_DENIED: Uint8Array = tlsAlert(0x31);

/** A TLS fatal alert `internal_error` (RFC 8446 §6.2): the TLS way to say 503. */
export const TLS_INTERNAL_ERROR: Uint8Array = tlsAlert(0x50);
