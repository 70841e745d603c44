/**
 * Interop with the original Go groktunnel, from bytes it was recorded
 * sending (tests/fixtures, copied from shared/fixtures).
 */

import assert from "node:assert/strict";
import { connect } from "../lib/client/client.ts";
import { Session } from "../lib/wire/mux/session.ts";
import {
  type ControlMessage,
  encodeRecipientOnly,
  encodeWindowAdjust,
  FrameDecoder,
  MSG_CLOSE,
} from "../lib/wire/mux/frames.ts";
import { PeekedConn } from "../lib/net/peek.ts";
import { startBackend } from "./backend.ts";
import { decoder, encoder, within } from "./helpers.ts";
import { rawRequest, startServerProc } from "./process.ts";

const fixture = (name: string) =>
  Deno.readFile(new URL(`./fixtures/${name}`, import.meta.url));

Deno.test("our client works with the original server's handshake and frames", async () => {
  const serverBytes = await fixture("original-server-to-client.bin");
  const head = serverBytes.subarray(0, 145); // 200 OK, chunked, X-Public-Host
  const firstTwo = serverBytes.subarray(145, 145 + 13 + 9 + 89); // OPEN, DATA(GET /)
  const backend = startBackend();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const fake = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(64 * 1024);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      assert.ok(n);
      text += decoder.decode(buf.subarray(0, n!));
    }
    assert.match(
      text,
      new RegExp(
        `^GET / HTTP/1\\.1\\r\\nHost: localhost:${listener.addr.port}\\r\\n`,
      ),
    );
    await conn.write(head);
    await new Promise((r) => setTimeout(r, 50));
    await conn.write(firstTwo);
    // Decode what our client sends back, as the Go server would.
    const messages: ControlMessage[] = [];
    let response = "";
    const d = new FrameDecoder(); // no PING: the original never offered it
    const sink = {
      message: (m: ControlMessage) => messages.push(m),
      dataHeader: () => {},
      data: (_: number, c: Uint8Array) =>
        response += decoder.decode(c, { stream: true }),
    };
    while (!response.includes("GET / via okrfk94d7n.localhost:9999")) {
      const n = await within(5000, conn.read(buf), "client's answer");
      assert.ok(n);
      d.feed(buf.subarray(0, n!), sink);
    }
    const confirm = messages[0]!;
    assert.equal(confirm.type, 101);
    assert.equal((confirm as { recipient: number }).recipient, 0);
    const ours = (confirm as { sender: number }).sender;
    assert.match(response, /^HTTP\/1\.1 200 OK\r\n/);
    // Go's relay ends with CLOSE and no EOF; it grants window as it reads.
    await conn.write(
      new Uint8Array([
        ...encodeWindowAdjust(ours, response.length),
        ...encodeRecipientOnly(MSG_CLOSE, ours),
      ]),
    );
    while (!messages.some((m) => m.type === MSG_CLOSE)) {
      const n = await within(5000, conn.read(buf), "CLOSE answer");
      assert.ok(n);
      d.feed(buf.subarray(0, n!), sink);
    }
    const close = messages.find((m) => m.type === MSG_CLOSE) as {
      recipient: number;
    };
    assert.equal(
      close.recipient,
      0,
      "CLOSE goes to the Go side's channel number",
    );
    // Nothing after CLOSE for that channel (the original would treat it as fatal).
    const after = messages.slice(messages.indexOf(close as ControlMessage) + 1);
    assert.deepEqual(after, []);
    return conn;
  })();
  const client = await connect({
    port: backend.addr.port,
    server: "localhost",
    serverPort: listener.addr.port,
    reconnect: false,
  });
  assert.equal(client.url, "http://okrfk94d7n.localhost:9999");
  const conn = await within(10_000, fake, "fake original server");
  await new Promise((r) => setTimeout(r, 100));
  conn.close();
  await client.close();
  listener.close();
  await backend.shutdown();
});

Deno.test("a client behaving like the original (2 MiB window, 32 KiB packets, CLOSE without EOF) works with our server", async () => {
  const { server, port } = await startServerProc();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      encoder.encode(
        `GET / HTTP/1.1\r\nHost: localhost:${port}\r\nUser-Agent: Go-http-client/1.1\r\n\r\n`,
      ),
    );
    const buf = new Uint8Array(4096);
    let got = new Uint8Array(0);
    let end = -1;
    while (end < 0) {
      const n = await within(5000, conn.read(buf), "handshake");
      assert.ok(n);
      got = new Uint8Array([...got, ...buf.subarray(0, n!)]);
      end = decoder.decode(got).indexOf("\r\n\r\n");
    }
    const publicHost = /X-Public-Host: (\S+)/.exec(decoder.decode(got))![1]!;
    const session = new Session(new PeekedConn(conn, got.subarray(end + 4)), {
      window: 2 * 1024 * 1024,
      maxPacket: 32 * 1024,
    });
    const body = "x".repeat(300_000); // many 32 KiB packets back to the server
    const serving = (async () => {
      for await (const ch of session) {
        const req = new Uint8Array(8192);
        const n = await ch.read(req);
        assert.match(
          decoder.decode(req.subarray(0, n!)),
          /^GET \/compat HTTP\/1\.1/,
        );
        await ch.write(
          encoder.encode(
            `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
          ),
        );
        ch.close(); // the original never sends EOF
      }
    })();
    const r = await within(
      10_000,
      rawRequest(port, publicHost, "/compat"),
      "public request",
    );
    assert.equal(r.status, 200);
    assert.equal(r.text, body);
    session.close();
    await serving;
  } finally {
    try {
      conn.close();
    } catch { /* the session closed it */ }
    await server.stop();
  }
  assert.match(server.stderr, /ended after/);
});

Deno.test("the original's older control host _new.<host> is accepted too", async () => {
  const { server, port } = await startServerProc();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    encoder.encode(
      `GET / HTTP/1.1\r\nHost: _new.localhost:${port}\r\nUser-Agent: Go-http-client/1.1\r\n\r\n`,
    ),
  );
  const buf = new Uint8Array(4096);
  const n = await within(5000, conn.read(buf), "answer");
  assert.match(
    decoder.decode(buf.subarray(0, n!)),
    /^HTTP\/1\.1 200 OK\r\n[^]*X-Public-Host: [a-z0-9]{10}\.localhost/,
  );
  conn.close();
  await server.stop();
});
