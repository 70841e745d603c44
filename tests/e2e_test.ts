/**
 * The tunnel end to end: real processes of main.ts (server and client), a
 * real Deno.serve backend, requests through `<name>.localhost` on raw
 * sockets or through the server used as an HTTP proxy.
 */

import { WsPeer } from "./ws.ts";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  bytesBody,
  startBackend,
  STREAM_PAUSE,
  STREAM_PIECES,
} from "./backend.ts";
import {
  decoder,
  encoder,
  pattern,
  readAll,
  sha256,
  within,
} from "./helpers.ts";
import {
  freePort,
  rawRequest,
  ResponseReader,
  startClientProc,
  startServerProc,
} from "./process.ts";

const MiB = 1024 * 1024;

/** A fetch client that sends every request through the tunnel server. */
function proxied(port: number): Deno.HttpClient {
  return Deno.createHttpClient({ proxy: { url: `http://127.0.0.1:${port}` } });
}

Deno.test("the tunnel end to end", async (t) => {
  const backend = startBackend();
  const { server, port } = await startServerProc();
  const { client, url } = await startClientProc(backend.addr.port, port);
  const http = proxied(port);
  try {
    await t.step(
      "the client prints a URL of 10+ [a-z0-9] on localhost with the server port",
      async () => {
        assert.match(url.hostname, /^[a-z0-9]{10,}\.localhost$/);
        assert.equal(url.port, String(port));
        // Status goes to stderr, maybe a moment after the URL on stdout.
        await client.waitFor(
          "stderr",
          /forwarding http:\/\/\S+ → http:\/\/localhost:\d+/,
          5000,
        );
        assert.equal(client.stdout, `${url.origin}\n`);
      },
    );

    await t.step(
      "200 keep-alive requests on one public connection",
      async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        const reader = new ResponseReader(conn);
        const started = performance.now();
        for (let i = 0; i < 200; i++) {
          await conn.write(
            encoder.encode(
              `GET /hello?i=${i} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`,
            ),
          );
          const r = await reader.next();
          assert.equal(r.status, 200);
          assert.equal(decoder.decode(r.body), `hello ?i=${i}`);
        }
        conn.close();
        assert.ok(performance.now() - started < 20_000);
      },
    );

    await t.step("a 16 MiB download arrives byte-exact (SHA-256)", async () => {
      const r = await fetch(new URL("/bytes/16777216", url), { client: http });
      assert.equal(r.status, 200);
      const body = new Uint8Array(await r.arrayBuffer());
      assert.equal(body.length, 16 * MiB);
      assert.equal(sha256(body), sha256(bytesBody(16 * MiB)));
    });

    await t.step("a 16 MiB upload arrives byte-exact (SHA-256)", async () => {
      const body = pattern(16 * MiB, 77);
      const r = await fetch(new URL("/upload", url), {
        client: http,
        method: "POST",
        body,
      });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), {
        length: 16 * MiB,
        sha256: sha256(body),
      });
    });

    await t.step(
      "a streamed response arrives in pieces, not all at the end",
      async () => {
        const started = Date.now();
        const r = await fetch(new URL("/stream", url), { client: http });
        const reader = r.body!.getReader();
        const arrivals: number[] = [];
        let text = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          arrivals.push(Date.now());
          text += decoder.decode(value);
        }
        assert.equal(text.trim().split("\n").length, STREAM_PIECES);
        // The first piece came long before the last one was even produced.
        assert.ok(
          arrivals[0]! - started < (STREAM_PIECES - 1) * STREAM_PAUSE - 100,
          `first after ${arrivals[0]! - started} ms`,
        );
        assert.ok(arrivals.length >= 2);
      },
    );

    await t.step(
      "a WebSocket echoes text and a 200 KB binary message",
      async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(encoder.encode(
          `GET /ws HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ));
        const ws = new WsPeer(conn);
        const head = await ws.readHead();
        assert.match(head, /^HTTP\/1\.1 101/);
        assert.match(
          head,
          /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i,
        );
        await ws.send(1, encoder.encode("hello websocket"));
        const a = await ws.receive();
        assert.equal(a.opcode, 1);
        assert.equal(decoder.decode(a.payload), "hello websocket");
        const big = pattern(200_000, 9);
        await ws.send(2, big);
        const b = await ws.receive();
        assert.equal(b.opcode, 2);
        assert.equal(sha256(b.payload), sha256(big));
        conn.close();
      },
    );

    await t.step(
      "an unknown name gets a 404 page naming the host",
      async () => {
        const r = await rawRequest(port, `nosuchname.localhost:${port}`);
        assert.equal(r.status, 404);
        assert.match(r.text, /no tunnel at nosuchname\.localhost/);
        assert.match(r.headers.get("content-type")!, /text\/html/);
      },
    );

    await t.step(
      "a browser at the bare host sees a page about the server",
      async () => {
        const r = await rawRequest(
          port,
          `localhost:${port}`,
          "/",
          "User-Agent: Mozilla/5.0\r\nAccept: text/html\r\n",
        );
        assert.equal(r.status, 200);
        assert.match(r.text, /groktunnel .* server/);
      },
    );

    await t.step("bad heads get 400 and 431 pages", async () => {
      const noHost = await rawRequestBytes(
        port,
        "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
      );
      assert.match(noHost, /^HTTP\/1\.1 400 /);
      const huge = await rawRequestBytes(
        port,
        `GET / HTTP/1.1\r\nHost: a\r\nX: ${"a".repeat(40_000)}\r\n\r\n`,
      );
      assert.match(huge, /^HTTP\/1\.1 431 /);
    });

    await t.step(
      "our server answers the original Go client's exact control request",
      async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(encoder.encode(
          `GET / HTTP/1.1\r\nHost: localhost:${port}\r\nUser-Agent: Go-http-client/1.1\r\n\r\n`,
        ));
        const buf = new Uint8Array(4096);
        let text = "";
        while (!text.includes("\r\n\r\n")) {
          const n = await within(5000, conn.read(buf), "control response");
          assert.ok(n);
          text += decoder.decode(buf.subarray(0, n!));
        }
        assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
        assert.match(
          text,
          new RegExp(`\r\nX-Public-Host: [a-z0-9]{10}\\.localhost:${port}\r\n`),
        );
        // Nothing follows the head: the Go client would drop such bytes.
        assert.ok(text.endsWith("\r\n\r\n"));
        // No extension was offered, so none is accepted.
        assert.doesNotMatch(text, /X-Groktunnel-Features/i);
        conn.close();
      },
    );

    await t.step(
      "the server logged the tunnel's start with its name and client",
      () => {
        assert.match(
          server.stderr,
          new RegExp(`tunnel ${url.host} started for 127\\.0\\.0\\.1:\\d+`),
        );
      },
    );
  } finally {
    http.close();
    await client.stop();
    await server.stop();
    await backend.shutdown();
  }
  assert.match(
    server.stderr,
    /ended after [0-9.]+ s .*connections, \d+ bytes from the client, \d+ to it/,
  );
});

async function rawRequestBytes(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(text)).catch(() => 0);
  const all = await within(5000, readAll(conn), "answer");
  conn.close();
  return decoder.decode(all);
}

Deno.test("local server down: the public request gets a 502 page and the client keeps running, then recovers", async () => {
  const { server, port } = await startServerProc();
  const localPort = freePort();
  const { client, url } = await startClientProc(localPort, port);
  let backend: Deno.HttpServer | undefined;
  try {
    for (let i = 0; i < 3; i++) {
      const r = await within(
        5000,
        rawRequest(port, url.host, "/hello"),
        "502 answer",
      );
      assert.equal(r.status, 502);
      assert.match(
        r.text,
        new RegExp(
          `local server at 127\\.0\\.0\\.1:${localPort} or \\[::1\\]:${localPort} is not answering`,
        ),
      );
    }
    // The same shape as a request's line: the time first, the visitor last.
    assert.match(
      client.stderr,
      /^\d\d:\d\d:\d\d Local server 127\.0\.0\.1:\d+ or \[::1\]:\d+ is not answering \(.*\): sent 502 {2}127\.0\.0\.1:\d+$/m,
    );
    // The local server comes up: the very next request reaches it.
    backend = startBackend(localPort);
    const r = await within(
      5000,
      rawRequest(port, url.host, "/hello"),
      "answer after backend start",
    );
    assert.equal(r.status, 200);
    assert.equal(r.text, "hello ");
  } finally {
    await client.stop();
    await server.stop();
    await backend?.shutdown();
  }
});

Deno.test("a killed client frees its name at once, and its public download ends promptly", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc();
  const { client, url } = await startClientProc(backend.addr.port, port);
  try {
    assert.equal((await rawRequest(port, url.host, "/hello")).status, 200);
    // A slow download in flight: read only the head, then let it stall.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      encoder.encode(
        `GET /bytes/${256 * MiB} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`,
      ),
    );
    const first = new Uint8Array(1024);
    assert.ok(await conn.read(first));
    await new Promise((r) => setTimeout(r, 200));
    await client.stop("SIGKILL");
    const killedAt = Date.now();
    // The download ends (EOF or reset) well before 256 MiB.
    let got = 0;
    const rest = new Uint8Array(256 * 1024);
    await within(
      10_000,
      (async () => {
        try {
          for (;;) {
            const n = await conn.read(rest);
            if (n === null) break;
            got += n;
          }
        } catch { /* reset is an end too */ }
      })(),
      "public download end",
    );
    assert.ok(got < 256 * MiB, `read ${got} bytes after the kill`);
    conn.close();
    const r = await within(
      5000,
      rawRequest(port, url.host, "/hello"),
      "request after kill",
    );
    assert.equal(r.status, 404);
    assert.ok(Date.now() - killedAt < 5000);
  } finally {
    await client.stop();
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("the client reconnects to a restarted server and keeps its name", async () => {
  const backend = startBackend();
  const first = await startServerProc();
  const { client, url } = await startClientProc(backend.addr.port, first.port);
  let second: Awaited<ReturnType<typeof startServerProc>> | undefined;
  try {
    assert.equal(
      (await rawRequest(first.port, url.host, "/hello")).status,
      200,
    );
    await first.server.stop("SIGKILL");
    await client.waitFor("stderr", /lost the server/);
    second = await startServerProc(first.port);
    await client.waitFor("stderr", /reconnected; same URL/, 20_000);
    const r = await rawRequest(first.port, url.host, "/hello");
    assert.equal(r.status, 200);
    assert.equal(
      client.stdout.trim(),
      url.href.replace(/\/$/, ""),
      "one URL printed",
    );
  } finally {
    await client.stop();
    await second?.server.stop();
    await first.server.stop();
    await backend.shutdown();
  }
});

Deno.test("CLI: a wrong flag or a non-port gets a one-line error, a pointer to --help and exit 2", async () => {
  for (
    const args of [["--nope"], ["abc"], ["70000"], ["3000", "-p", "x"], [
      "3000",
      "4000",
    ]]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-env",
        new URL("../main.ts", import.meta.url).pathname,
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    }).output();
    const err = decoder.decode(out.stderr);
    assert.equal(out.code, 2, `${args}: ${err}`);
    const lines = err.trimEnd().split("\n");
    assert.equal(lines.length, 2, err);
    assert.match(lines[0]!, /^groktunnel: /);
    assert.equal(lines[1], "Run groktunnel --help for the options.");
  }
  const help = await new Deno.Command(Deno.execPath(), {
    args: ["run", new URL("../main.ts", import.meta.url).pathname, "--help"],
    stdout: "piped",
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  }).output();
  assert.equal(help.code, 0);
  assert.match(decoder.decode(help.stdout), /groktunnel <port>/);
});

Deno.test("sha256 helper agrees with node:crypto on chunked input", () => {
  const data = pattern(1000, 1);
  assert.equal(
    sha256(data.subarray(0, 10), data.subarray(10)),
    createHash("sha256").update(data).digest("hex"),
  );
});

Deno.test("EOF travels both ways: a half-closed request and a close-delimited response", async () => {
  // A raw backend that reads the whole request (to EOF), then answers with an
  // HTTP/1.0 response delimited by closing the connection.
  const raw = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for (let i = 0; i < 2; i++) {
      const conn = await raw.accept();
      const request = await readAll(conn); // returns only after the client's EOF
      const body = encoder.encode(
        `you sent ${request.length} bytes; sha256 ${sha256(request)}`,
      );
      await conn.write(encoder.encode("HTTP/1.0 200 OK\r\n\r\n"));
      await conn.write(body);
      conn.close();
    }
  })();
  const { server, port } = await startServerProc();
  // A request body delimited by EOF is not HTTP/1.1 (requests need a length):
  // this exercises the relay alone, without the request filter, which would
  // refuse it (see forwarded_test.ts for half-close with the filter on).
  const { client, url } = await startClientProc(raw.addr.port, port, [
    "--forwarded-headers",
    "off",
  ]);
  try {
    for (const size of [0, 3 * MiB]) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const payload = pattern(size, 3);
      const head = encoder.encode(
        `PUT /x HTTP/1.0\r\nHost: ${url.host}\r\n\r\n`,
      );
      await conn.write(head);
      let off = 0;
      while (off < payload.length) {
        off += await conn.write(payload.subarray(off));
      }
      await conn.closeWrite(); // our EOF must reach the backend through the tunnel
      const answer = decoder.decode(
        await within(10_000, readAll(conn), "close-delimited answer"),
      );
      conn.close();
      assert.match(answer, /^HTTP\/1\.0 200 OK\r\n\r\n/);
      const expected = `you sent ${head.length + size} bytes; sha256 ${
        sha256(head, payload)
      }`;
      assert.equal(answer.slice(answer.indexOf("\r\n\r\n") + 4), expected);
    }
    await serving;
  } finally {
    await client.stop();
    await server.stop();
    raw.close();
  }
});
