/**
 * The benchmark's local HTTP backend, run as its own process:
 * `/` a tiny response, `/bytes/<n>` n bytes streamed from memory,
 * `/upload` a sink answering `{ length, sha256 }`.
 * Prints `listening <port>` on stdout once up.
 */

import { createHash } from "node:crypto";

/** Size of the block `/bytes/<n>` repeats (its bytes: `block()`). */
export const BLOCK = 1024 * 1024;

/** The deterministic block bulk responses are made of. */
export function block(): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK; i++) b[i] = (i * 2654435761) >>> 24;
  return b;
}

/** Hashes a request body as it streams in; answers `{ length, sha256 }`. */
export async function uploadSink(req: Request): Promise<Response> {
  const h = createHash("sha256");
  let length = 0;
  for await (const chunk of req.body ?? []) {
    h.update(chunk);
    length += chunk.length;
  }
  return Response.json({ length, sha256: h.digest("hex") });
}

if (import.meta.main) {
  const data = block();
  const tiny = new TextEncoder().encode("ok\n");
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: Number(Deno.args[0] ?? 0),
      onListen({ port }) {
        console.log(`listening ${port}`);
      },
    },
    (req) => {
      const path = new URL(req.url).pathname;
      if (path.startsWith("/bytes/")) {
        let left = Number(path.slice(7));
        const total = left;
        return new Response(
          new ReadableStream({
            type: "bytes",
            pull(c) {
              const n = Math.min(left, BLOCK);
              c.enqueue(data.slice(0, n));
              left -= n;
              if (left === 0) c.close();
            },
          }),
          { headers: { "content-length": String(total) } },
        );
      }
      if (path === "/upload") return uploadSink(req);
      return new Response(tiny);
    },
  );
  Deno.addSignalListener("SIGTERM", () => server.shutdown());
  await server.finished;
}
