/**
 * A round-robin TCP balancer for tests, standing where an L4 load balancer
 * (or DNS round-robin) stands in front of a cluster: each connection goes
 * to the next backend, skipping one that refuses; bytes are copied both
 * ways untouched, half-close included.
 */

import { pipe } from "../lib/cluster/hop.ts";

/** A running balancer. */
export interface Balancer {
  /** Its port on 127.0.0.1. */
  port: number;
  /** Stops accepting and closes open connections. */
  close(): void;
}

/** A balancer over the ports `backends` on 127.0.0.1. */
export function startBalancer(backends: number[]): Balancer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let next = 0;
  (async () => {
    for await (const visitor of listener) {
      open.add(visitor);
      (async () => {
        let backend: Deno.Conn | undefined;
        for (let i = 0; i < backends.length && !backend; i++) {
          const port = backends[next++ % backends.length]!;
          backend = await Deno.connect({ hostname: "127.0.0.1", port }).catch(
            () => undefined,
          );
        }
        if (!backend) {
          visitor.close();
          open.delete(visitor);
          return;
        }
        open.add(backend);
        await pipe(visitor, backend);
        open.delete(visitor);
        open.delete(backend);
      })();
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}
