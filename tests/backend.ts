/** A real local HTTP server (Deno.serve) to put behind the tunnel in tests. */

import { pattern } from "./helpers.ts";
import { uploadSink } from "../bench/backend.ts";

/** Pieces /stream sends, and the pause between them (ms). */
export const STREAM_PIECES = 5, STREAM_PAUSE = 150;

const bodies = new Map<number, Uint8Array<ArrayBuffer>>();
/** The bytes /bytes/<n> answers with (deterministic). */
export function bytesBody(n: number): Uint8Array<ArrayBuffer> {
  let b = bodies.get(n);
  if (!b) bodies.set(n, b = pattern(n, 5));
  return b;
}

/** Starts the backend on a free port (or `port`). */
export function startBackend(port = 0): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    async (req) => {
      const url = new URL(req.url);
      const path = url.pathname;
      if (path === "/hello") return new Response(`hello ${url.search}`);
      if (path === "/headers") {
        return Response.json(Object.fromEntries(req.headers));
      }
      if (path === "/slow") {
        await new Promise((r) =>
          setTimeout(r, Number(url.searchParams.get("ms") ?? 1000))
        );
        return new Response("slow done");
      }
      if (path.startsWith("/bytes/")) {
        return new Response(
          bytesBody(Number(path.slice(7))),
        );
      }
      if (path === "/upload") return uploadSink(req);
      if (path === "/stream") {
        let i = 0;
        let timer: ReturnType<typeof setTimeout> | undefined;
        return new Response(
          new ReadableStream({
            pull(c) {
              return new Promise<void>((r) => {
                timer = setTimeout(() => {
                  c.enqueue(
                    new TextEncoder().encode(`piece ${i++} at ${Date.now()}\n`),
                  );
                  if (i === STREAM_PIECES) c.close();
                  r();
                }, i === 0 ? 0 : STREAM_PAUSE);
              });
            },
            cancel() {
              clearTimeout(timer);
            },
          }),
        );
      }
      if (path === "/ws") {
        const { socket, response } = Deno.upgradeWebSocket(req);
        socket.onmessage = (e) => socket.send(e.data);
        return response;
      }
      return new Response(
        `${req.method} ${path} via ${req.headers.get("host")}`,
      );
    },
  );
}
