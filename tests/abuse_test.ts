/**
 * Abuse controls on a public server, against an app that answers anything
 * (and counts what reached it): `--rate-limit` (429 with Retry-After, the
 * app never sees the refused), `--browser-warning` (browsers see a page
 * naming the tunnel once; API clients, POSTs and the skip header never do;
 * the continue link sets a cookie and goes back, never to another host),
 * `--tunnel-ttl` and `--idle-timeout` (the tunnel ends, and its client is
 * told why instead of coming back).
 */

import assert from "node:assert/strict";
import { readAll, sha256, within } from "./helpers.ts";
import { bytesBody, startBackend } from "./backend.ts";
import { Proc, rawRequest, startServerProc } from "./process.ts";

/** An app that answers every request 200 and counts them. */
function countingApp() {
  let count = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      count++;
      return new Response(`app saw ${new URL(req.url).pathname}`);
    },
  );
  return { server, port: server.addr.port, count: () => count };
}

async function tunnel(
  appPort: number,
  serverPort: number,
  extra: string[] = [],
) {
  const client = new Proc([
    String(appPort),
    "-p",
    String(serverPort),
    "--quiet",
    "--no-inspect",
    ...extra,
  ]);
  const url = new URL(
    (await client.waitFor("stdout", /^(http:\/\/\S+)$/m))[1]!,
  );
  return { client, url };
}

Deno.test("--rate-limit: 429 with Retry-After past the burst, and the app never sees the refused", async () => {
  const app = countingApp();
  const { server, port } = await startServerProc(0, ["--rate-limit", "2"]);
  const { client, url } = await tunnel(app.port, port);
  try {
    // Four at once: a burst of 2 passes (the bucket holds 2, refilled at 2
    // a second), the other two are refused.
    const answers = await Promise.all(
      [0, 1, 2, 3].map((i) => rawRequest(port, url.host, `/r${i}`)),
    );
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [200, 200, 429, 429]);
    for (const a of answers.filter((a) => a.status === 429)) {
      assert.equal(a.headers.get("retry-after"), "1");
      assert.match(
        a.text,
        /Too many new connections to .*; try again in 1 s\./,
      );
    }
    assert.equal(app.count(), 2);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await rawRequest(port, url.host, "/again")).status, 200);
    assert.equal(app.count(), 3);
  } finally {
    await client.stop();
    await server.stop();
    await app.server.shutdown();
  }
});

Deno.test("--browser-warning, against an app that takes anything", async (t) => {
  const app = countingApp();
  const { server, port } = await startServerProc(0, ["--browser-warning"]);
  const { client, url } = await tunnel(app.port, port);
  const html = "Accept: text/html,application/xhtml+xml\r\n";
  try {
    await t.step(
      "a browser's first visit gets the warning page, and the app nothing",
      async () => {
        const before = app.count();
        const r = await rawRequest(port, url.host, "/hello?x=1", html);
        assert.equal(r.status, 200);
        assert.ok(
          r.text.includes(`<h1>You are about to visit ${url.host}</h1>`),
        );
        assert.ok(
          r.text.includes(
            "Do not enter passwords, card numbers or other secrets unless you know and trust who runs it.",
          ),
        );
        assert.ok(
          r.text.includes('href="/__groktunnel/continue?to=%2Fhello%3Fx%3D1"'),
        );
        assert.equal(app.count(), before);
      },
    );

    await t.step(
      "its link sets the cookie and goes back; with the cookie the app answers",
      async () => {
        const go = await rawRequest(
          port,
          url.host,
          "/__groktunnel/continue?to=%2Fhello%3Fx%3D1",
          html,
        );
        assert.equal(go.status, 303);
        assert.equal(go.headers.get("location"), "/hello?x=1");
        assert.equal(
          go.headers.get("set-cookie"),
          "groktunnel_warned=1; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax",
        );
        const r = await rawRequest(
          port,
          url.host,
          "/hello?x=1",
          html + "Cookie: a=b; groktunnel_warned=1\r\n",
        );
        assert.equal(r.status, 200);
        assert.equal(r.text, "app saw /hello");
        const evil = await rawRequest(
          port,
          url.host,
          "/__groktunnel/continue?to=%2F%2Fevil.example%2F",
          html,
        );
        assert.equal(evil.headers.get("location"), "/");
      },
    );

    await t.step(
      "API clients, the skip header and POSTs never see it",
      async () => {
        const api = await rawRequest(
          port,
          url.host,
          "/api",
          "Accept: application/json\r\n",
        );
        assert.equal(api.text, "app saw /api");
        const skip = await rawRequest(
          port,
          url.host,
          "/skip",
          html + "groktunnel-skip-browser-warning: 1\r\n",
        );
        assert.equal(skip.text, "app saw /skip");
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(
          new TextEncoder().encode(
            `POST /hook HTTP/1.1\r\nHost: ${url.host}\r\n${html}Content-Length: 2\r\nConnection: close\r\n\r\nhi`,
          ),
        );
        const buf = new Uint8Array(4096);
        let text = "";
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          text += new TextDecoder().decode(buf.subarray(0, n));
        }
        conn.close();
        assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
        assert.ok(text.endsWith("app saw /hook"));
      },
    );
  } finally {
    await client.stop();
    await server.stop();
    await app.server.shutdown();
  }
});

Deno.test("--idle-timeout and --tunnel-ttl end tunnels, and their clients are told why", async () => {
  const app = countingApp();
  const { server, port } = await startServerProc(0, [
    "--idle-timeout",
    "2",
    "--tunnel-ttl",
    "4",
  ]);
  try {
    const idle = await tunnel(app.port, port);
    const busy = await tunnel(app.port, port);
    const started = Date.now();
    // The busy one has a visitor every half second: only its TTL ends it.
    let visiting = true;
    const visits = (async () => {
      while (visiting) {
        await rawRequest(port, busy.url.host, "/").catch(() => {});
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const idleExit = await within(15_000, idle.client.done, "idle client");
    const idleAfter = Date.now() - started;
    assert.equal(idleExit.code, 1);
    assert.match(
      idle.client.stderr,
      /403 The tunnel "[a-z0-9]+" had no visitor for 2 s \(--idle-timeout\); its name is free again in 10 min/,
    );
    assert.ok(idleAfter >= 1_900, `idle tunnel ended after ${idleAfter} ms`);
    const busyExit = await within(15_000, busy.client.done, "busy client");
    const busyAfter = Date.now() - started;
    visiting = false;
    await visits;
    assert.equal(busyExit.code, 1);
    assert.match(
      busy.client.stderr,
      /403 The tunnel "[a-z0-9]+" reached its longest life \(--tunnel-ttl 4 s\)/,
    );
    assert.ok(busyAfter >= 3_500, `busy tunnel ended after ${busyAfter} ms`);
    assert.match(
      server.stderr,
      /ended after [0-9.]+ s \(it had no visitor for 2 s/,
    );
    assert.match(
      server.stderr,
      /ended after [0-9.]+ s \(it reached its longest life/,
    );
  } finally {
    await server.stop();
    await app.server.shutdown();
  }
});

Deno.test("--bandwidth paces each tunnel each way, and one tunnel's visitors do not slow another's", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc(0, ["--bandwidth", "256K"]);
  const a = await tunnel(backend.addr.port, port);
  const b = await tunnel(backend.addr.port, port);
  const MiB = 1024 * 1024;
  try {
    // 1 MiB at 256 KiB/s with a second's burst: 3 s at least, each, at once.
    const started = Date.now();
    const timed = async (host: string) => {
      const r = await rawRequest(port, host, `/bytes/${MiB}`);
      return { r, ms: Date.now() - started };
    };
    const [x, y] = await Promise.all([timed(a.url.host), timed(b.url.host)]);
    for (const { r, ms } of [x, y]) {
      assert.equal(r.status, 200);
      assert.equal(sha256(r.body), sha256(bytesBody(MiB)));
      assert.ok(ms >= 2_500, `1 MiB came in ${ms} ms: not paced`);
    }
    // One bucket for both would take 7 s; one each, about 3.
    const both = Math.max(x.ms, y.ms);
    assert.ok(both < 6_500, `two tunnels took ${both} ms: they share a bucket`);
    // Uploads are paced too.
    const upStarted = Date.now();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      new TextEncoder().encode(
        `POST /upload HTTP/1.1\r\nHost: ${a.url.host}\r\nContent-Length: ${MiB}\r\nConnection: close\r\n\r\n`,
      ),
    );
    await conn.write(bytesBody(MiB));
    const answer = new TextDecoder().decode(await readAll(conn));
    conn.close();
    const upMs = Date.now() - upStarted;
    assert.match(answer, /^HTTP\/1\.1 200/);
    assert.ok(
      answer.includes(`"sha256":"${sha256(bytesBody(MiB))}"`),
      answer.slice(-200),
    );
    assert.ok(upMs >= 2_500, `1 MiB went up in ${upMs} ms: not paced`);
  } finally {
    await a.client.stop();
    await b.client.stop();
    await server.stop();
    await backend.shutdown();
  }
});
