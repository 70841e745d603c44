/**
 * The floor the scale bench compares with: the smallest relay Deno allows,
 * run as `deno run --allow-net bench/floor.ts <app port>`. Each connection
 * it accepts gets a connection to the app, and each of the two a read loop
 * of its own into a 1 KiB buffer, writing what it reads to the other (no
 * half-close, no limits, no multiplexing). It prints its port. What one
 * idle visitor costs here is what two sockets with a read waiting cost in
 * Deno, the least that a server and a client holding one socket each can
 * add up to.
 */

const appPort = Number(Deno.args[0]);
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(listener.addr.port);

async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      let off = 0;
      while (off < n) off += await to.write(buf.subarray(off, n));
    }
  } catch { /* either side went away */ }
  try {
    from.close();
  } catch { /* closed */ }
  try {
    to.close();
  } catch { /* closed */ }
}

for await (const visitor of listener) {
  Deno.connect({ hostname: "127.0.0.1", port: appPort }).then((app) => {
    pipe(visitor, app);
    pipe(app, visitor);
  }, () => visitor.close());
}
