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
 * none) is delimited; for a response, `methods` says which request it
 * answers (asked only for final responses; GET when none is known).
 */
export function delimiting(
  side: "request" | "response",
  f: Framing,
  cl: number,
  methods: MethodQueue | undefined,
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
  const m = methods ? methods.next() : "GET";
  if (s === 101 || (m === "CONNECT" && s >= 200 && s < 300)) return "switch";
  if (m === "HEAD" || s === 204 || s === 304) return "none";
  if (te && te[te.length - 1] === "chunked") return "chunked";
  if (!te && cl >= 0) return cl === 0 ? "none" : "length";
  return "until-eof";
}

/**
 * The methods of requests still to be answered, oldest first: one in a
 * field (the usual case, no pipelining), more in an array (no `shift`).
 */
export class MethodQueue {
  #one: string | undefined;
  #more: string[] | undefined;
  #at = 0;

  /** A request with `method` was sent. */
  push(method: string): void {
    if (this.#one === undefined) this.#one = method;
    else (this.#more ??= []).push(method);
  }

  /** The method the next response answers (GET when none is known). */
  next(): string {
    const m = this.#one;
    if (m === undefined) return "GET";
    const more = this.#more;
    if (more && this.#at < more.length) {
      this.#one = more[this.#at++];
      if (this.#at === more.length) {
        this.#more = undefined;
        this.#at = 0;
      }
    } else this.#one = undefined;
    return m;
  }
}
