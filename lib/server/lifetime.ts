/**
 * `--tunnel-ttl` and `--idle-timeout`: a tunnel that has lived its longest,
 * or has had no public connection for a while, ends; its name is blocked
 * for the name hold, so that its client is told why (403) instead of coming
 * straight back. One timer looks at every tunnel once a second, only when
 * one of the two is set.
 */

import type { PluginContext, ServerFeature, ServerPlugin } from "./plugin.ts";

/** How often tunnels are looked at (ms). */
export const LIFETIME_SWEEP = 1_000;

/** The lifetime limits as a plug-in. */
export const lifetimeFeature: ServerFeature = (o, c) => {
  const ttl = o.tunnelTtl, idle = o.idleTimeout;
  if (!ttl && !idle) return undefined;
  return lifetimes(c, ttl, idle);
};

function lifetimes(
  c: PluginContext,
  ttl: number | undefined,
  idle: number | undefined,
): ServerPlugin {
  /** Per name: the connection count last seen, and since when it stood still. */
  const seen = new Map<string, { connections: number; since: number }>();
  const sweep = () => {
    const now = Date.now();
    const live = new Set<string>();
    for (const t of c.tunnels()) {
      live.add(t.name);
      if (ttl && now - t.started >= ttl) {
        end(t.name, `reached its longest life (--tunnel-ttl ${ttl / 1000} s)`);
        continue;
      }
      if (!idle) continue;
      const s = seen.get(t.name);
      if (!s || s.connections !== t.connections || t.openConnections > 0) {
        seen.set(t.name, { connections: t.connections, since: now });
      } else if (now - s.since >= idle) {
        end(t.name, `had no visitor for ${idle / 1000} s (--idle-timeout)`);
      }
    }
    for (const name of seen.keys()) if (!live.has(name)) seen.delete(name);
  };
  const end = (name: string, what: string) => {
    seen.delete(name);
    c.endTunnel(
      name,
      c.nameHold,
      `it ${what}`,
      `The tunnel "${name}" ${what}; its name is free again in ${
        Math.ceil(c.nameHold / 60_000)
      } min`,
    );
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  return {
    start: () => {
      timer = setInterval(sweep, LIFETIME_SWEEP);
      return Promise.resolve();
    },
    close: () => clearInterval(timer),
  };
}
