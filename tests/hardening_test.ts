/**
 * A public port on a hostile internet: limits, auth, requested names,
 * liveness, forged clients, slow heads and graceful shutdown.
 */

import assert from "node:assert/strict";
import { startBackend } from "./backend.ts";
import { decoder, encoder, within } from "./helpers.ts";
import {
  Proc,
  rawRequest,
  ResponseReader,
  rss,
  startClientProc,
  startServerProc,
} from "./process.ts";
import { startServer } from "../lib/server/server.ts";
import { TunnelClient } from "../lib/client/client.ts";
import { Session } from "../lib/wire/mux/session.ts";
import { PeekedConn } from "../lib/net/peek.ts";

/** A hand-made control request; the connection stays open on 200. */
async function control(port: number, headers = "") {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(
    `GET / HTTP/1.1\r\nHost: localhost:${port}\r\nX-Groktunnel-Client: test\r\n${headers}\r\n`,
  ));
  const buf = new Uint8Array(8192);
  let got = new Uint8Array(0);
  let end = -1;
  while (end < 0) {
    const n = await within(5000, conn.read(buf), "control answer");
    if (n === null) throw new Error(`closed: ${decoder.decode(got)}`);
    got = new Uint8Array([...got, ...buf.subarray(0, n)]);
    end = decoder.decode(got).indexOf("\r\n\r\n");
  }
  const text = decoder.decode(got.subarray(0, end));
  const status = Number(text.split(" ")[1]);
  const host = /X-Public-Host: (\S+)/i.exec(text)?.[1];
  let body = decoder.decode(got.subarray(end + 4));
  if (status !== 200) {
    const length = Number(/Content-Length: (\d+)/i.exec(text)?.[1] ?? 0);
    while (encoder.encode(body).length < length) {
      const n = await within(5000, conn.read(buf), "refusal body");
      if (n === null) break;
      body += decoder.decode(buf.subarray(0, n));
    }
    conn.close();
  }
  return {
    status,
    host,
    head: text,
    body: body.trim(),
    conn,
    rest: got.subarray(end + 4),
  };
}

Deno.test("token: refused without it (401, the client exits 1), accepted with it", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc(0, ["--token", "s3cret"]);
  try {
    const missing = await control(port);
    assert.equal(missing.status, 401);
    assert.match(missing.body, /requires a token/);
    const wrong = await control(port, "Authorization: Bearer nope\r\n");
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /Wrong token/);
    // The CLI client without a token: one line and exit 1, no retry loop.
    const refused = new Proc([String(backend.addr.port), "-p", String(port)]);
    const status = await within(10_000, refused.done, "client exit");
    assert.equal(status.code, 1);
    assert.match(refused.stderr, /401.*requires a token/);
    assert.doesNotMatch(refused.stderr, /reconnecting/);
    // With the token from the environment it works.
    const { client, url } = await startClientProc(backend.addr.port, port, [], {
      GROKTUNNEL_TOKEN: "s3cret",
    });
    assert.equal((await rawRequest(port, url.host, "/hello")).status, 200);
    await client.stop();
  } finally {
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("requested names: granted, taken (409), invalid or reserved (400)", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc(0, [
    "--reserved",
    "admin,www",
  ]);
  try {
    const { client, url } = await startClientProc(backend.addr.port, port, [
      "--subdomain",
      "MyApp",
    ]);
    assert.equal(url.hostname, "myapp.localhost");
    assert.equal((await rawRequest(port, url.host, "/hello")).status, 200);
    const taken = await control(port, "X-Groktunnel-Subdomain: myapp\r\n");
    assert.equal(taken.status, 409);
    assert.match(taken.body, /in use/);
    for (const bad of ["bad_name", "-x", "a".repeat(64), "admin", "_new"]) {
      const r = await control(port, `X-Groktunnel-Subdomain: ${bad}\r\n`);
      assert.equal(r.status, 400, bad);
      assert.match(r.body, /not an available name/);
    }
    // The CLI says why and exits 1.
    const second = new Proc([
      String(backend.addr.port),
      "-p",
      String(port),
      "--subdomain",
      "myapp",
    ]);
    assert.equal(
      (await within(10_000, second.done, "second client exit")).code,
      1,
    );
    assert.match(second.stderr, /409.*in use/);
    await client.stop();
  } finally {
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("tunnel limits: per client IP (429) and in total (503)", async () => {
  const perIp = await startServerProc(0, ["--max-tunnels-per-ip", "2"]);
  const held = [await control(perIp.port), await control(perIp.port)];
  assert.deepEqual(held.map((h) => h.status), [200, 200]);
  const third = await control(perIp.port);
  assert.equal(third.status, 429);
  assert.match(third.body, /Too many tunnels from 127\.0\.0\.1 \(limit 2\)/);
  // One leaves: a new one fits again.
  held[0]!.conn.close();
  await new Promise((r) => setTimeout(r, 200));
  const again = await control(perIp.port);
  assert.equal(again.status, 200);
  again.conn.close();
  held[1]!.conn.close();
  await perIp.server.stop();

  const total = await startServerProc(0, ["--max-tunnels", "1"]);
  const one = await control(total.port);
  assert.equal(one.status, 200);
  const two = await control(total.port);
  assert.equal(two.status, 503);
  assert.match(two.body, /full/);
  one.conn.close();
  await total.server.stop();
});

Deno.test("connections per tunnel beyond the limit get a 503 page; others still pass", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc(0, ["--max-connections", "2"]);
  const { client, url } = await startClientProc(backend.addr.port, port);
  try {
    // Two slow requests hold both channels.
    const slow = [1, 2].map(() => rawRequest(port, url.host, "/slow?ms=1500"));
    await new Promise((r) => setTimeout(r, 300));
    const third = await rawRequest(port, url.host, "/hello");
    assert.equal(third.status, 503);
    assert.match(third.text, /Too many connections/);
    for (const r of await Promise.all(slow)) {
      assert.equal(r.status, 200);
      assert.equal(r.text, "slow done");
    }
    // Their channels are released once CLOSE has gone both ways (promptly).
    const freed = Date.now();
    let status = 0;
    while (
      (status = (await rawRequest(port, url.host, "/hello")).status) !== 200
    ) {
      assert.equal(status, 503);
      assert.ok(Date.now() - freed < 2000, "channels released within 2 s");
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await client.stop();
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("a client's own --max-connections: past it the visitor gets a 502 that says so; within it, all pass", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc(0);
  const { client, url } = await startClientProc(backend.addr.port, port, [
    "--max-connections",
    "2",
  ]);
  try {
    const slow = [1, 2].map(() => rawRequest(port, url.host, "/slow?ms=1500"));
    await new Promise((r) => setTimeout(r, 300));
    const third = await rawRequest(port, url.host, "/hello");
    assert.equal(third.status, 502);
    assert.match(third.text, /did not accept the connection/);
    for (const r of await Promise.all(slow)) {
      assert.equal(r.status, 200);
      assert.equal(r.text, "slow done");
    }
    // Its channels are free again once CLOSE has gone both ways.
    const freed = Date.now();
    let r;
    while ((r = await rawRequest(port, url.host, "/hello")).status !== 200) {
      assert.ok(Date.now() - freed < 2000, "channels released within 2 s");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(r.text, "hello ");
  } finally {
    await client.stop();
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("1,000 slow heads are held and cut at the timeout while an honest request succeeds", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc(0, ["--peek-timeout", "2"]);
  const { client, url } = await startClientProc(backend.addr.port, port);
  const slow: Deno.TcpConn[] = [];
  try {
    const before = await rss(server.child.pid);
    // Opened in batches: Deno's listen backlog is 511.
    for (let i = 0; i < 10; i++) {
      slow.push(
        ...await Promise.all(Array.from({ length: 100 }, async () => {
          const c = await Deno.connect({ hostname: "127.0.0.1", port });
          await c.write(encoder.encode("GET / HTTP/1.1\r\nHost: som"));
          return c;
        })),
      );
    }
    const opened = Date.now();
    const honest = await within(
      3000,
      rawRequest(port, url.host, "/hello"),
      "honest request",
    );
    assert.equal(honest.status, 200);
    assert.ok(
      Date.now() - opened < 1500,
      "answered before the slow heads time out",
    );
    // Every slow head gets a 408 and is closed, at the timeout (2 s), not much later.
    const answers = await within(
      15_000,
      Promise.all(slow.map(async (c) => {
        const r = await new ResponseReader(c).next().catch(() => undefined);
        return r?.status;
      })),
      "slow heads cut",
    );
    const cutAfter = Date.now() - opened;
    assert.equal(answers.filter((s) => s === 408).length, 1000);
    assert.ok(cutAfter < 10_000, `cut after ${cutAfter} ms`);
    const after = await rss(server.child.pid);
    assert.ok(
      after - before < 64,
      `server RSS grew ${before.toFixed(0)} → ${after.toFixed(0)} MB`,
    );
  } finally {
    for (const c of slow) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await client.stop();
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("a forged client's bad frames end only its own session; memory stays flat", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc();
  const { client, url } = await startClientProc(backend.addr.port, port);
  try {
    const before = await rss(server.child.pid);
    const bad: Array<[string, Uint8Array]> = [
      ["unknown message type", new Uint8Array([200, 0, 0, 0, 0])],
      [
        "a 2 GiB DATA length",
        new Uint8Array([104, 0, 0, 0, 0, 0x80, 0, 0, 0, 1, 2, 3]),
      ],
      [
        "a message for a channel that never existed",
        new Uint8Array([103, 0, 0, 0, 9, 0, 0, 0, 1]),
      ],
    ];
    for (const [what, bytes] of bad) {
      const forged = await control(port);
      assert.equal(forged.status, 200, what);
      await forged.conn.write(bytes);
      // The server hangs up on it...
      const buf = new Uint8Array(64);
      assert.equal(
        await within(
          5000,
          forged.conn.read(buf).catch(() => null),
          `hang-up after ${what}`,
        ),
        null,
      );
      forged.conn.close();
      // ...logs why, frees the name...
      await server.waitFor(
        "stderr",
        new RegExp(
          `${forged.host!.replace(/[.]/g, "\\.")} ended .*Protocol error`,
        ),
        5000,
      );
      assert.equal((await rawRequest(port, forged.host!, "/")).status, 404);
      // ...and the honest tunnel is unaffected.
      assert.equal(
        (await rawRequest(port, url.host, "/hello")).status,
        200,
        what,
      );
    }
    const after = await rss(server.child.pid);
    assert.ok(
      after - before < 32,
      `server RSS ${before.toFixed(0)} → ${after.toFixed(0)} MB`,
    );
  } finally {
    await client.stop();
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("liveness: the server drops a silent client that negotiated ping, and frees its name", async () => {
  const lines: string[] = [];
  const server = startServer({
    port: 0,
    pingInterval: 100,
    pingTimeout: 600,
    log: (l) => lines.push(l),
  });
  const c = await control(server.addr.port, "X-Groktunnel-Features: ping\r\n");
  assert.equal(c.status, 200);
  assert.match(c.head, /X-Groktunnel-Features: ping/);
  // The client goes silent (laptop asleep): it neither answers nor closes.
  const started = Date.now();
  await within(
    5000,
    (async () => {
      while (server.tunnels.length > 0) {
        await new Promise((r) => setTimeout(r, 50));
      }
    })(),
    "silent client dropped",
  );
  const took = Date.now() - started;
  assert.ok(took >= 500 && took < 3000, `dropped after ${took} ms`);
  assert.ok(lines.some((l) => /ended .*silent/.test(l)), lines.join("\n"));
  c.conn.close();
  await server.close();
});

Deno.test("liveness: a client notices a silent server through ping and reconnects", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const fake = (async () => {
    for (let i = 0; i < 2; i++) {
      const conn = await listener.accept();
      held.push(conn);
      const buf = new Uint8Array(4096);
      let text = "";
      while (!text.includes("\r\n\r\n")) {
        text += decoder.decode(buf.subarray(0, (await conn.read(buf))!));
      }
      assert.match(text, /X-Groktunnel-Features: ping/);
      await conn.write(encoder.encode(
        "HTTP/1.1 200 OK\r\nX-Public-Host: abc.localhost:1\r\nX-Groktunnel-Features: ping\r\n\r\n",
      ));
      // ...then silence: no PONG, no data, no close.
    }
  })();
  const events: string[] = [];
  const client = new TunnelClient({
    port: 1,
    serverPort: listener.addr.port,
    ping: { interval: 100, timeout: 600 },
    minBackoff: 50,
    onEvent: (e) =>
      events.push(
        e.type === "disconnected" ? `disconnected: ${e.reason}` : e.type,
      ),
  });
  const started = Date.now();
  await within(5000, fake, "second connection");
  const took = Date.now() - started;
  assert.ok(
    events.some((e) => /disconnected: Peer silent/.test(e)),
    events.join(", "),
  );
  assert.ok(took >= 500 && took < 4000, `reconnected after ${took} ms`);
  await client.close();
  for (const c of held) c.close();
  listener.close();
});

Deno.test("SIGTERM: the server stops accepting, finishes a request in flight, and exits 0", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc();
  const { client, url } = await startClientProc(backend.addr.port, port);
  try {
    const inFlight = rawRequest(port, url.host, "/slow?ms=1500");
    await new Promise((r) => setTimeout(r, 300));
    server.child.kill("SIGTERM");
    await server.waitFor("stderr", /shutting down/, 5000);
    await new Promise((r) => setTimeout(r, 100));
    // No new connections once shutting down.
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
    const r = await within(5000, inFlight, "request in flight");
    assert.equal(r.status, 200);
    assert.equal(r.text, "slow done");
    const status = await within(10_000, server.done, "server exit");
    assert.equal(status.code, 0);
  } finally {
    await client.stop();
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("a session opened by our Session over a raw control connection is the same protocol", async () => {
  // Guards the helper above: a 200 from control() really starts a session.
  const server = startServer({ port: 0, log: () => {} });
  const c = await control(server.addr.port);
  const session = new Session(new PeekedConn(c.conn, c.rest));
  assert.equal(server.tunnels.length, 1);
  session.close();
  await within(
    2000,
    (async () => {
      while (server.tunnels.length) await new Promise((r) => setTimeout(r, 20));
    })(),
    "name freed",
  );
  await server.close();
});

Deno.test("a client killed in the middle of an upload ends that upload, not the server", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc();
  const victim = await startClientProc(backend.addr.port, port);
  const other = await startClientProc(backend.addr.port, port);
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(encoder.encode(
      `POST /upload HTTP/1.1\r\nHost: ${victim.url.host}\r\nContent-Length: ${
        1 << 30
      }\r\n\r\n`,
    ));
    const block = new Uint8Array(1 << 20);
    let sent = 0;
    const uploading = (async () => {
      try {
        while (sent < 1 << 30) sent += await conn.write(block);
      } catch { /* cut off: expected */ }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await victim.client.stop("SIGKILL");
    await within(10_000, uploading, "upload cut off");
    assert.ok(sent < 1 << 30, `sent ${sent} bytes`);
    conn.close();
    await server.waitFor(
      "stderr",
      new RegExp(`${victim.url.hostname.replace(/[.]/g, "\\.")}.* ended after`),
      5000,
    );
    // The server is alive and the other tunnel works.
    assert.equal(
      (await rawRequest(port, other.url.host, "/hello")).status,
      200,
    );
    assert.equal(
      await Promise.race([
        server.done.then(() => "exited"),
        new Promise((r) => setTimeout(() => r("running"), 300)),
      ]),
      "running",
    );
    assert.doesNotMatch(server.stderr, /Uncaught/);
  } finally {
    await other.client.stop();
    await victim.client.stop();
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("a forged client sending DATA past the window it was granted is cut off; others unaffected", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc();
  const honest = await startClientProc(backend.addr.port, port);
  const forged = await control(port);
  try {
    assert.equal(forged.status, 200);
    // A public request (never read by its sender) makes the server OPEN a channel.
    const visitor = await Deno.connect({ hostname: "127.0.0.1", port });
    await visitor.write(
      encoder.encode(`GET /big HTTP/1.1\r\nHost: ${forged.host}\r\n\r\n`),
    );
    const open = new Uint8Array(13);
    let got = 0;
    while (got < 13) {
      got +=
        (await within(5000, forged.conn.read(open.subarray(got)), "OPEN"))!;
    }
    assert.equal(open[0], 100);
    const v = new DataView(open.buffer);
    const serverChannel = v.getUint32(1),
      window = v.getUint32(5),
      maxPacket = v.getUint32(9);
    // Confirm, then send the window and 64 MiB more, ignoring any WINDOW_ADJUST.
    const confirm = new Uint8Array(17);
    new DataView(confirm.buffer).setUint8(0, 101);
    new DataView(confirm.buffer).setUint32(1, serverChannel);
    new DataView(confirm.buffer).setUint32(9, 1 << 20);
    new DataView(confirm.buffer).setUint32(13, 32768);
    await forged.conn.write(confirm);
    const frame = new Uint8Array(9 + maxPacket);
    frame[0] = 104;
    new DataView(frame.buffer).setUint32(1, serverChannel);
    new DataView(frame.buffer).setUint32(5, maxPacket);
    const sending = (async () => {
      try {
        for (let sent = 0; sent < window + (64 << 20); sent += maxPacket) {
          let off = 0;
          while (off < frame.length) {
            off += await forged.conn.write(frame.subarray(off));
          }
        }
      } catch { /* the server hung up: expected */ }
    })();
    await server.waitFor(
      "stderr",
      /ended .*Protocol error: DATA of \d+ bytes exceeds window/,
      15_000,
    );
    await within(10_000, sending, "forged sender cut off");
    visitor.close();
    assert.equal((await rawRequest(port, forged.host!, "/")).status, 404);
    assert.equal(
      (await rawRequest(port, honest.url.host, "/hello")).status,
      200,
    );
  } finally {
    try {
      forged.conn.close();
    } catch { /* closed */ }
    await honest.client.stop();
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("a client that floods OPENs or PINGs and never reads: the server stops reading it, stays small, and ends it", async () => {
  const backend = startBackend();
  // A short stall timeout, so the test sees the end (the default is 30 s).
  const { server, port } = await startServerProc(0, ["--stall-timeout", "3"]);
  const honest = await startClientProc(backend.addr.port, port);
  try {
    const before = await rss(server.child.pid);
    const floods: Array<[string, Uint8Array, RegExp]> = [
      // OPEN: each owes an OPEN_FAILURE (the server accepts no channels):
      // past 256 KiB owed the server stops reading, then ends the session.
      [
        "OPEN",
        new Uint8Array([100, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 128, 0]),
        /ended .*The peer reads nothing: \d+ bytes owed/,
      ],
      // PING (negotiated): each owes a PONG; they are coalesced, and more
      // than 100 a second is a flood.
      [
        "PING",
        new Uint8Array([107, 0, 0, 0, 7]),
        /ended .*Protocol error: PING flood/,
      ],
    ];
    for (const [what, message, why] of floods) {
      const forged = await control(port, "X-Groktunnel-Features: ping\r\n");
      assert.equal(forged.status, 200, what);
      // 64 MiB of messages, written until the server stops taking them.
      const block = new Uint8Array(64 * 1024 - (64 * 1024) % message.length);
      for (let i = 0; i < block.length; i += message.length) {
        block.set(message, i);
      }
      let sent = 0;
      const sending = (async () => {
        try {
          while (sent < 64 << 20) {
            let off = 0;
            while (off < block.length) {
              off += await forged.conn.write(block.subarray(off));
            }
            sent += block.length;
          }
        } catch { /* cut off */ }
      })();
      // The sender stalls (the server stopped reading) or is cut off.
      await server.waitFor("stderr", why, 20_000);
      await within(10_000, sending, `${what} sender stalls or is cut off`);
      forged.conn.close();
      assert.ok(sent < 64 << 20, `${what}: the server read all ${sent} bytes`);
      const after = await rss(server.child.pid);
      assert.ok(
        after - before < 48,
        `${what} flood: server RSS ${before.toFixed(0)} → ${
          after.toFixed(0)
        } MB after ${(sent / 2 ** 20).toFixed(1)} MiB sent`,
      );
      // The name is freed; the honest tunnel answers byte-exact.
      assert.equal((await rawRequest(port, forged.host!, "/")).status, 404);
      const r = await rawRequest(port, honest.url.host, "/hello");
      assert.equal(r.status, 200, what);
      assert.equal(r.text, "hello ");
      // A server log line for the new state is never the old one again.
      server.stderr = "";
    }
  } finally {
    await honest.client.stop();
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("visitors that stop reading spend the memory budget: new connections get 503 until they go", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc(0, ["--memory-budget", "4"]);
  const { client, url } = await startClientProc(backend.addr.port, port);
  const stalled: Deno.Conn[] = [];
  try {
    const before = await rss(server.child.pid);
    let refused: Awaited<ReturnType<typeof rawRequest>> | undefined;
    for (let i = 0; i < 64 && !refused; i++) {
      // A 64 MiB download that is never read.
      const v = await Deno.connect({ hostname: "127.0.0.1", port });
      await v.write(
        encoder.encode(
          `GET /bytes/67108864 HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`,
        ),
      );
      stalled.push(v);
      await new Promise((r) => setTimeout(r, 300));
      const probe = await rawRequest(port, url.host, "/hello");
      if (probe.status === 503) refused = probe;
      else assert.equal(probe.status, 200);
    }
    assert.ok(refused, "no 503 after 64 stalled downloads");
    assert.match(refused.text, /--memory-budget/);
    // Bounded: 64 MiB downloads held by the server, but only the budget's worth.
    const held = await rss(server.child.pid);
    assert.ok(
      held - before < 64,
      `server RSS ${before.toFixed(0)} → ${
        held.toFixed(0)
      } MB with ${stalled.length} stalled visitors`,
    );
    for (const v of stalled.splice(0)) v.close();
    // Once they are gone, visitors are served again, byte-exact.
    let r = await rawRequest(port, url.host, "/hello");
    for (let i = 0; i < 50 && r.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 100));
      r = await rawRequest(port, url.host, "/hello");
    }
    assert.equal(r.status, 200);
    assert.equal(r.text, "hello ");
  } finally {
    for (const v of stalled) v.close();
    await client.stop();
    await server.stop();
    await backend.shutdown();
  }
});
