/**
 * HTTPS: a server ending TLS with a certificate the test makes, a client
 * verifying it, and real TLS clients (curl, Deno's TLS) as visitors. One
 * server and one client are shared by the steps of the main test.
 */

import assert from "node:assert/strict";
import { startBackend } from "./backend.ts";
import { HOST, leaf, makeCerts, type TestCerts } from "./certs.ts";
import {
  decoder,
  encoder,
  pump,
  readHashedBody,
  readHead,
  sha256,
  within,
} from "./helpers.ts";
import { bytesBody } from "./backend.ts";
import { Proc, ResponseReader, startServerProc } from "./process.ts";
import { Session } from "../lib/wire/mux/session.ts";
import { PeekedConn } from "../lib/net/peek.ts";

const MiB = 1024 * 1024;

/** A TLS connection to 127.0.0.1:port asking for `sni`, trusting `cas`. */
async function tlsConnect(
  port: number,
  sni: string,
  cas: string[],
): Promise<Deno.TlsConn> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  const tls = await Deno.startTls(tcp, { hostname: sni, caCerts: cas });
  await tls.handshake();
  return tls;
}

/** One https request; `host` defaults to the SNI. */
async function httpsGet(
  port: number,
  sni: string,
  cas: string[],
  path = "/",
  host = sni,
) {
  const conn = await tlsConnect(port, sni, cas);
  try {
    await conn.write(
      encoder.encode(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const r = await new ResponseReader(conn).next();
    return { ...r, text: decoder.decode(r.body) };
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

async function startTlsServer(
  certs: TestCerts,
  cert: string,
  key: string,
  extra: string[] = [],
): Promise<{ server: Proc; port: number; httpPort: number | undefined }> {
  const server = new Proc(
    [
      "server",
      "-p",
      "0",
      "-h",
      HOST,
      "--tls-cert",
      cert,
      "--tls-key",
      key,
      ...extra,
    ],
    {},
    [`--allow-read=${certs.dir}`],
  );
  const m = await server.waitFor(
    "stderr",
    /listening on 127\.0\.0\.1:([0-9]+) \(https\)/,
  );
  const h = extra.includes("--http-port")
    ? await server.waitFor("stderr", /plain http on 127\.0\.0\.1:([0-9]+)/)
    : undefined;
  return { server, port: Number(m[1]), httpPort: h ? Number(h[1]) : undefined };
}

Deno.test("https: TLS ended at the server, verified by the client", async (t) => {
  const certs = await makeCerts();
  const served = {
    cert: `${certs.dir}/served.crt`,
    key: `${certs.dir}/served.key`,
  };
  await Deno.copyFile(certs.cert1, served.cert);
  await Deno.copyFile(certs.key1, served.key);
  const backend = startBackend();
  const { server, port, httpPort } = await startTlsServer(
    certs,
    served.cert,
    served.key,
    ["--http-port", "0", "--cert-reload-interval", "0.2"],
  );
  const client = new Proc(
    [
      String(backend.addr.port),
      "--server",
      `https://${HOST}:${port}`,
      "--ca",
      certs.ca1File,
    ],
    {},
    [`--allow-read=${certs.dir}`],
  );
  try {
    const url = new URL(
      (await client.waitFor("stdout", /^(https:\/\/\S+)$/m))[1]!,
    );
    const name = url.hostname;

    await t.step(
      "the start-up hint for clients names --ca and its --allow-read",
      () => {
        assert.match(
          server.stderr,
          new RegExp(
            `clients run: deno run --allow-net --allow-env main\\.ts <port> --server https://${HOST}:${port}\n` +
              `  \\(with a CA of your own: deno run --allow-net --allow-env --allow-read=ca\\.pem main\\.ts <port> --server https://${HOST}:${port} --ca ca\\.pem\\)`,
          ),
        );
      },
    );

    await t.step(
      "a client given http:// for the TLS port is told to use https",
      async () => {
        const p = new Proc(["3000", "--server", `http://${HOST}:${port}`]);
        assert.equal((await within(15_000, p.done, "exit")).code, 1);
        assert.match(
          p.stderr,
          new RegExp(
            `The server closed the connection during the handshake\\. If the server ends TLS on this port, use --server https://${HOST}:${port}`,
          ),
        );
      },
    );

    await t.step("the client prints an https URL on the server's port", () => {
      assert.match(name, /^[a-z0-9]{10}\.tunnel\.localhost$/);
      assert.equal(url.port, String(port));
      assert.equal(client.stdout, `${url.origin}\n`);
    });

    await t.step(
      "curl --cacert verifies the certificate for <name>.<host> and for the bare host",
      async () => {
        const curl = async (u: string, host: string) => {
          const out = await new Deno.Command("curl", {
            args: [
              "-sS",
              "--cacert",
              certs.ca1File,
              "--resolve",
              `${host}:${port}:127.0.0.1`,
              "-w",
              "\n%{http_code}",
              u,
            ],
            stdout: "piped",
            stderr: "piped",
          }).output();
          assert.ok(out.success, decoder.decode(out.stderr));
          return decoder.decode(out.stdout);
        };
        assert.equal(
          await curl(`https://${name}:${port}/hello?x=1`, name),
          "hello ?x=1\n200",
        );
        const info = await curl(`https://${HOST}:${port}/`, HOST);
        assert.match(
          info,
          /<title>groktunnel server on tunnel\.localhost<\/title>/,
        );
        assert.match(info, /--server https:\/\/tunnel\.localhost:\d+/);
        assert.match(info, /\n200$/);
      },
    );

    await t.step(
      "Deno's TLS client verifies it too, and refuses it under another CA",
      async () => {
        const r = await httpsGet(port, name, [certs.ca1], "/hello?y=2");
        assert.equal(r.status, 200);
        assert.equal(r.text, "hello ?y=2");
        await assert.rejects(
          () => tlsConnect(port, name, [certs.ca2]),
          /UnknownIssuer|certificate/i,
        );
      },
    );

    await t.step(
      "64 MiB down and up through https, SHA-256 equal",
      async () => {
        const conn2 = await tlsConnect(port, name, [certs.ca1]);
        const head = encoder.encode(
          `GET /bytes/${
            64 * MiB
          } HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`,
        );
        await conn2.write(head);
        const got = await readHashedBody(conn2, 64 * MiB);
        assert.match(got.head, /^HTTP\/1\.1 200/);
        assert.equal(got.length, 64 * MiB);
        assert.equal(got.sha256, sha256(bytesBody(64 * MiB)));

        const up = await tlsConnect(port, name, [certs.ca1]);
        await up.write(
          encoder.encode(
            `POST /upload HTTP/1.1\r\nHost: ${name}\r\nContent-Length: ${
              64 * MiB
            }\r\nConnection: close\r\n\r\n`,
          ),
        );
        const sent = await pump(up, 64 * MiB, 9);
        const r = await new ResponseReader(up).next();
        up.close();
        assert.equal(r.status, 200);
        const answer = JSON.parse(decoder.decode(r.body));
        assert.equal(answer.length, 64 * MiB);
        assert.equal(answer.sha256, sent);
      },
    );

    await t.step("a WebSocket upgrade works through https", async () => {
      const conn = await tlsConnect(port, name, [certs.ca1]);
      await conn.write(
        encoder.encode(
          `GET /ws HTTP/1.1\r\nHost: ${name}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
      const buf = new Uint8Array(4096);
      let text = "";
      while (!text.includes("\r\n\r\n")) {
        const n = await within(5000, conn.read(buf), "101");
        assert.ok(n);
        text += decoder.decode(buf.subarray(0, n!));
      }
      assert.match(text, /^HTTP\/1\.1 101/);
      assert.match(
        text,
        /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i,
      );
      // A masked text frame "ping"; the backend echoes it unmasked.
      const mask = [1, 2, 3, 4];
      const payload = encoder.encode("ping");
      const frame = new Uint8Array([
        0x81,
        0x80 | payload.length,
        ...mask,
        ...payload.map((b, i) => b ^ mask[i % 4]!),
      ]);
      await conn.write(frame);
      const n = await within(5000, conn.read(buf), "echo");
      assert.deepEqual([...buf.subarray(0, n!)], [0x81, 4, ...payload]);
      conn.close();
    });

    await t.step(
      "SNI for one tunnel and Host for another gets 421",
      async () => {
        const r = await httpsGet(port, name, [certs.ca1], "/", `other.${HOST}`);
        assert.equal(r.status, 421);
        assert.match(
          r.text,
          /opened for [a-z0-9]+\.tunnel\.localhost, not other\.tunnel\.localhost/,
        );
      },
    );

    await t.step("the plain port redirects to https with 308", async () => {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: httpPort!,
      });
      await conn.write(
        encoder.encode(
          `GET /a/b?c=d HTTP/1.1\r\nHost: ${name}:${httpPort}\r\nConnection: close\r\n\r\n`,
        ),
      );
      const r = await new ResponseReader(conn).next();
      conn.close();
      assert.equal(r.status, 308);
      assert.equal(
        r.headers.get("location"),
        `https://${name}:${port}/a/b?c=d`,
      );
    });

    await t.step(
      "an original-style client handshakes on the plain port and is served over https",
      async () => {
        const conn = await Deno.connect({
          hostname: "127.0.0.1",
          port: httpPort!,
        });
        await conn.write(
          encoder.encode(
            `GET / HTTP/1.1\r\nHost: ${HOST}:${httpPort}\r\nUser-Agent: Go-http-client/1.1\r\n\r\n`,
          ),
        );
        const { head, rest } = await readHead(conn, 5000);
        const publicHost = /X-Public-Host: (\S+)/.exec(head)![1]!;
        assert.match(
          publicHost,
          new RegExp(`^[a-z0-9]{10}\\.tunnel\\.localhost:${port}$`),
        );
        const session = new Session(
          new PeekedConn(conn, rest),
          {
            window: 2 * MiB,
            maxPacket: 32 * 1024,
          },
        );
        const serving = (async () => {
          for await (const ch of session) {
            const req = new Uint8Array(8192);
            await ch.read(req);
            await ch.write(
              encoder.encode(
                "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nold ok",
              ),
            );
            ch.close();
          }
        })();
        const host = publicHost.split(":")[0]!;
        const r = await httpsGet(port, host, [certs.ca1], "/compat");
        assert.equal(r.status, 200);
        assert.equal(r.text, "old ok");
        session.close();
        await serving;
      },
    );

    await t.step(
      "new certificate files are served to new handshakes with zero failed requests under load",
      async () => {
        let ok = 0, failed = 0;
        const errors: string[] = [];
        let running = true;
        const worker = async () => {
          while (running) {
            try {
              const r = await httpsGet(
                port,
                name,
                [certs.ca1, certs.ca2],
                "/hello",
              );
              if (r.status === 200 && r.text === "hello ") ok++;
              else {
                failed++;
                errors.push(`status ${r.status}`);
              }
            } catch (err) {
              failed++;
              errors.push((err as Error).message);
            }
          }
        };
        const workers = Array.from({ length: 8 }, worker);
        await new Promise((r) => setTimeout(r, 500));
        const before = ok;
        // Replace the pair the way certbot and friends do: write, then rename.
        await Deno.copyFile(certs.key2, `${served.key}.new`);
        await Deno.copyFile(certs.cert2, `${served.cert}.new`);
        await Deno.rename(`${served.key}.new`, served.key);
        await Deno.rename(`${served.cert}.new`, served.cert);
        const until = Date.now() + 10_000;
        let switched = false;
        while (!switched && Date.now() < until) {
          switched = await httpsGet(port, name, [certs.ca2], "/hello").then(
            (r) => r.status === 200,
            () => false,
          );
          if (!switched) await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 500));
        running = false;
        await Promise.all(workers);
        assert.ok(switched, "the new certificate was never served");
        assert.deepEqual(errors.slice(0, 5), []);
        assert.equal(failed, 0);
        assert.ok(
          ok - before > 20,
          `only ${ok - before} requests during the reload`,
        );
        // New handshakes no longer get the old one.
        await assert.rejects(() => tlsConnect(port, name, [certs.ca1]));
        await server.waitFor("stderr", /certificate reloaded: now serving/);
      },
    );

    await t.step(
      "a bad file at a reload (SIGHUP) is logged and the current certificate keeps serving",
      async () => {
        await Deno.writeTextFile(served.cert, "not a certificate\n");
        server.child.kill("SIGHUP");
        await server.waitFor(
          "stderr",
          /certificate reload failed, still serving .*Cannot parse the certificate/,
        );
        const r = await httpsGet(port, name, [certs.ca2], "/hello?still");
        assert.equal(r.status, 200);
        assert.equal(r.text, "hello ?still");
      },
    );
  } finally {
    await client.stop("SIGINT");
    await server.stop();
    await backend.shutdown();
    await Deno.remove(certs.dir, { recursive: true });
  }
  // A clean Ctrl-C says nothing alarming.
  assert.doesNotMatch(client.stderr, /lost the server/);
});

Deno.test("https: what the server and client refuse", async (t) => {
  const certs = await makeCerts();
  try {
    await t.step(
      "an expired certificate at start: one line, exit 1",
      async () => {
        const p = new Proc(
          [
            "server",
            "-p",
            "0",
            "-h",
            HOST,
            "--tls-cert",
            certs.expiredCert,
            "--tls-key",
            certs.expiredKey,
          ],
          {},
          [`--allow-read=${certs.dir}`],
        );
        const status = await within(15_000, p.done, "exit");
        assert.equal(status.code, 1);
        assert.match(
          p.stderr,
          /^groktunnel: The certificate in ".*expired\.crt" expired on .*\n$/,
        );
      },
    );

    await t.step("a key that is not the certificate's: exit 1", async () => {
      const p = new Proc(
        [
          "server",
          "-p",
          "0",
          "--tls-cert",
          certs.cert1,
          "--tls-key",
          certs.key2,
        ],
        {},
        [`--allow-read=${certs.dir}`],
      );
      assert.equal((await within(15_000, p.done, "exit")).code, 1);
      assert.match(p.stderr, /does not belong to the certificate/);
    });

    await t.step(
      "without read permission: one line names every file to allow",
      async () => {
        const p = new Proc([
          "server",
          "--tls-cert",
          certs.cert1,
          "--tls-key",
          certs.key1,
        ]);
        assert.equal((await within(15_000, p.done, "exit")).code, 2);
        assert.equal(
          p.stderr.split("\n")[0],
          `groktunnel: --tls-cert and --tls-key need read access to "${certs.cert1}" and "${certs.key1}": add --allow-read=${certs.cert1},${certs.key1}`,
        );
      },
    );

    const { server, port } = await startTlsServer(
      certs,
      certs.cert1,
      certs.key1,
    );
    try {
      await t.step(
        "the client refuses a server whose certificate does not verify, at once",
        async () => {
          const started = Date.now();
          const p = new Proc(["3000", "--server", `https://${HOST}:${port}`]);
          assert.equal((await within(15_000, p.done, "exit")).code, 1);
          assert.match(
            p.stderr,
            /TLS with tunnel\.localhost:\d+ failed: .*(UnknownIssuer|certificate)/i,
          );
          assert.match(
            p.stderr,
            /If the server's certificate comes from a CA of your own, give it with --ca <file> \(and --allow-read=<file>\), or use --insecure for a test/,
          );
          assert.doesNotMatch(p.stderr, /reconnecting/);
          assert.equal(p.stdout, "");
          assert.ok(Date.now() - started < 10_000);
        },
      );

      await t.step(
        "--insecure connects without verifying, and says so",
        async () => {
          const backend = startBackend();
          const p = new Proc([
            String(backend.addr.port),
            "--server",
            `https://${HOST}:${port}`,
            "--insecure",
          ]);
          const url = (await p.waitFor("stdout", /^(https:\/\/\S+)$/m))[1]!;
          assert.match(
            p.stderr,
            /--insecure: the server's certificate is NOT checked/,
          );
          const host = new URL(url).hostname;
          const r = await httpsGet(port, host, [certs.ca1], "/hello?insecure");
          assert.equal(r.text, "hello ?insecure");
          await p.stop("SIGINT");
          await backend.shutdown();
        },
      );
    } finally {
      await server.stop();
    }

    await t.step(
      "a client given https:// for a plain server is told to use http",
      async () => {
        const plain = await startServerProc(0);
        try {
          const p = new Proc([
            "3000",
            "--server",
            `https://localhost:${plain.port}`,
          ]);
          assert.equal((await within(15_000, p.done, "exit")).code, 1);
          assert.match(
            p.stderr,
            new RegExp(
              `This port does not end TLS \\(a plain server passes TLS through to tunnels only\\): use --server http://localhost:${plain.port}`,
            ),
          );
        } finally {
          await plain.server.stop();
        }
      },
    );

    await t.step(
      "a single-label host with only *.<host> in its certificate gets a warning that shows what works",
      async () => {
        await leaf(
          certs.dir,
          "wild",
          "ca1",
          "2",
          "DNS:localhost,DNS:*.localhost",
        );
        const p = new Proc(
          [
            "server",
            "-p",
            "0",
            "--tls-cert",
            `${certs.dir}/wild.crt`,
            "--tls-key",
            `${certs.dir}/wild.key`,
          ],
          {},
          [`--allow-read=${certs.dir}`],
        );
        try {
          await p.waitFor(
            "stderr",
            /warning: clients refuse \*\.localhost \(a wildcard right under a top-level name\): run with -h tunnel\.localhost and a certificate for tunnel\.localhost, \*\.tunnel\.localhost/,
          );
        } finally {
          await p.stop();
        }
      },
    );

    await t.step(
      "a token is never sent in the clear to a remote server",
      async () => {
        const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        let connected = false;
        listener.accept().then((c) => {
          connected = true;
          c.close();
        }, () => {});
        const p = new Proc([
          "3000",
          "--server",
          "http://tunnel.example.com",
          "--token",
          "s3cret",
        ]);
        assert.equal((await within(15_000, p.done, "exit")).code, 1);
        assert.match(
          p.stderr,
          /Refusing to send the token in the clear to tunnel\.example\.com: use https/,
        );
        listener.close();
        assert.equal(connected, false);
      },
    );
  } finally {
    await Deno.remove(certs.dir, { recursive: true });
  }
});

Deno.test("Deno.listenTls's SNI resolver caches each name's answer (why lib/tls uses node:tls)", async () => {
  const certs = await makeCerts();
  const pair = async (c: string, k: string) => ({
    cert: await Deno.readTextFile(c),
    key: await Deno.readTextFile(k),
  });
  const one = await pair(certs.cert1, certs.key1);
  const two = await pair(certs.cert2, certs.key2);
  let current = one;
  const listener = Deno.listenTls(
    {
      hostname: "127.0.0.1",
      port: 0,
      ...one,
      [Symbol.for("unstableSniResolver")]: () => current,
    } as Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem,
  );
  const serving = (async () => {
    for await (const c of listener) {
      c.handshake().catch(() => {}).finally(() => c.close());
    }
  })();
  try {
    (await tlsConnect(listener.addr.port, `a.${HOST}`, [certs.ca1])).close();
    current = two;
    // The same name still gets the first pair: a reload never reaches it.
    (await tlsConnect(listener.addr.port, `a.${HOST}`, [certs.ca1])).close();
    // A name not seen before gets the new one.
    (await tlsConnect(listener.addr.port, `b.${HOST}`, [certs.ca2])).close();
  } finally {
    listener.close();
    await serving;
    await Deno.remove(certs.dir, { recursive: true });
  }
});
