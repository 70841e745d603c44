/**
 * The inspector and the request log: a real tunnel, a real app, the
 * ngrok-shaped API over HTTP, and the page in headless Chromium (Debian's),
 * driven over the DevTools protocol. One of each, shared by the steps.
 */

import assert from "node:assert/strict";
import { startBackend } from "./backend.ts";
import { Browser } from "./cdp.ts";
import { decoder, encoder, readAll, within } from "./helpers.ts";
import {
  freePort,
  Proc,
  rawRequest,
  startClientProc,
  startServerProc,
} from "./process.ts";

/** A request through the tunnel on a raw socket; resolves with the answer. */
async function through(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(text));
  const answer = decoder.decode(await within(10_000, readAll(conn), "answer"));
  conn.close();
  return answer;
}

/** A request to the inspector with the Host and headers given, raw. */
async function toInspector(
  port: number,
  method: string,
  path: string,
  extra = "",
  body = "",
): Promise<{ status: number; text: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(
    `${method} ${path} HTTP/1.1\r\n${
      extra.includes("Host:") ? "" : `Host: 127.0.0.1:${port}\r\n`
    }${extra}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  ));
  const text = decoder.decode(await readAll(conn));
  conn.close();
  return {
    status: Number(text.split(" ")[1]),
    text: text.slice(text.indexOf("\r\n\r\n") + 4),
  };
}

Deno.test("inspector: API, page in Chromium, replay, request log", async (t) => {
  let hits = 0;
  const app = startBackend();
  const counting = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      hits++;
      const body = await req.text();
      return new Response(
        `got ${req.method} ${new URL(req.url).pathname} ${body}`,
      );
    },
  );
  const { server, port } = await startServerProc();
  const inspectPort = freePort();
  const { client, url } = await startClientProc(counting.addr.port, port, [
    "--inspect",
    `127.0.0.1:${inspectPort}`,
  ]);
  const base = `http://127.0.0.1:${inspectPort}`;
  const browser = await Browser.launch();
  try {
    await client.waitFor(
      "stderr",
      new RegExp(`inspector http://127\\.0\\.0\\.1:${inspectPort}`),
    );
    const payload = { user: "ada", tags: ["a", "b"], nested: { n: 1 } };

    await t.step(
      "the page is served, and a request appears in it live",
      async () => {
        await browser.goto(base + "/");
        assert.equal(
          await browser.eval("document.title"),
          "groktunnel inspector",
        );
        await browser.waitFor(
          `document.getElementById("tunnel").textContent.includes(${
            JSON.stringify(url.origin)
          })`,
        );
        // Live: subscribed to new requests, snapshot taken.
        await browser.waitFor(`document.body.dataset.live === "1"`);
        const answer = await through(
          port,
          `POST /orders?id=7 HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${
              JSON.stringify(payload).length
            }\r\nConnection: close\r\n\r\n${JSON.stringify(payload)}`,
        );
        assert.match(answer, /^HTTP\/1\.1 200/);
        await browser.waitFor(
          `[...document.querySelectorAll("#list li .p")].some((e) => e.textContent === "/orders?id=7")`,
        );
        // Listed, none selected: the detail says what to do.
        assert.equal(
          await browser.eval(`document.getElementById("detail").textContent`),
          "Select a request to see it here.",
        );
      },
    );

    await t.step("HEAD / is answered as GET, without the body", async () => {
      const get = await fetch(base + "/");
      const body = await get.text();
      const head = await fetch(base + "/", { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), "");
      assert.equal(
        head.headers.get("content-type"),
        get.headers.get("content-type"),
      );
      assert.ok(body.includes("<title>groktunnel inspector</title>"));
    });

    await t.step("its detail shows the JSON body pretty-printed", async () => {
      await browser.eval(
        `[...document.querySelectorAll("#list li")].find((li) => li.textContent.includes("/orders?id=7")).click()`,
      );
      await browser.waitFor(`document.querySelector("#detail pre.json")`);
      assert.equal(
        await browser.eval(
          `document.querySelector("#detail pre.json").textContent`,
        ),
        JSON.stringify(payload, null, 2),
      );
    });

    await t.step(
      "clicking replay adds an entry the app really received",
      async () => {
        const before = hits;
        const rows = await browser.eval<number>(
          `document.querySelectorAll("#list li[data-id]").length`,
        );
        await browser.eval(`document.getElementById("replay").click()`);
        await browser.waitFor(
          `document.querySelectorAll("#list li[data-id]").length === ${
            rows + 1
          }`,
        );
        assert.equal(hits, before + 1);
        assert.match(
          await browser.eval<string>(
            `document.querySelector("#list li[data-id]").textContent`,
          ),
          /replay of req_\d+/,
        );
      },
    );

    await t.step(
      "a <script> in a path or a header stays inert text",
      async () => {
        await through(
          port,
          `GET /<script>window.pwned=1</script> HTTP/1.1\r\nHost: ${url.host}\r\n` +
            `X-Evil: <img src=x onerror="window.pwned=2">\r\nConnection: close\r\n\r\n`,
        );
        await browser.waitFor(
          `[...document.querySelectorAll("#list li .p")].some((e) => e.textContent.includes("<script>"))`,
        );
        await browser.eval(
          `[...document.querySelectorAll("#list li")].find((li) => li.textContent.includes("<script>")).click()`,
        );
        // The detail of that request (not the one shown before) is in.
        await browser.waitFor(
          `(document.querySelector("#detail h2")?.textContent ?? "").includes("<script>") && document.querySelector("#detail table")`,
        );
        assert.equal(await browser.eval("typeof window.pwned"), "undefined");
        assert.equal(
          await browser.eval(
            `document.querySelectorAll("#detail script, #list script, #detail img").length`,
          ),
          0,
        );
        assert.match(
          await browser.eval<string>(
            `document.getElementById("detail").textContent`,
          ),
          /<img src=x onerror=/,
        );
      },
    );

    await t.step("a screenshot of the page with requests in it", async () => {
      for (const p of ["/hello?x=1", "/missing", "/form"]) {
        await through(
          port,
          `GET ${p} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`,
        );
      }
      await browser.waitFor(
        `document.querySelectorAll("#list li[data-id]").length >= 6`,
      );
      await browser.eval(
        `[...document.querySelectorAll("#list li")].find((li) => li.textContent.includes("/orders?id=7")).click()`,
      );
      await browser.waitFor(`document.querySelector("#detail pre.json")`);
      const png = await browser.screenshot();
      assert.deepEqual([...png.subarray(0, 8)], [
        137,
        80,
        78,
        71,
        13,
        10,
        26,
        10,
      ]);
      const file = Deno.env.get("GROKTUNNEL_SCREENSHOT");
      if (file) await Deno.writeFile(file, png);
    });

    await t.step("the API has ngrok's shapes", async () => {
      const tunnels = JSON.parse(
        (await toInspector(inspectPort, "GET", "/api/tunnels")).text,
      );
      assert.equal(tunnels.uri, "/api/tunnels");
      assert.equal(tunnels.tunnels[0].public_url, url.origin);
      assert.equal(tunnels.tunnels[0].proto, "http");
      const list = JSON.parse(
        (await toInspector(inspectPort, "GET", "/api/requests/http")).text,
      );
      assert.equal(list.uri, "/api/requests/http");
      const r = list.requests.find((
        x: {
          request: { uri: string };
          groktunnel: { replay_of: string | null };
        },
      ) => x.request.uri === "/orders?id=7" && x.groktunnel.replay_of === null);
      assert.ok(r);
      assert.equal(r.uri, `/api/requests/http/${r.id}`);
      assert.equal(r.tunnel_name, "command_line");
      assert.match(r.remote_addr, /^127\.0\.0\.1:\d+$/);
      assert.ok(!Number.isNaN(Date.parse(r.start)));
      assert.equal(typeof r.duration, "number");
      assert.equal(r.request.method, "POST");
      assert.equal(r.request.proto, "HTTP/1.1");
      assert.deepEqual(r.request.headers["Content-Type"], ["application/json"]);
      const raw = atob(r.request.raw);
      assert.ok(raw.startsWith("POST /orders?id=7 HTTP/1.1\r\n"));
      assert.ok(raw.endsWith(JSON.stringify(payload)));
      assert.equal(r.response.status_code, 200);
      assert.equal(r.response.status, "200 OK");
      assert.ok(atob(r.response.raw).startsWith("HTTP/1.1 200 OK\r\n"));
      const one = JSON.parse(
        (await toInspector(inspectPort, "GET", r.uri)).text,
      );
      assert.equal(one.id, r.id);
      // Replay by API: 204, and the app got it.
      const before = hits;
      const replayed = await toInspector(
        inspectPort,
        "POST",
        "/api/requests/http",
        "Content-Type: application/json\r\n",
        JSON.stringify({ id: r.id }),
      );
      assert.equal(replayed.status, 204);
      assert.equal(hits, before + 1);
      // Replay with edits.
      const edited = await toInspector(
        inspectPort,
        "POST",
        "/api/requests/http",
        "Content-Type: application/json\r\n",
        JSON.stringify({
          id: r.id,
          method: "PUT",
          path: "/edited",
          body: "changed",
        }),
      );
      assert.equal(edited.status, 204);
      const newest = JSON.parse(
        (await toInspector(inspectPort, "GET", "/api/requests/http")).text,
      ).requests[0];
      assert.equal(newest.request.method, "PUT");
      assert.equal(atob(newest.response.body), "got PUT /edited changed");
      assert.equal(newest.groktunnel.replay_of, r.id);
    });

    await t.step(
      "hostile callers: foreign Host, form posts, unknown ids",
      async () => {
        const rebound = await toInspector(
          inspectPort,
          "GET",
          "/api/requests/http",
          `Host: evil.example:${inspectPort}\r\n`,
        );
        assert.equal(rebound.status, 403);
        const form = await toInspector(
          inspectPort,
          "POST",
          "/api/requests/http",
          "Content-Type: application/x-www-form-urlencoded\r\n",
          "id=req_1",
        );
        assert.equal(form.status, 415);
        const del = await toInspector(
          inspectPort,
          "DELETE",
          "/api/requests/http",
          "Content-Type: text/plain\r\n",
        );
        assert.equal(del.status, 415);
        const missing = await toInspector(
          inspectPort,
          "POST",
          "/api/requests/http",
          "Content-Type: application/json\r\n",
          JSON.stringify({ id: "req_999999" }),
        );
        assert.equal(missing.status, 404);
      },
    );

    await t.step("the terminal has a line per request", () => {
      assert.match(
        client.stderr,
        /\d\d:\d\d:\d\d POST \/orders\?id=7 {2}200 {2}\d+ ms {2}\d+(\.\d)? [KM]?B {2}127\.0\.0\.1:\d+/,
      );
      assert.match(client.stderr, /GET \/hello\?x=1 {2}200 /);
      assert.match(client.stderr, /\(replay of req_\d+\)/);
    });

    await t.step("clear empties the list", async () => {
      // Another page (here a raw event stream) hears the clear too.
      const events = await fetch(`${base}/api/events`);
      const reader = events.body!.pipeThrough(new TextDecoderStream())
        .getReader();
      await reader.read(); // ": live"
      await browser.eval(`document.getElementById("clear").click()`);
      await browser.waitFor(
        `document.querySelectorAll("#list li[data-id]").length === 0`,
      );
      let seen = "";
      while (!seen.includes("event: clear")) {
        const { value, done } = await within(
          5000,
          reader.read(),
          "clear event",
        );
        if (done) break;
        seen += value;
      }
      assert.match(seen, /event: clear/);
      await reader.cancel();
      const list = JSON.parse(
        (await toInspector(inspectPort, "GET", "/api/requests/http")).text,
      );
      assert.equal(list.requests.length, 0);
    });

    await t.step(
      "a body over 1 MiB is captured truncated, and says so",
      async () => {
        const big = "x".repeat(1024 * 1024 + 5000);
        await through(
          port,
          `POST /big HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: ${big.length}\r\nConnection: close\r\n\r\n${big}`,
        );
        await new Promise((r) => setTimeout(r, 200));
        const r = JSON.parse(
          (await toInspector(inspectPort, "GET", "/api/requests/http")).text,
        ).requests[0];
        assert.equal(r.request.uri, "/big");
        assert.equal(r.groktunnel.request_body_size, big.length);
        assert.equal(r.groktunnel.request_truncated, true);
        assert.equal(atob(r.request.body).length, 1024 * 1024);
      },
    );
  } finally {
    await browser.close();
    await client.stop("SIGINT");
    await server.stop();
    await counting.shutdown();
    await app.shutdown();
  }
  // Chromium's profile folder is gone with it.
  await assert.rejects(Deno.stat(browser.profile), Deno.errors.NotFound);
});

Deno.test("request log: a WebSocket is one line open and one closed; --quiet and --no-inspect", async () => {
  const app = startBackend();
  const { server, port } = await startServerProc();
  const { client, url } = await startClientProc(app.addr.port, port, [
    "--no-inspect",
  ]);
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(encoder.encode(
      `GET /ws HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    assert.match(decoder.decode(buf.subarray(0, n!)), /^HTTP\/1\.1 101/);
    await client.waitFor("stderr", /GET \/ws {2}101 {2}websocket open/);
    conn.close();
    await client.waitFor(
      "stderr",
      /GET \/ws {2}websocket closed after \d+\.\d s/,
    );
    assert.doesNotMatch(client.stderr, /inspector/);
  } finally {
    await client.stop("SIGINT");
  }
  const quiet = await startClientProc(app.addr.port, port, [
    "--quiet",
    "--no-inspect",
  ]);
  try {
    assert.equal(
      (await rawRequest(port, quiet.url.host, "/hello")).status,
      200,
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.doesNotMatch(quiet.client.stderr, /GET \/hello/);
  } finally {
    await quiet.client.stop("SIGINT");
    await server.stop();
    await app.shutdown();
  }
  // --inspect must be loopback.
  const p = new Proc(["3000", "--inspect", "0.0.0.0:4040"]);
  assert.equal((await p.done).code, 2);
  assert.match(p.stderr, /--inspect takes a loopback address/);
  const r = new Proc(["3000", "--inspect-rate", "fast"]);
  assert.equal((await r.done).code, 2);
  assert.match(
    r.stderr,
    /--inspect-rate takes requests a second \(0: capture all\), not "fast"/,
  );
});

Deno.test("capture rate: past --inspect-rate requests go uncaptured, never changed; capture resumes on the same connection", async () => {
  // Each answer is its path repeated: byte-exact or not, at a glance.
  const app = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => new Response(new URL(req.url).pathname.repeat(50)),
  );
  const { server, port } = await startServerProc();
  const inspectPort = freePort();
  const { client, url } = await startClientProc(app.addr.port, port, [
    "--inspect",
    `127.0.0.1:${inspectPort}`,
    "--inspect-rate",
    "5",
  ]);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await client.waitFor("stderr", /inspector http/);
    // One keep-alive connection; each answer read whole before the next.
    let pending = new Uint8Array(0);
    const ask = async (path: string): Promise<string> => {
      await conn.write(
        encoder.encode(`GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`),
      );
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const text = decoder.decode(pending);
        const end = text.indexOf("\r\n\r\n");
        const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? -1);
        if (end >= 0 && length >= 0 && pending.length >= end + 4 + length) {
          const body = text.slice(end + 4, end + 4 + length);
          pending = pending.slice(end + 4 + length);
          assert.match(text, /^HTTP\/1\.1 200 /);
          return body;
        }
        const n = await within(10_000, conn.read(buf), "answer");
        assert.ok(n, "the connection stays open");
        const more = new Uint8Array(pending.length + n);
        more.set(pending);
        more.set(buf.subarray(0, n), pending.length);
        pending = more;
      }
    };
    const list = async () =>
      JSON.parse(
        (await toInspector(inspectPort, "GET", "/api/requests/http")).text,
      );
    const t0 = performance.now();
    for (let i = 0; i < 30; i++) {
      assert.equal(await ask(`/flood-${i}`), `/flood-${i}`.repeat(50));
    }
    const seconds = (performance.now() - t0) / 1000;
    const flood = await list();
    const captured = flood.requests.length;
    // Every request is accounted for: captured, or counted as not.
    assert.equal(captured + flood.not_captured, 30);
    // The budget (5) at once, plus what refilled (5/s) while they ran.
    assert.ok(captured >= 5, `captured ${captured}`);
    assert.ok(
      captured <= 5 + Math.ceil(seconds * 5) + 1,
      `captured ${captured} in ${seconds.toFixed(2)} s`,
    );
    for (const r of flood.requests) {
      const path = r.request.uri as string;
      assert.match(path, /^\/flood-\d+$/);
      assert.equal(atob(r.response.body), path.repeat(50));
    }
    // Two seconds later the budget is back: the same connection is captured
    // again, each answer framed from its first byte.
    await new Promise((r) => setTimeout(r, 2000));
    for (let i = 0; i < 3; i++) {
      assert.equal(await ask(`/after-${i}`), `/after-${i}`.repeat(50));
    }
    const after = await list();
    assert.deepEqual(
      after.requests.slice(0, 3).map((r: { request: { uri: string } }) =>
        r.request.uri
      ),
      ["/after-2", "/after-1", "/after-0"],
    );
    for (const r of after.requests.slice(0, 3)) {
      assert.equal(atob(r.response.body), r.request.uri.repeat(50));
      assert.equal(r.response.status_code, 200);
    }
    assert.equal(after.not_captured, flood.not_captured);
    await client.waitFor(
      "stderr",
      new RegExp(`… ${flood.not_captured} not captured \\(over 5 requests/s`),
    );
    // Clear starts over: no captures, none counted as not captured.
    const cleared = await toInspector(
      inspectPort,
      "DELETE",
      "/api/requests/http",
      "Content-Type: application/json\r\n",
    );
    assert.equal(cleared.status, 204);
    const empty = await list();
    assert.deepEqual([empty.requests.length, empty.not_captured], [0, 0]);
  } finally {
    conn.close();
    await client.stop("SIGINT");
    await server.stop();
    await app.shutdown();
  }
});
