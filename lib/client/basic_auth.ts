/**
 * HTTP Basic authentication (RFC 7617) for a tunnel: the credentials a
 * visitor must send, checked in constant time, and the 401 that asks for them.
 */

import { constantTimeEqual, page } from "../net/mod.ts";
import type { ClientFeature } from "./stage.ts";

/** The realm browsers show in their login prompt. */
export const BASIC_AUTH_REALM = "groktunnel";

/** Throws a `TypeError` unless `cred` is `user:password` with a non-empty user. */
export function checkCredentialSyntax(cred: string): void {
  const colon = cred.indexOf(":");
  if (colon < 1) {
    throw new TypeError(
      `Basic auth credentials must be "user:password", not "${
        cred.slice(0, 40)
      }"`,
    );
  }
}

/**
 * True if the `Authorization` value carries one of `credentials`. Every
 * candidate is compared, whatever matched, so timing says nothing of which.
 */
export function basicAuthOk(
  authorization: string | undefined,
  credentials: readonly string[],
): boolean {
  const m = /^basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(authorization ?? "");
  let given = "";
  if (m) {
    try {
      const bytes = Uint8Array.from(atob(m[1]!), (c) => c.charCodeAt(0));
      given = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      given = "";
    }
  }
  let ok = false;
  for (const c of credentials) ok = constantTimeEqual(given, c) || ok;
  return ok && given !== "";
}

/** The 401 answer that asks a browser for credentials. */
export function unauthorized(): Uint8Array {
  return page(401, "This tunnel needs a user name and password.", {
    headers: [
      `WWW-Authenticate: Basic realm="${BASIC_AUTH_REALM}", charset="UTF-8"`,
    ],
  });
}

/** Basic auth as a stage: the request filter asks visitors for credentials. */
export const basicAuthFeature: ClientFeature = (o) => {
  const credentials = o.basicAuth ?? [];
  for (const c of credentials) checkCredentialSyntax(c);
  if (credentials.length === 0) return undefined;
  return {
    httpOnly: true,
    join: (c) => void (c.rules.basicAuth = credentials),
  };
};
