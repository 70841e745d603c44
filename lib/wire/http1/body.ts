/**
 * How a message's body is delimited once its head is read (RFC 9112 §6.3),
 * and the queue of request methods a response parser needs to know it.
 */

import type { Framing } from "./framing.ts";

/** How the bytes after a head go on. */
export type Delimiting =
  /** An interim response (1xx but 101): another head follows. */
  | "interim"
  /** No body: the message ends with its head. */
  | "none"
  /** A body of the Content-Length's bytes. */
  | "length"
  /** A chunked body. */
  | "chunked"
  /** Everything until the connection closes. */
  | "until-eof"
  /** The message ends, then raw bytes (101, a successful CONNECT). */
  | "switch"
  /** Raw bytes at once (a CONNECT request). */
  | "raw";

/**
 * How the body after a head with fields `f` (Content-Length `cl`, -1 for
 * none) is delimited; `method` is the request's own, or, for a response,
 * the method of the request it answers (asked only for final responses).
 */
export function delimiting(
  side: "request" | "response",
  f: Framing,
  cl: number,
  method: () => string,
): Delimiting {
  const te = f.te;
  if (side === "request") {
    if (f.method === "CONNECT") return "raw";
    if (te) return "chunked";
    return cl > 0 ? "length" : "none";
  }
  const s = f.status;
  if (s >= 100 && s < 200 && s !== 101) return "interim";
  // Methods are tokens: case matters (RFC 9110 §9.1), so "head" is not HEAD.
  const m = method();
  if (s === 101 || (m === "CONNECT" && s >= 200 && s < 300)) return "switch";
  if (m === "HEAD" || s === 204 || s === 304) return "none";
  if (te && te[te.length - 1] === "chunked") return "chunked";
  if (!te && cl >= 0) return cl === 0 ? "none" : "length";
  return "until-eof";
}

/** The methods of requests still to be answered, oldest first (no `shift`). */
export class MethodQueue {
  #all: string[] = [];
  #at = 0;

  /** A request with `method` was sent. */
  push(method: string): void {
    this.#all.push(method);
  }

  /** The method the next response answers (GET when none is known). */
  next(): string {
    const all = this.#all;
    if (this.#at >= all.length) return "GET";
    const m = all[this.#at++]!;
    if (this.#at === all.length) {
      all.length = 0;
      this.#at = 0;
    }
    return m;
  }
}
