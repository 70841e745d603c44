/**
 * Routing by name: which handler a peeked host (and port) belongs to.
 * Patterns are exact names (`a.example.com`), exact names with a port
 * (`a.example.com:8080`), or one-label wildcards (`*.example.com`).
 * The most specific wins: exact with port, exact, wildcard with port, wildcard.
 */

/** A table from host patterns to values. */
export class Routes<T> {
  #table = new Map<string, T>();

  /** Adds or replaces a route; `pattern` is normalised to lower case without a trailing dot. */
  set(pattern: string, value: T): void {
    this.#table.set(normalise(pattern), value);
  }

  /** Removes a route; true if it was there. */
  delete(pattern: string): boolean {
    return this.#table.delete(normalise(pattern));
  }

  /** The value a host (already lower case, no trailing dot) routes to, if any. */
  lookup(host: string, port?: number): T | undefined {
    const dot = host.indexOf(".");
    const wildcard = dot > 0 ? "*" + host.slice(dot) : undefined;
    for (const key of [host, wildcard]) {
      if (key === undefined) continue;
      if (port !== undefined) {
        const hit = this.#table.get(`${key}:${port}`);
        if (hit !== undefined) return hit;
      }
      const hit = this.#table.get(key);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  /** Number of routes. */
  get size(): number {
    return this.#table.size;
  }
}

function normalise(pattern: string): string {
  let p = pattern.toLowerCase();
  const colon = p.lastIndexOf(":");
  let port = "";
  if (colon > 0 && /^[0-9]+$/.test(p.slice(colon + 1))) {
    port = p.slice(colon);
    p = p.slice(0, colon);
  }
  if (p.endsWith(".")) p = p.slice(0, -1);
  return p + port;
}
