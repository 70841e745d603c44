/**
 * The request filter against an app that accepts anything: a raw TCP
 * listener that records every byte it gets and answers every request line
 * it sees. A refusal passes here only if no byte of the refused request
 * reached the app. Real server and client processes.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { encoder, readAll, sha256, within } from "./helpers.ts";
import {
  freePort,
  ResponseReader,
  rss,
  startClientProc,
  startServerProc,
} from "./process.ts";

const LATIN1 = new TextDecoder("latin1");

/** Text of latin1 chars as the bytes it came from. */
function latin1Bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** A request line at the start of a line: what the raw app answers. */
const REQUEST_LINE = /(?:^|\r\n)([A-Z]+) (\S+) HTTP\/1\.[01]\r\n/g;

/**
 * The app that accepts anything. Per connection it records the bytes, and
 * answers each new request line with 200 (its path as the body); a request
 * with `Upgrade:` gets `101` when `upgrade` is true (then every later byte
 * is echoed back raw), else `200 no upgrade`.
 */
function rawApp(upgrade: () => boolean) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Array<{ text: string }> = [];
  const serving = (async () => {
    for await (const conn of listener) {
      const rec = { text: "" };
      conns.push(rec);
      (async () => {
        const buf = new Uint8Array(64 * 1024);
        let answered = 0, raw = -1;
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            rec.text += LATIN1.decode(buf.subarray(0, n));
            if (raw >= 0) {
              await conn.write(buf.subarray(0, n));
              continue;
            }
            const lines = [...rec.text.matchAll(REQUEST_LINE)];
            for (; answered < lines.length; answered++) {
              const m = lines[answered]!;
              const headEnd = rec.text.indexOf("\r\n\r\n", m.index);
              const head = rec.text.slice(m.index, headEnd);
              if (/\r\nUpgrade:/i.test(head)) {
                if (upgrade()) {
                  await conn.write(encoder.encode(
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n",
                  ));
                  raw = headEnd + 4;
                  // Bytes that came with the head are the new protocol's.
                  const extra = rec.text.slice(raw);
                  if (extra) await conn.write(latin1Bytes(extra));
                  break;
                }
                await conn.write(encoder.encode(
                  "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nno upgrade",
                ));
                continue;
              }
              const body = m[2]!;
              await conn.write(encoder.encode(
                `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
              ));
              if (/\r\nConnection: close/i.test(head)) conn.closeWrite();
            }
          }
        } catch { /* the tunnel hung up */ }
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    /** Everything every connection sent, in order. */
    all: () => conns.map((c) => c.text).join(""),
    close: async () => {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

/** Sends `bytes` on a new connection and reads to EOF (within 10 s). */
async function exchange(port: number, bytes: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode(bytes));
    return LATIN1.decode(await within(10_000, readAll(conn), "the answer"));
  } finally {
    conn.close();
  }
}

/** Waits a moment for bytes still on their way to the app. */
const settle = () => new Promise((r) => setTimeout(r, 200));

Deno.test("the filter: every request is checked before a byte of it reaches an app that accepts anything", async (t) => {
  let upgrade = false;
  const app = rawApp(() => upgrade);
  const { server, port } = await startServerProc();
  const { client, url } = await startClientProc(app.port, port);
  const host = url.host;
  const name = url.hostname;
  try {
    await t.step("refused heads: 400, and the app gets nothing", async () => {
      for (
        const bad of [
          "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
          "Transfer-Encoding: gzip\r\n",
          "Transfer-Encoding: chunked\xA0\r\n",
          "Content-Length: 5x\r\n",
          "Content-Length: 5\r\nContent-Length: 6\r\n",
          `Host: ${host}\r\n`,
        ]
      ) {
        const before = app.all().length;
        const text = await exchange(
          port,
          `POST /refused HTTP/1.1\r\nHost: ${host}\r\n${bad}\r\nhello`,
        );
        assert.match(
          text,
          /^HTTP\/1\.1 400 Bad Request\r\n/,
          JSON.stringify(bad),
        );
        await settle();
        assert.equal(
          app.all().length,
          before,
          `app got bytes of ${JSON.stringify(bad)}`,
        );
      }
      // HTTP/1.0 has no chunked framing (RFC 9112 §6.1).
      const before = app.all().length;
      const text = await exchange(
        port,
        `POST /old HTTP/1.0\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      );
      assert.match(text, /^HTTP\/1\.1 400 [^]*HTTP\/1\.0/);
      await settle();
      assert.equal(app.all().length, before);
    });

    await t.step(
      "a refused 2nd request: the 1st is answered first, the 2nd never reaches the app",
      async () => {
        const before = app.all().length;
        const text = await exchange(
          port,
          `GET /first HTTP/1.1\r\nHost: ${host}\r\n\r\n` +
            `POST /second HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
        );
        assert.match(
          text,
          /^HTTP\/1\.1 200 OK\r\nContent-Length: 6\r\n\r\n\/firstHTTP\/1\.1 400 /,
        );
        await settle();
        const got = app.all().slice(before);
        assert.match(got, /^GET \/first HTTP\/1\.1\r\n/);
        assert.doesNotMatch(got, /second/);
      },
    );

    await t.step("CONNECT: 405, and the app gets nothing", async () => {
      const before = app.all().length;
      const text = await exchange(
        port,
        `CONNECT ${name}:443 HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /x HTTP/1.1\r\n\r\n`,
      );
      assert.match(text, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
      await settle();
      assert.equal(app.all().length, before);
    });

    await t.step(
      "another name on a later keep-alive request or in an absolute-form target: 421; forwarded host is the routed name",
      async () => {
        const before = app.all().length;
        const text = await exchange(
          port,
          `GET /mine HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-Host: evil.example\r\n\r\n` +
            `GET /reset HTTP/1.1\r\nHost: evil.example\r\n\r\n`,
        );
        assert.match(
          text,
          /^HTTP\/1\.1 200 [^]*\/mineHTTP\/1\.1 421 Misdirected Request\r\n/,
        );
        // First in absolute form: the server routes by its authority (404);
        // later on a connection routed to the tunnel: 421 from the client.
        const first = await exchange(
          port,
          `GET http://evil.example/reset HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
        );
        assert.match(first, /^HTTP\/1\.1 404 /);
        const later = await exchange(
          port,
          `GET /mine HTTP/1.1\r\nHost: ${host}\r\n\r\n` +
            `GET http://evil.example/reset HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
        );
        assert.match(later, /^HTTP\/1\.1 200 [^]*\/mineHTTP\/1\.1 421 /);
        // The same name with its case changed, a trailing dot or no port is fine.
        const same = await exchange(
          port,
          `GET /a HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /b HTTP/1.1\r\nHost: ${name.toUpperCase()}.\r\nConnection: close\r\n\r\n`,
        );
        assert.match(same, /^HTTP\/1\.1 200 [^]*\/aHTTP\/1\.1 200 [^]*\/b$/);
        await settle();
        const got = app.all().slice(before);
        assert.doesNotMatch(got, /evil|reset/);
        // X-Forwarded-Host and Forwarded host= are the routed name.
        const heads = got.split("\r\n\r\n").filter((h) => h.startsWith("GET"));
        assert.equal(heads.length, 4);
        for (const h of heads) {
          assert.match(
            h,
            new RegExp(
              `\r\nX-Forwarded-Host: ${host.replace(/[.]/g, "\\.")}(\r\n|$)`,
            ),
          );
          assert.match(
            h,
            new RegExp(
              `\r\nForwarded: for=127\\.0\\.0\\.1;proto=http;host="?${
                host.replace(/[.]/g, "\\.")
              }"?(\r\n|$)`,
            ),
          );
        }
      },
    );

    await t.step(
      "after an Upgrade the app declines (200): the pipelined request is parsed, rewritten and checked",
      async () => {
        upgrade = false;
        const before = app.all().length;
        const text = await exchange(
          port,
          `GET /ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n` +
            `GET /next HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n` +
            `GET /smuggled HTTP/1.1\r\nHost: evil.example\r\n\r\n`,
        );
        assert.match(
          text,
          /^HTTP\/1\.1 200 OK[^]*no upgradeHTTP\/1\.1 200 [^]*\/nextHTTP\/1\.1 421 /,
        );
        await settle();
        const got = app.all().slice(before);
        assert.match(got, /GET \/next HTTP\/1\.1\r\n/);
        assert.match(got, /\r\nX-Forwarded-For: 127\.0\.0\.1\r\n/);
        assert.doesNotMatch(got, /6\.6\.6\.6|smuggled|evil/);
      },
    );

    await t.step(
      "after an Upgrade the app switches (101): later bytes pass raw and byte-exact",
      async () => {
        upgrade = true;
        const before = app.all().length;
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        // The raw bytes look like HTTP with a forged header: after a 101 they
        // are the new protocol's, passed on untouched.
        const after =
          `GET /raw HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n`;
        await conn.write(encoder.encode(
          `GET /ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n${after}`,
        ));
        const payload = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
        await conn.write(payload);
        const SWITCHED =
          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n";
        const k = SWITCHED.length;
        const want = k + after.length + payload.length;
        const buf = new Uint8Array(64 * 1024);
        const h = createHash("sha256");
        let got = 0, head = "";
        while (got < want) {
          const n = await within(10_000, conn.read(buf), "echo");
          if (n === null) break;
          if (got < k) {
            head += LATIN1.decode(buf.subarray(0, Math.min(n, k - got)));
          }
          h.update(buf.subarray(Math.max(0, k - got), n));
          got += n;
        }
        conn.close();
        assert.equal(head, SWITCHED);
        assert.equal(got, want);
        assert.equal(h.digest("hex"), sha256(encoder.encode(after), payload));
        await settle();
        assert.ok(app.all().slice(before).includes(after));
      },
    );
  } finally {
    await client.stop("SIGINT");
    await server.stop();
    await app.close();
  }
});

Deno.test("chunk confetti: 1 MiB bodies of 1-byte chunks cost the client no more than plain ones", async () => {
  // A raw app (Deno.serve itself takes seconds over a million chunks): it
  // hashes the body's bytes as they came, framing included, and answers
  // after the last chunk. The filter passes bodies byte-exact.
  let hashes: string[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const app = { addr: listener.addr as Deno.NetAddr };
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(256 * 1024);
        let seen = "", h = createHash("sha256"), inBody = false;
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            let from = 0;
            if (!inBody) {
              seen += LATIN1.decode(buf.subarray(0, n));
              const end = seen.indexOf("\r\n\r\n");
              if (end < 0) continue;
              inBody = true;
              from = n - (seen.length - end - 4);
            }
            h.update(buf.subarray(from, n));
            seen = (seen + LATIN1.decode(buf.subarray(from, n))).slice(-7);
            if (seen.endsWith("\r\n0\r\n\r\n")) {
              hashes.push(h.digest("hex"));
              h = createHash("sha256");
              inBody = false;
              seen = "";
              await conn.write(encoder.encode(
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
              ));
            }
          }
        } catch { /* closed */ }
        conn.close();
      })();
    }
  })();
  const { server, port } = await startServerProc();
  // The defaults: request filter, forwarded headers and inspector all on.
  const inspectPort = freePort();
  const { client, url } = await startClientProc(app.addr.port, port, [
    "--inspect",
    `127.0.0.1:${inspectPort}`,
  ]);
  try {
    const body = new Uint8Array(1 << 20).map((_, i) => (i * 13 + 5) & 0xff);
    // 1 MiB as 1-byte chunks: "1\r\nX\r\n" per byte, about 6 MiB on the wire.
    const wire = new Uint8Array(body.length * 6 + 5);
    for (let i = 0; i < body.length; i++) {
      wire.set([0x31, 13, 10, body[i]!, 13, 10], i * 6);
    }
    wire.set(encoder.encode("0\r\n\r\n"), body.length * 6);
    const upload = async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(encoder.encode(
        `POST /confetti HTTP/1.1\r\nHost: ${url.host}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      ));
      let off = 0;
      while (off < wire.length) off += await conn.write(wire.subarray(off));
      const r = await within(
        60_000,
        new ResponseReader(conn).next(),
        "confetti answer",
      );
      conn.close();
      assert.equal(r.status, 200);
    };
    await upload(); // warm-up
    const before = await rss(client.child.pid);
    hashes = [];
    for (let i = 0; i < 6; i++) await upload();
    const after = await rss(client.child.pid);
    assert.deepEqual(hashes, new Array(6).fill(sha256(wire)));
    assert.ok(
      after - before < 48,
      `client RSS ${before.toFixed(0)} → ${
        after.toFixed(0)
      } MB after 6 confetti uploads`,
    );
    // The inspector captured the last one: its payload is the body's first
    // MiB (the capture limit) with the chunk framing removed.
    const list = await (await fetch(
      `http://127.0.0.1:${inspectPort}/api/requests/http`,
    )).json();
    const last = list.requests[0];
    assert.equal(last.request.method, "POST");
    const payload = Uint8Array.from(
      atob(last.request.body),
      (c) => c.charCodeAt(0),
    );
    assert.equal(last.groktunnel.request_body_size, body.length);
    assert.ok(payload.length > 0);
    assert.equal(sha256(payload), sha256(body.subarray(0, payload.length)));
  } finally {
    await client.stop("SIGINT");
    await server.stop();
    listener.close();
    await serving.catch(() => {});
  }
});

Deno.test("basic auth and TLS passed through: an alert, and the app gets nothing", async () => {
  const app = rawApp(() => false);
  const { server, port } = await startServerProc();
  const { client, url } = await startClientProc(app.port, port, [
    "--basic-auth",
    "alice:s3cret",
  ]);
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const tls = await Deno.startTls(conn, { hostname: url.hostname });
    const err = await within(10_000, tls.handshake(), "the alert").then(
      () => undefined,
      (e) => e,
    );
    assert.match(String(err), /AccessDenied/);
    try {
      tls.close();
    } catch { /* closed */ }
    await settle();
    assert.equal(app.all(), "");
  } finally {
    await client.stop("SIGINT");
    await server.stop();
    await app.close();
  }
});
