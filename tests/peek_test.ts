import assert from "node:assert/strict";
import * as tls from "node:tls";
import {
  peek,
  PeekBadRequestError,
  type PeekResult,
  PeekTimeoutError,
  PeekTooLargeError,
} from "../lib/net/peek.ts";
import { Routes } from "../lib/server/routes.ts";
import { encoder, readAll, sha256, socketPair, within } from "./helpers.ts";

/** Sends `chunks` (with a pause between them) and peeks the other end. */
async function peekOf(
  chunks: Uint8Array[],
  options = {},
  pauseMs = 0,
): Promise<{ result: PeekResult; client: Deno.TcpConn }> {
  const [client, server] = await socketPair();
  client.setNoDelay(true);
  const sending = (async () => {
    for (const c of chunks) {
      await client.write(c);
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  const result = await peek(server, options);
  await sending;
  return { result, client };
}

const head = (host: string, extra = "") =>
  encoder.encode(
    `GET /path?q=1 HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: t\r\n${extra}\r\n`,
  );

Deno.test("peek reads Host case-insensitively, lower-cased, trailing dot and port split", async () => {
  const { result, client } = await peekOf([
    encoder.encode("GET / HTTP/1.1\r\nhOsT: ABC.Example.COM.:8080\r\n\r\n"),
  ]);
  assert.equal(result.kind, "http");
  assert.equal(result.host, "abc.example.com");
  assert.equal(result.port, 8080);
  assert.equal(result.http?.method, "GET");
  client.close();
  result.conn.close();
});

Deno.test("peek of a head delivered byte by byte gives the same answer and replays every byte", async () => {
  const bytes = head("x.localhost:9999");
  const { result, client } = await peekOf(
    [...bytes].map((b) => new Uint8Array([b])),
    {},
    1,
  );
  assert.equal(result.host, "x.localhost");
  assert.equal(result.port, 9999);
  await client.closeWrite();
  assert.deepEqual(await readAll(result.conn), bytes);
  client.close();
  result.conn.close();
});

Deno.test("pipelined requests and a large body after the head pass through unchanged", async () => {
  const body = new Uint8Array(5 * 1024 * 1024).map((_, i) => (i * 13) & 0xff);
  const first = encoder.encode(
    `POST /up HTTP/1.1\r\nHost: a.b\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  const second = head("a.b");
  const [client, server] = await socketPair();
  const sending = (async () => {
    await client.write(first);
    let off = 0;
    while (off < body.length) off += await client.write(body.subarray(off));
    await client.write(second);
    await client.closeWrite();
  })();
  const result = await peek(server);
  assert.equal(result.host, "a.b");
  assert.equal(result.headLength, first.length);
  const all = await readAll(result.conn);
  await sending;
  assert.equal(sha256(all), sha256(first, body, second));
  client.close();
  result.conn.close();
});

Deno.test("an absolute-form target names the host, over the Host header", async () => {
  const { result, client } = await peekOf([
    encoder.encode(
      "GET http://Proxy.Target:81/x HTTP/1.1\r\nHost: other\r\n\r\n",
    ),
  ]);
  assert.equal(result.host, "proxy.target");
  assert.equal(result.port, 81);
  client.close();
  result.conn.close();
});

Deno.test("IPv6 literal hosts keep their brackets", async () => {
  const { result, client } = await peekOf([
    encoder.encode("GET / HTTP/1.1\r\nHost: [::1]:9999\r\n\r\n"),
  ]);
  assert.equal(result.host, "[::1]");
  assert.equal(result.port, 9999);
  client.close();
  result.conn.close();
});

Deno.test("peek reads the SNI of a real TLS ClientHello (node:tls) and replays it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const socket = tls.connect({
    host: "127.0.0.1",
    port: listener.addr.port,
    servername: "Tunnel-1.Example.Test",
  });
  socket.on("error", () => {});
  const conn = await listener.accept();
  const result = await peek(conn);
  assert.equal(result.kind, "tls");
  assert.equal(result.host, "tunnel-1.example.test");
  const replay = new Uint8Array(result.headLength);
  let got = 0;
  while (got < replay.length) {
    got += (await result.conn.read(replay.subarray(got)))!;
  }
  assert.equal(replay[0], 0x16);
  socket.destroy();
  result.conn.close();
  listener.close();
});

Deno.test("peek reads the SNI of Deno.connectTls's ClientHello", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dialing = Deno.connectTls({
    hostname: "localhost",
    port: listener.addr.port,
  });
  const conn = await listener.accept();
  const result = await peek(conn);
  assert.equal(result.host, "localhost");
  result.conn.close();
  await dialing.then((c) => c.close(), () => {});
  listener.close();
});

/** A ClientHello captured from node:tls, re-cut into many small TLS records. */
async function captureHello(servername: string): Promise<Uint8Array> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const socket = tls.connect({
    host: "127.0.0.1",
    port: listener.addr.port,
    servername,
  });
  socket.on("error", () => {});
  const conn = await listener.accept();
  const result = await peek(conn);
  const bytes = new Uint8Array(result.headLength);
  let got = 0;
  while (got < bytes.length) {
    got += (await result.conn.read(bytes.subarray(got)))!;
  }
  socket.destroy();
  conn.close();
  listener.close();
  return bytes;
}

Deno.test("a ClientHello split over many TLS records and TCP segments still parses", async () => {
  const hello = await captureHello("split.example.test");
  const body = hello.subarray(5);
  const records: number[] = [];
  for (let i = 0; i < body.length; i += 7) {
    const frag = body.subarray(i, i + 7);
    records.push(0x16, 3, 1, 0, frag.length, ...frag);
  }
  const bytes = new Uint8Array(records);
  const { result, client } = await peekOf(
    Array.from(
      { length: Math.ceil(bytes.length / 50) },
      (_, i) => bytes.subarray(i * 50, i * 50 + 50),
    ),
    {},
    1,
  );
  assert.equal(result.host, "split.example.test");
  client.close();
  result.conn.close();
});

Deno.test("a head over the size limit is refused with PeekTooLargeError (431), buffering no more", async () => {
  const [client, server] = await socketPair();
  const line = encoder.encode(
    "GET / HTTP/1.1\r\nX-Big: " + "a".repeat(1024 * 1024),
  );
  const sending = client.write(line).catch(() => {});
  await assert.rejects(peek(server, { maxBytes: 32 * 1024 }), (e) => {
    assert.ok(e instanceof PeekTooLargeError);
    assert.equal(e.status, 431);
    return true;
  });
  client.close();
  server.close();
  await sending;
});

Deno.test("a connection that sends nothing is cut at the timeout (408)", async () => {
  const [client, server] = await socketPair();
  const started = performance.now();
  await assert.rejects(peek(server, { timeout: 300 }), (e) => {
    assert.ok(e instanceof PeekTimeoutError);
    assert.equal(e.status, 408);
    return true;
  });
  const took = performance.now() - started;
  assert.ok(took >= 290 && took < 3000, `took ${took} ms`);
  client.close();
  server.close();
});

Deno.test("a slow head that never completes is cut at the timeout", async () => {
  const [client, server] = await socketPair();
  const dripping = (async () => {
    for (const b of encoder.encode("GET / HTTP/1.1\r\nHost: a")) {
      await client.write(new Uint8Array([b])).catch(() => {});
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await within(
    3000,
    assert.rejects(peek(server, { timeout: 200 }), PeekTimeoutError),
    "slow head",
  );
  client.close();
  server.close();
  await dripping;
});

const bad: Array<[string, string]> = [
  ["binary garbage", "\x00\x01\x02\x03\r\n\r\n"],
  ["lower-case junk", "hello there\r\n\r\n"],
  ["no Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"],
  ["two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"],
  ["bad version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"],
  ["header without colon", "GET / HTTP/1.1\r\nHost: a\r\nnonsense\r\n\r\n"],
  ["host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"],
  ["port out of range", "GET / HTTP/1.1\r\nHost: a:70000\r\n\r\n"],
  ["extra words in request line", "GET / x HTTP/1.1\r\nHost: a\r\n\r\n"],
];
for (const [what, text] of bad) {
  Deno.test(`bad request (400): ${what}`, async () => {
    const [client, server] = await socketPair();
    await client.write(encoder.encode(text));
    await assert.rejects(peek(server), (e) => {
      assert.ok(e instanceof PeekBadRequestError, String(e));
      assert.equal(e.status, 400);
      return true;
    });
    client.close();
    server.close();
  });
}

Deno.test("bad request: a TLS record that is not a ClientHello, and one without SNI", async () => {
  for (
    const bytes of [
      new Uint8Array([0x16, 3, 1, 0, 4, 2, 0, 0, 0]), // ServerHello
      new Uint8Array([0x16, 9, 9, 0, 4, 1, 0, 0, 0]), // bad version
    ]
  ) {
    const [client, server] = await socketPair();
    await client.write(bytes);
    await assert.rejects(peek(server), PeekBadRequestError);
    client.close();
    server.close();
  }
  // A ClientHello with its extensions cut off names nothing.
  const hello = new Uint8Array([
    0x16,
    3,
    1,
    0,
    41,
    1,
    0,
    0,
    37,
    3,
    3,
    ...new Uint8Array(32),
    0,
    0,
    0,
  ]);
  const [client, server] = await socketPair();
  await client.write(hello);
  await assert.rejects(peek(server, { timeout: 2000 }), PeekBadRequestError);
  client.close();
  server.close();
});

Deno.test("a connection closed before its head is a bad request", async () => {
  const [client, server] = await socketPair();
  await client.write(encoder.encode("GET / HT"));
  client.close();
  await assert.rejects(peek(server), /inside the request head/);
  server.close();
});

Deno.test("routes match exact names with or without port, then wildcards", () => {
  const r = new Routes<string>();
  r.set("A.Example.com.", "exact");
  r.set("a.example.com:8080", "exact-port");
  r.set("*.example.com", "wild");
  r.set("*.example.com:9000", "wild-port");
  assert.equal(r.lookup("a.example.com"), "exact");
  assert.equal(r.lookup("a.example.com", 80), "exact");
  assert.equal(r.lookup("a.example.com", 8080), "exact-port");
  assert.equal(r.lookup("b.example.com"), "wild");
  assert.equal(r.lookup("b.example.com", 9000), "wild-port");
  assert.equal(r.lookup("c.b.example.com"), undefined);
  assert.equal(r.lookup("example.com"), undefined);
  assert.ok(r.delete("a.example.com"));
  assert.equal(r.lookup("a.example.com"), "wild");
});

Deno.test("Host anywhere in the head: after other fields, as HTTP libraries send it", async () => {
  for (
    const [what, text] of [
      [
        "after six fields",
        "GET / HTTP/1.1\r\nUser-Agent: curl/8\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n" +
        "Connection: keep-alive\r\nX-Request-Id: 7\r\nCookie: a=b\r\nHost: late.example.com:8443\r\n\r\n",
      ],
      [
        "last, after a long field",
        `POST /x HTTP/1.1\r\nContent-Length: 0\r\nX-Big: ${
          "y".repeat(4000)
        }\r\nHOST: Late.Example.Com:8443\r\n\r\n`,
      ],
    ] as const
  ) {
    const { result, client } = await peekOf([encoder.encode(text)]);
    assert.equal(result.kind, "http", what);
    assert.equal(result.host, "late.example.com", what);
    assert.equal(result.port, 8443, what);
    client.close();
    result.conn.close();
  }
});
