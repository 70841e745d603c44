/**
 * What the bare host answers besides a tunnel: a short page about the
 * server for a browser, and a client's clean exit (`DELETE /`).
 */

import { answer, type NetConn, page, reason } from "../net/mod.ts";
import { encodeRefusal } from "../wire/mod.ts";
import { VERSION } from "../version.ts";
import { type ControlContext, type Entrance, portSuffix } from "./control.ts";

/** The page for `method path` on the bare host: about the server at `/`, else 404. */
export function aboutPage(
  host: string,
  entrance: Entrance,
  method: string,
  path: string,
): Uint8Array {
  const headOnly = method === "HEAD";
  const server = `${entrance.scheme}://${host}${
    portSuffix(entrance.scheme, entrance.publicPort)
  }`;
  return path === "/" && (method === "GET" || headOnly)
    ? page(
      200,
      `Expose a local port through this server with the command below. To get the groktunnel command, in a clone of its repository: deno install -g --allow-net --allow-env --v8-flags=--max-semi-space-size=2 -n groktunnel main.ts`,
      {
        headOnly,
        title: `groktunnel server on ${host}`,
        code: `groktunnel 3000 --server ${server}`,
        footer: `groktunnel ${VERSION}`,
      },
    )
    : page(404, `Nothing here. Tunnels are at <name>.${host}.`, { headOnly });
}

/**
 * A client's clean exit (`DELETE /` with its name and secret): frees the
 * name here and wherever else it is held (a cluster), and ends its tunnel.
 */
export async function releaseName(
  c: Pick<ControlContext, "registry" | "kinds" | "ended" | "log">,
  conn: NetConn,
  resume: string | undefined,
): Promise<void> {
  const [name, secret] = (resume ?? "").split(" ");
  const local = name && secret
    ? c.registry.release(name, secret)
    : { ok: false, live: undefined };
  const live = local.live;
  // Held beyond this process too (a cluster): the client may have been
  // served by another node.
  const kinds = Object.values(c.kinds);
  const elsewhere = name && secret
    ? (await Promise.all(
      kinds.map((k) => k?.released?.(name, secret) ?? false),
    )).some(Boolean)
    : false;
  const ok = local.ok || elsewhere;
  if (live) {
    c.ended(live, "the client stopped");
    live.session.close();
  }
  if (ok) { for (const k of kinds) k?.forget?.(name!); }
  if (ok) c.log(`name ${name} released by its client`);
  await answer(
    conn,
    ok
      ? encodeRefusal(200, "OK", `Released "${name}"`)
      : encodeRefusal(404, reason(404), "No such name held for that secret"),
  );
}
