/**
 * What the peek adds per connection: the same request head read off a
 * loopback socket by a plain read, and by `peek` (parse, limits, deadline,
 * replay buffer). `deno bench -A bench/peek_bench.ts`
 */

import { peek } from "../lib/net/peek.ts";

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const head = new TextEncoder().encode(
  "GET /some/path?x=1 HTTP/1.1\r\nHost: k3x9qabcde.example.com:9999\r\n" +
    "User-Agent: curl/8.0\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n\r\n",
);

async function pair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  const dialing = Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const accepted = await listener.accept();
  return [await dialing, accepted];
}

// One pair per benchmark: each iteration sends a head and reads it back.
const [a1, b1] = await pair();
const buf = new Uint8Array(4096);
Deno.bench("plain read of a 150-byte request head", {
  group: "head",
  baseline: true,
}, async () => {
  await a1.write(head);
  let got = 0;
  while (got < head.length) got += (await b1.read(buf.subarray(got)))!;
});

const [a2, b2] = await pair();
const noClose = {
  read: (p: Uint8Array) => b2.read(p),
  write: (p: Uint8Array) => b2.write(p),
  closeWrite: () => b2.closeWrite(),
  close() {},
};
Deno.bench("peek of the same head (Host parsed, replay kept)", {
  group: "head",
}, async () => {
  await a2.write(head);
  const r = await peek(noClose);
  if (r.host !== "k3x9qabcde.example.com") throw new Error(r.host);
});
