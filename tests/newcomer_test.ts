/**
 * What a newcomer meets: names across restarts, command-line input, the
 * library's failure modes, pages, the demo. Real processes of main.ts.
 */

import assert from "node:assert/strict";
import { startBackend } from "./backend.ts";
import { within } from "./helpers.ts";
import {
  freePort,
  Proc,
  rawRequest,
  startClientProc,
  startServerProc,
} from "./process.ts";
import { connect } from "../lib/client/client.ts";
import { DialError } from "../lib/client/dial.ts";
import { formatSize } from "../lib/inspector/mod.ts";

/** Runs main.ts to its exit; returns the code and output. */
async function runToExit(args: string[], ms = 15_000) {
  const p = new Proc(args);
  const status = await within(ms, p.done, `main.ts ${args.join(" ")}`);
  return { code: status.code, stdout: p.stdout, stderr: p.stderr };
}

Deno.test("names across restarts", async (t) => {
  const backend = startBackend();
  const { server, port } = await startServerProc(0, ["--name-hold", "2"]);
  try {
    await t.step(
      "Ctrl-C frees the name at once and prints nothing alarming; the same command gets it again",
      async () => {
        const args = ["--subdomain", "keepme"];
        const first = await startClientProc(backend.addr.port, port, args);
        assert.equal(first.url.hostname, "keepme.localhost");
        const status = await first.client.stop("SIGINT");
        assert.equal(status.code, 0);
        assert.doesNotMatch(first.client.stderr, /lost the server|error/i);
        await server.waitFor("stderr", /name keepme released by its client/);
        // The URL answers 404 (no tunnel), and the name is free now.
        assert.equal((await rawRequest(port, "keepme.localhost")).status, 404);
        const again = await startClientProc(backend.addr.port, port, args);
        assert.equal(again.url.hostname, "keepme.localhost");
        const r = await rawRequest(port, again.url.host, "/hello");
        assert.equal(r.status, 200);
        await again.client.stop("SIGINT");
      },
    );

    await t.step(
      "a vanished client's name is held, the refusal says for how long, and --name-hold ends it",
      async () => {
        const args = ["--subdomain", "crashy"];
        const first = await startClientProc(backend.addr.port, port, args);
        await first.client.stop("SIGKILL");
        await server.waitFor("stderr", /tunnel crashy\.localhost:\d+ ended/);
        const second = new Proc([
          String(backend.addr.port),
          "-p",
          String(port),
          ...args,
        ]);
        assert.equal((await within(10_000, second.done, "exit")).code, 1);
        assert.match(
          second.stderr,
          /409 The name "crashy" is held for its previous client for 1 more minute; that client can reclaim it/,
        );
        // --name-hold 2: two seconds later it is anyone's.
        await new Promise((r) => setTimeout(r, 2200));
        const third = await startClientProc(backend.addr.port, port, args);
        assert.equal(third.url.hostname, "crashy.localhost");
        await third.client.stop("SIGINT");
      },
    );
  } finally {
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("command-line input: clear answers, no silent mistakes", async (t) => {
  await t.step("-h alone prints the help", async () => {
    const r = await runToExit(["-h"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^groktunnel .*: put a localhost HTTP server/);
    assert.match(
      r.stdout,
      /deno install -g --allow-net --allow-env --v8-flags=--max-semi-space-size=2 -n groktunnel main\.ts/,
    );
  });

  await t.step(
    "an unknown flag gets our own one-liner and the usage",
    async () => {
      const r = await runToExit(["-x"]);
      assert.equal(r.code, 2);
      const [first] = r.stderr.split("\n");
      assert.equal(first, "groktunnel: Unknown option: -x");
    },
  );

  await t.step(
    "a negative number is named as the flag's wrong value, not a missing one",
    async () => {
      for (
        const [args, line] of [
          [
            ["3000", "-p", "-1"],
            '--port must be a port number (1-65535), not "-1"',
          ],
          [
            ["3000", "--inspect-rate", "-5"],
            '--inspect-rate takes requests a second (0: capture all), not "-5"',
          ],
          [
            ["tcp", "22", "--remote-port", "-3"],
            '--remote-port must be a port number (1-65535), not "-3"',
          ],
          [
            ["--name-hold", "-1"],
            '--name-hold must be a number of seconds, not "-1"',
          ],
          [
            ["--shutdown-grace", "-2"],
            '--shutdown-grace must be a positive number of seconds, not "-2"',
          ],
        ] as const
      ) {
        const r = await runToExit([...args]);
        assert.equal(r.code, 2, args.join(" "));
        assert.equal(
          r.stderr,
          `groktunnel: ${line}\nRun groktunnel --help for the options.\n`,
        );
      }
    },
  );

  await t.step("--insecure with --ca is refused in one line", async () => {
    const r = await runToExit(["3000", "--ca", "ca.pem", "--insecure"]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr.split("\n")[0],
      "groktunnel: --insecure checks no certificate, so --ca would go unused: give one of them",
    );
  });

  await t.step(
    "every missing file permission is named at once",
    async () => {
      const r = await runToExit([
        "--acme",
        "--public-ip",
        "203.0.113.7",
        "-h",
        "tunnel.example.com",
        "--state-dir",
        "/nonexistent/state",
        "--acme-ca",
        "/nonexistent/ca.pem",
      ]);
      assert.equal(r.code, 2);
      assert.equal(
        r.stderr.split("\n")[0],
        'groktunnel: --acme-ca and --state-dir need read and write access to "/nonexistent/ca.pem" and "/nonexistent/state": add --allow-read=/nonexistent/ca.pem,/nonexistent/state --allow-write=/nonexistent/state',
      );
    },
  );

  await t.step("a server host with a scheme is refused", async () => {
    const r = await runToExit(["-h", "http://x.com"]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^groktunnel: --host must be a host name such as tunnel\.example\.com, not "http:\/\/x\.com" \(no scheme or port here\)/,
    );
  });

  await t.step("HTTP-only options on a TCP tunnel are refused", async () => {
    for (
      const flags of [
        ["--basic-auth", "a:b"],
        ["--forwarded-headers", "off"],
        ["--host-header", "rewrite"],
        ["--inspect", "127.0.0.1:4040"],
        ["--inspect-rate", "5"],
      ]
    ) {
      const r = await runToExit(["tcp", "22", ...flags]);
      assert.equal(r.code, 2, flags.join(" "));
      assert.equal(
        r.stderr.split("\n")[0],
        `groktunnel: ${
          flags[0]
        } is for HTTP tunnels: a TCP tunnel passes bytes it does not read`,
      );
    }
  });

  await t.step("flags of the other mode are refused", async () => {
    const client = await runToExit(["3000", "--bind", "0.0.0.0"]);
    assert.equal(client.code, 2);
    assert.match(client.stderr, /--bind is a server option/);
    const server = await runToExit(["--subdomain", "foo"]);
    assert.equal(server.code, 2);
    assert.match(server.stderr, /--subdomain is a client option/);
  });

  await t.step(
    "a name that does not resolve ends the client at once",
    async () => {
      const started = Date.now();
      const r = await runToExit([
        "3000",
        "--server",
        "http://nonexistent.invalid",
      ]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Cannot resolve "nonexistent\.invalid"/);
      assert.doesNotMatch(r.stderr, /reconnecting/);
      assert.ok(Date.now() - started < 12_000);
    },
  );

  await t.step(
    "nobody listening on the first attempt ends the client",
    async () => {
      const port = freePort();
      const r = await runToExit(["3000", "-p", String(port)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`Cannot reach localhost:${port}`));
      assert.doesNotMatch(r.stderr, /reconnecting/);
    },
  );

  const backend = startBackend();
  const { server, port } = await startServerProc();
  try {
    for (
      const form of [
        ["-h", `http://localhost:${port}`],
        ["-h", `localhost:${port}`],
        ["--server", `localhost:${port}`],
      ]
    ) {
      await t.step(`the server given as ${form.join(" ")} works`, async () => {
        const c = new Proc([String(backend.addr.port), ...form]);
        const url = new URL(
          (await c.waitFor("stdout", /^(http:\/\/\S+)$/m))[1]!,
        );
        assert.equal(url.port, String(port));
        assert.equal((await rawRequest(port, url.host, "/hello")).status, 200);
        await c.stop("SIGINT");
      });
    }

    await t.step(
      "an app listening only on [::1] is reached, and named with brackets",
      async () => {
        const v6 = Deno.serve(
          { hostname: "::1", port: 0, onListen() {} },
          () => new Response("from ipv6"),
        );
        try {
          const { client, url } = await startClientProc(v6.addr.port, port);
          await client.waitFor(
            "stderr",
            new RegExp(`→ http://localhost:${v6.addr.port}`),
          );
          for (let i = 0; i < 2; i++) {
            const r = await rawRequest(port, url.host, "/");
            assert.equal(r.status, 200);
            assert.equal(r.text, "from ipv6");
          }
          // Said once, with brackets.
          const said = client.stderr.match(
            new RegExp(
              `answers on http://\\[::1\\]:${v6.addr.port}, not 127\\.0\\.0\\.1:${v6.addr.port}: using that`,
              "g",
            ),
          );
          assert.equal(said?.length, 1);
          await client.stop("SIGINT");
        } finally {
          await v6.shutdown();
        }
      },
    );

    await t.step(
      "pages fit a phone; the info page has a real title",
      async () => {
        const info = await rawRequest(
          port,
          `localhost:${port}`,
          "/",
          "User-Agent: Mozilla/5.0\r\n",
        );
        assert.equal(info.status, 200);
        assert.match(
          info.text,
          /<meta name="viewport" content="width=device-width/,
        );
        assert.match(
          info.text,
          /<title>groktunnel server on localhost<\/title>/,
        );
        assert.match(
          info.text,
          new RegExp(
            `<code>groktunnel 3000 --server http://localhost:${port}</code>`,
          ),
        );
        const missing = await rawRequest(port, "nobody.localhost", "/");
        assert.equal(missing.status, 404);
        assert.match(missing.text, /<meta name="viewport"/);
      },
    );
  } finally {
    await server.stop();
    await backend.shutdown();
  }
});

Deno.test("library: connect() fails with the real cause, and honours a signal", async (t) => {
  await t.step(
    "reconnect: false to a closed port rejects with the cause",
    async () => {
      const port = freePort();
      const err = await within(
        5000,
        connect({ port: 3000, serverPort: port, reconnect: false }).then(
          () => undefined,
          (e) => e,
        ),
        "connect",
      );
      assert.ok(err instanceof DialError, String(err));
      assert.ok(err.cause instanceof Deno.errors.ConnectionRefused);
    },
  );

  await t.step(
    "an aborted signal stops a connect that would hang",
    async () => {
      // A listener that accepts and never answers: the handshake would wait.
      const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const held: Deno.Conn[] = [];
      const accepting = (async () => {
        for await (const c of silent) held.push(c);
      })();
      const ac = new AbortController();
      const started = Date.now();
      const pending = connect({
        port: 3000,
        serverPort: silent.addr.port,
        signal: ac.signal,
      });
      setTimeout(() => ac.abort(), 200);
      await assert.rejects(within(5000, pending, "aborted connect"));
      assert.ok(Date.now() - started < 3000);
      silent.close();
      for (const c of held) c.close();
      await accepting;
    },
  );

  await t.step(
    "connectTimeout bounds a server that never answers",
    async () => {
      const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const held: Deno.Conn[] = [];
      const accepting = (async () => {
        for await (const c of silent) held.push(c);
      })();
      const started = Date.now();
      const err = await within(
        5000,
        connect({
          port: 3000,
          serverPort: silent.addr.port,
          connectTimeout: 300,
        })
          .then(() => undefined, (e) => e),
        "connect",
      );
      assert.match(String(err), /No answer from the server within 300 ms/);
      assert.ok(Date.now() - started < 3000);
      silent.close();
      for (const c of held) c.close();
      await accepting;
    },
  );
});

Deno.test("the demo says so when port 9999 is taken", async () => {
  let blocker: Deno.Listener | undefined;
  try {
    blocker = Deno.listen({ hostname: "127.0.0.1", port: 9999 });
  } catch { /* already taken by someone else: just as good */ }
  const demo = new Proc(["demo"]);
  try {
    await demo.waitFor("stdout", /port 9999 is taken .* uses (\d+)/);
    const m = await demo.waitFor(
      "stdout",
      /GET (http:\/\/\S+)\/ → 200 "Hello from/,
    );
    assert.match(m[1]!, /^http:\/\/[a-z0-9]{10}\.localhost:\d+$/);
  } finally {
    await demo.stop("SIGINT");
    blocker?.close();
  }
});

Deno.test("what a newcomer reads: the server's page, and no inspector line before the tunnel is up", async (t) => {
  const { server, port } = await startServerProc(0, ["--token", "right"]);
  try {
    await t.step(
      "the bare host's page says how to get the command today",
      async () => {
        const r = await rawRequest(port, "localhost", "/");
        assert.equal(r.status, 200);
        assert.ok(
          r.text.includes(
            "To get the groktunnel command, in a clone of its repository: deno install -g --allow-net --allow-env --v8-flags=--max-semi-space-size=2 -n groktunnel main.ts",
          ),
        );
        assert.ok(!r.text.includes("jsr:"));
      },
    );
    await t.step(
      "a client that is refused never printed the inspector's address",
      async () => {
        const r = await runToExit(["3000", "-p", String(port)]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /401 This server requires a token/);
        assert.doesNotMatch(r.stderr, /inspector/);
      },
    );
  } finally {
    await server.stop();
  }
});

Deno.test("sizes in the log are KiB and MiB", () => {
  assert.equal(formatSize(512), "512 B");
  assert.equal(formatSize(1536), "1.5 KiB");
  assert.equal(formatSize(3 * 1024 * 1024), "3.0 MiB");
});
