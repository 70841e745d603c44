/**
 * Who is calling, and who may: forwarded headers on every request, Host
 * rewrite, basic auth, smuggling refusals, IP allow and deny lists, PROXY
 * protocol. Real processes of main.ts; a real Deno.serve app that reports
 * what it received.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  decoder,
  encoder,
  pump,
  readAll,
  readHashedBody,
  sha256,
  within,
} from "./helpers.ts";
import {
  Proc,
  rawRequest,
  ResponseReader,
  startClientProc,
  startServerProc,
} from "./process.ts";
import { bytesBody } from "./backend.ts";
import { PROXY_V2_SIGNATURE } from "../lib/client/proxy_protocol.ts";

const MiB = 1024 * 1024;

/** An app that answers with what it saw: method, path, headers, body hash. */
function echoApp(hostname = "127.0.0.1") {
  let requests = 0;
  const app = Deno.serve({ hostname, port: 0, onListen() {} }, async (req) => {
    requests++;
    const url = new URL(req.url);
    if (url.pathname.startsWith("/bytes/")) {
      return new Response(bytesBody(Number(url.pathname.slice(7))));
    }
    const h = createHash("sha256");
    let length = 0;
    for await (const c of req.body ?? []) {
      h.update(c);
      length += c.length;
    }
    return Response.json({
      method: req.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
      length,
      sha256: h.digest("hex"),
    });
  });
  return { app, requests: () => requests };
}

/** Parses an RFC 7239 Forwarded value into its elements' pairs. */
function parseForwarded(value: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  const re =
    /\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)=("(?:[^"\\]|\\.)*"|[!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*([;,]|$)/y;
  let element: Record<string, string> = {};
  let m: RegExpExecArray | null;
  re.lastIndex = 0;
  while (re.lastIndex < value.length && (m = re.exec(value))) {
    const v = m[2]!.startsWith('"')
      ? m[2]!.slice(1, -1).replace(/\\(.)/g, "$1")
      : m[2]!;
    element[m[1]!.toLowerCase()] = v;
    if (m[3] !== ";") {
      out.push(element);
      element = {};
    }
  }
  assert.equal(re.lastIndex, value.length, `Forwarded parses: ${value}`);
  return out;
}

Deno.test("forwarded headers, Host rewrite and basic auth on every request", async (t) => {
  const { app, requests } = echoApp();
  const { server, port } = await startServerProc();
  const { client, url } = await startClientProc(app.addr.port, port);
  try {
    await t.step(
      "the app sees the real address on the 1st, 2nd and 50th keep-alive request; forged values never",
      async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        const reader = new ResponseReader(conn);
        for (let i = 1; i <= 50; i++) {
          await conn.write(encoder.encode(
            `GET /n/${i} HTTP/1.1\r\nHost: ${url.host}\r\nX-Forwarded-For: 6.6.6.6\r\n` +
              `X-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Host: evil.example\r\n\r\n`,
          ));
          const r = await reader.next();
          const seen = JSON.parse(decoder.decode(r.body));
          if (i === 1 || i === 2 || i === 50) {
            assert.equal(seen.path, `/n/${i}`);
            assert.equal(seen.headers["x-forwarded-for"], "127.0.0.1");
            assert.equal(seen.headers["x-forwarded-proto"], "http");
            assert.equal(seen.headers["x-forwarded-host"], url.host);
            const fwd = parseForwarded(seen.headers["forwarded"]);
            assert.deepEqual(fwd, [{
              for: "127.0.0.1",
              proto: "http",
              host: url.host,
            }]);
          }
          assert.doesNotMatch(JSON.stringify(seen.headers), /6\.6\.6\.6|evil/);
        }
        conn.close();
      },
    );

    await t.step("pipelined requests are each rewritten", async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      let batch = "";
      for (let i = 0; i < 10; i++) {
        batch +=
          `POST /p/${i} HTTP/1.1\r\nHost: ${url.host}\r\nX-Forwarded-For: 6.6.6.6\r\n` +
          `Content-Length: 5\r\n\r\nbody${i}`;
      }
      await conn.write(encoder.encode(batch));
      const reader = new ResponseReader(conn);
      for (let i = 0; i < 10; i++) {
        const seen = JSON.parse(decoder.decode((await reader.next()).body));
        assert.equal(seen.path, `/p/${i}`);
        assert.equal(seen.length, 5);
        assert.equal(seen.sha256, sha256(encoder.encode(`body${i}`)));
        assert.equal(seen.headers["x-forwarded-for"], "127.0.0.1");
      }
      conn.close();
    });

    await t.step("a chunked body with trailers passes byte-exact", async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(encoder.encode(
        `POST /c HTTP/1.1\r\nHost: ${url.host}\r\nTransfer-Encoding: chunked\r\n\r\n` +
          `5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n`,
      ));
      const seen = JSON.parse(
        decoder.decode((await new ResponseReader(conn).next()).body),
      );
      assert.equal(seen.length, 11);
      assert.equal(seen.sha256, sha256(encoder.encode("hello world")));
      conn.close();
    });

    await t.step(
      "64 MiB up and down stay byte-exact with heads rewritten",
      async () => {
        const up = await Deno.connect({ hostname: "127.0.0.1", port });
        await up.write(encoder.encode(
          `POST /up HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: ${
            64 * MiB
          }\r\n\r\n`,
        ));
        const sent = await pump(up, 64 * MiB, 4);
        const seen = JSON.parse(
          decoder.decode((await new ResponseReader(up).next()).body),
        );
        assert.equal(seen.length, 64 * MiB);
        assert.equal(seen.sha256, sent);
        assert.equal(seen.headers["x-forwarded-for"], "127.0.0.1");
        up.close();
        const down = await Deno.connect({ hostname: "127.0.0.1", port });
        await down.write(encoder.encode(
          `GET /bytes/${64 * MiB} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`,
        ));
        const got = await readHashedBody(down, 64 * MiB);
        assert.match(got.head, /^HTTP\/1\.1 200/);
        assert.equal(got.length, 64 * MiB);
        assert.equal(got.sha256, sha256(bytesBody(64 * MiB)));
        down.close();
      },
    );

    await t.step("a half-closed request still gets its answer", async () => {
      // A raw app that reads to EOF, then answers (Deno.serve would drop a
      // half-closed request itself).
      const raw = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const answering = (async () => {
        const conn = await raw.accept();
        const got = await readAll(conn);
        await conn.write(encoder.encode(
          `HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n${decoder.decode(got)}`,
        ));
        conn.close();
      })();
      const half = await startClientProc(raw.addr.port, port);
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(encoder.encode(
          `POST /half HTTP/1.1\r\nHost: ${half.url.host}\r\nContent-Length: 3\r\n\r\nabc`,
        ));
        await conn.closeWrite();
        const text = decoder.decode(
          await within(5000, readAll(conn), "answer"),
        );
        conn.close();
        await answering;
        // The app saw the rewritten head, the body, then our EOF.
        assert.match(
          text,
          /^HTTP\/1\.1 200 OK\r\nConnection: close\r\n\r\nPOST \/half HTTP\/1\.1\r\n/,
        );
        assert.match(text, /\r\nX-Forwarded-For: 127\.0\.0\.1\r\n/);
        assert.ok(text.endsWith("\r\n\r\nabc"));
      } finally {
        await half.client.stop("SIGINT");
        raw.close();
      }
    });

    await t.step(
      "request smuggling shapes get 400 and never reach the app",
      async () => {
        const before = requests();
        for (
          const bad of [
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            `Host: other.localhost\r\n`,
            "Transfer-Encoding: gzip\r\n",
            " folded: value\r\n",
          ]
        ) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          await conn.write(encoder.encode(
            `POST /smuggle HTTP/1.1\r\nHost: ${url.host}\r\n${bad}\r\nhello`,
          ));
          const text = decoder.decode(await within(5000, readAll(conn), "400"));
          conn.close();
          assert.match(
            text,
            /^HTTP\/1\.1 400 Bad Request\r\n/,
            JSON.stringify(bad),
          );
        }
        // The same on the 2nd request of a connection.
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(encoder.encode(
          `GET /ok HTTP/1.1\r\nHost: ${url.host}\r\n\r\n` +
            `POST /smuggle HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx`,
        ));
        const text = decoder.decode(
          await within(5000, readAll(conn), "200 then 400"),
        );
        conn.close();
        assert.match(text, /^HTTP\/1\.1 200 [^]*HTTP\/1\.1 400 Bad Request/);
        assert.equal(requests(), before + 1); // only /ok
      },
    );
  } finally {
    await client.stop("SIGINT");
  }

  await t.step(
    "--host-header rewrite satisfies an app that checks Host",
    async () => {
      // Like Vite or Django's ALLOWED_HOSTS: only its own name is accepted.
      const strict: Deno.HttpServer<Deno.NetAddr> = Deno.serve(
        {
          hostname: "127.0.0.1",
          port: 0,
          onListen() {},
        },
        (req) =>
          req.headers.get("host") === `localhost:${strict.addr.port}`
            ? new Response("welcome")
            : new Response(`blocked host ${req.headers.get("host")}`, {
              status: 403,
            }),
      );
      try {
        const plain = await startClientProc(strict.addr.port, port);
        assert.equal((await rawRequest(port, plain.url.host, "/")).status, 403);
        await plain.client.stop("SIGINT");
        const rewriting = await startClientProc(strict.addr.port, port, [
          "--host-header",
          "rewrite",
        ]);
        const r = await rawRequest(port, rewriting.url.host, "/");
        assert.equal(r.status, 200);
        assert.equal(r.text, "welcome");
        await rewriting.client.stop("SIGINT");
      } finally {
        await strict.shutdown();
      }
    },
  );

  await t.step(
    "basic auth: 401 without or with wrong credentials, 200 with them; refused ones never reach the app",
    async () => {
      const c = await startClientProc(app.addr.port, port, [
        "--basic-auth",
        "alice:s3cret",
        "--basic-auth",
        "bob:hunter2",
      ]);
      try {
        const before = requests();
        const none = await rawRequest(port, c.url.host, "/secret");
        assert.equal(none.status, 401);
        assert.match(
          none.headers.get("www-authenticate")!,
          /^Basic realm="groktunnel"/,
        );
        const wrong = await rawRequest(
          port,
          c.url.host,
          "/secret",
          `Authorization: Basic ${btoa("alice:nope")}\r\n`,
        );
        assert.equal(wrong.status, 401);
        assert.equal(requests(), before);
        for (const cred of ["alice:s3cret", "bob:hunter2"]) {
          const ok = await rawRequest(
            port,
            c.url.host,
            "/secret",
            `Authorization: Basic ${btoa(cred)}\r\n`,
          );
          assert.equal(ok.status, 200);
          // The tunnel's credentials are not passed on to the app.
          assert.equal(JSON.parse(ok.text).headers.authorization, undefined);
        }
        assert.equal(requests(), before + 2);
      } finally {
        await c.client.stop("SIGINT");
      }
    },
  );
  await server.stop();
  await app.shutdown();
});

Deno.test("IP allow and deny lists hold for IPv4 and IPv6, from the client and the operator", async (t) => {
  const { app } = echoApp("::");
  const status = async (port: number, host: string, hostname = "127.0.0.1") => {
    const conn = await Deno.connect({ hostname, port });
    await conn.write(
      encoder.encode(
        `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const r = await new ResponseReader(conn).next();
    conn.close();
    return r.status;
  };
  for (
    const [family, bind, visitor] of [["IPv4", "127.0.0.1", "127.0.0.1"], [
      "IPv6",
      "::1",
      "::1",
    ]] as const
  ) {
    const { server, port } = await (async () => {
      const p = new Proc(["server", "-p", "0", "-b", bind]);
      const m = await p.waitFor("stderr", /listening on .*:([0-9]+)/);
      return { server: p, port: Number(m[1]) };
    })();
    const serverArg = bind.includes(":")
      ? `[${bind}]:${port}`
      : `${bind}:${port}`;
    const cases: Array<[string[], number]> = family === "IPv4"
      ? [
        [[], 200],
        [["--deny-ip", "127.0.0.1"], 403],
        [["--allow-ip", "10.0.0.0/8"], 403],
        [["--allow-ip", "127.0.0.0/8"], 200],
        [["--allow-ip", "127.0.0.0/8", "--deny-ip", "127.0.0.1/32"], 403],
      ]
      : [[[], 200], [["--deny-ip", "::1/128"], 403], [[
        "--allow-ip",
        "2001:db8::/32",
      ], 403], [["--allow-ip", "::1"], 200]];
    try {
      for (const [flags, want] of cases) {
        await t.step(
          `${family}: client ${flags.join(" ") || "(no list)"} → ${want}`,
          async () => {
            const c = new Proc([
              String(app.addr.port),
              "--server",
              serverArg,
              ...flags,
            ]);
            const url = new URL(
              (await c.waitFor("stdout", /^(http:\/\/\S+)$/m))[1]!,
            );
            assert.equal(await status(port, url.host, visitor), want);
            await c.stop("SIGINT");
          },
        );
      }
    } finally {
      await server.stop();
    }
  }

  await t.step(
    "the operator's list covers every tunnel; refused TLS gets an alert",
    async () => {
      const { server, port } = await startServerProc(0, [
        "--deny-ip",
        "127.0.0.0/8",
      ]);
      const c = await startClientProc(app.addr.port, port);
      try {
        assert.equal(await status(port, c.url.host), 403);
        // TLS passed through by SNI: the refusal is a TLS alert, access_denied.
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        const tls = await Deno.startTls(conn, { hostname: c.url.hostname });
        const err = await tls.handshake().then(() => undefined, (e) => e);
        assert.match(String(err), /AccessDenied/);
        try {
          tls.close();
        } catch { /* closed */ }
      } finally {
        await c.client.stop("SIGINT");
        await server.stop();
      }
    },
  );
  await app.shutdown();
});

Deno.test("PROXY protocol v1 and v2 headers reach the app byte-exact", async (t) => {
  for (const version of ["v1", "v2"] as const) {
    await t.step(version, async () => {
      // A raw app: records the bytes before the HTTP request, then answers.
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const seen = (async () => {
        const conn = await listener.accept();
        const buf = new Uint8Array(4096);
        let got = new Uint8Array(0);
        // (v2's signature itself holds CR LF CR LF: wait for the request's end.)
        const ended = (t: string) =>
          t.indexOf("GET ") >= 0 &&
          t.indexOf("\r\n\r\n", t.indexOf("GET ")) >= 0;
        while (!ended(decoder.decode(got))) {
          const n = await conn.read(buf);
          if (n === null) break;
          got = new Uint8Array([...got, ...buf.subarray(0, n)]);
        }
        await conn.write(
          encoder.encode(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
          ),
        );
        conn.close();
        return got;
      })();
      const { server, port } = await startServerProc();
      const c = await startClientProc(listener.addr.port, port, [
        "--proxy-protocol",
        version,
      ]);
      try {
        const visitor = await Deno.connect({ hostname: "127.0.0.1", port });
        const vport = (visitor.localAddr as Deno.NetAddr).port;
        await visitor.write(
          encoder.encode(
            `GET / HTTP/1.1\r\nHost: ${c.url.host}\r\nConnection: close\r\n\r\n`,
          ),
        );
        await readAll(visitor);
        visitor.close();
        const bytes = await within(5000, seen, "app");
        if (version === "v1") {
          const line = `PROXY TCP4 127.0.0.1 127.0.0.1 ${vport} ${port}\r\n`;
          assert.equal(decoder.decode(bytes.subarray(0, line.length)), line);
          assert.match(
            decoder.decode(bytes.subarray(line.length)),
            /^GET \/ HTTP\/1\.1\r\n/,
          );
        } else {
          const want = new Uint8Array(28);
          want.set(PROXY_V2_SIGNATURE);
          want.set([
            0x21,
            0x11,
            0,
            12,
            127,
            0,
            0,
            1,
            127,
            0,
            0,
            1,
            vport >> 8,
            vport & 0xff,
            port >> 8,
            port & 0xff,
          ], 12);
          assert.deepEqual([...bytes.subarray(0, 28)], [...want]);
          assert.match(
            decoder.decode(bytes.subarray(28)),
            /^GET \/ HTTP\/1\.1\r\n/,
          );
        }
      } finally {
        await c.client.stop("SIGINT");
        await server.stop();
        listener.close();
      }
    });
  }
});
