/**
 * The benchmark's local HTTP backend, run as its own process:
 * `/` a tiny response, `/bytes/<n>` n bytes streamed from memory,
 * `/upload` a sink answering `{ length, sha256 }`, `/hold` no answer until
 * the visitor leaves.
 * Prints `listening <port>` on stdout once up. With `<port> <cert> <key>`
 * it serves https with that certificate (the bench's direct https column).
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

/**
 * Hashes a request body as it streams in; answers `{ length, sha256 }`.
 * A body cut off mid-way (the uploader vanished) is an expected outcome
 * here, answered with 400, not an error for Deno.serve to print.
 */
export async function uploadSink(req: Request): Promise<Response> {
  const h = createHash("sha256");
  let length = 0;
  try {
    for await (const chunk of req.body ?? []) {
      h.update(chunk);
      length += chunk.length;
    }
  } catch (err) {
    return new Response(
      `upload cut off after ${length} bytes: ${(err as Error).name}\n`,
      { status: 400 },
    );
  }
  return Response.json({ length, sha256: h.digest("hex") });
}

if (import.meta.main) {
  const data = block();
  const tiny = new TextEncoder().encode("ok\n");
  const [, certFile, keyFile] = Deno.args;
  const tls = certFile && keyFile
    ? {
      cert: Deno.readTextFileSync(certFile),
      key: Deno.readTextFileSync(keyFile),
    }
    : {};
  const server = Deno.serve(
    {
      ...tls,
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
      if (path === "/hold") {
        // An answer that does not come while the visitor waits.
        return new Promise<Response>((r) =>
          req.signal.addEventListener("abort", () => r(new Response(tiny)))
        );
      }
      return new Response(tiny);
    },
  );
  Deno.addSignalListener("SIGTERM", () => server.shutdown());
  await server.finished;
}
