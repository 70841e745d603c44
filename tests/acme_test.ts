/**
 * Automatic certificates against pebble (Let's Encrypt's ACME test server),
 * which checks each DNS-01 challenge by asking the server's own DNS. One
 * pebble, one state directory, one backend and one client are shared; the
 * server is restarted between steps on the same port, as an operator would.
 */

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { bytesBody, startBackend } from "./backend.ts";
import { HOST } from "./certs.ts";
import { startPebble } from "./pebble.ts";
import { decoder, encoder, sha256 } from "./helpers.ts";
import { freePort, Proc, ResponseReader } from "./process.ts";

/** The certificate a TLS client gets for `sni` at 127.0.0.1:port. */
async function served(port: number, sni: string): Promise<X509Certificate> {
  const out = await new Deno.Command("openssl", {
    args: [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-servername",
      sni,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/
    .exec(decoder.decode(out.stdout));
  assert.ok(pem, `no certificate from 127.0.0.1:${port}`);
  return new X509Certificate(pem[0]);
}

/** One https request on a new connection; the status and body. */
async function httpsGet(port: number, host: string, ca: string, path: string) {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  const tls = await Deno.startTls(tcp, { hostname: host, caCerts: [ca] });
  try {
    await tls.write(
      encoder.encode(
        `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`,
      ),
    );
    return await new ResponseReader(tls).next();
  } finally {
    try {
      tls.close();
    } catch { /* closed */ }
  }
}

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

Deno.test("acme: a certificate from pebble through our own DNS; renewal under load, restart, refusal", async (t) => {
  const dnsPort = freePort(), deadDnsPort = freePort(), port = freePort();
  const state = await Deno.makeTempDir({ prefix: "groktunnel-state-" });
  // No random pause before validating; one good nonce in five rejected as
  // bad (four times pebble's default: the badNonce retry is exercised on
  // every order); every order validated afresh (by default pebble reuses
  // half of the valid authorizations, and an order could skip the DNS).
  // Certificates for an hour: renewal is brought forward with
  // --acme-renew-before.
  const pebble = await startPebble(dnsPort, {
    PEBBLE_VA_NOSLEEP: "1",
    PEBBLE_WFE_NONCEREJECT: "20",
    PEBBLE_AUTHZREUSE: "0",
  }, 3600);
  const pebbleTls = pebble.tls;
  const backend = startBackend();
  let server: Proc | undefined;
  let client: Proc | undefined;
  try {
    const root = pebble.root;
    const rootFile = `${state}-root.pem`;
    await Deno.writeTextFile(rootFile, root);

    const startServer = (extra: string[]) =>
      new Proc(
        [
          ...pebble.serverArgs(HOST, port, state),
          "--acme-email",
          "ops@example.com",
          ...extra,
        ],
        {},
        [`--allow-read=${state},${pebbleTls.dir}`, `--allow-write=${state}`],
      );
    const stored = () =>
      new X509Certificate(Deno.readTextFileSync(`${state}/cert.pem`));
    let name = "";

    await t.step(
      "first start: a certificate for the host and its wildcard",
      async () => {
        const started = Date.now();
        server = startServer([
          "--dns-port",
          String(dnsPort),
          // Due 8 s after issue: the next step sees a renewal.
          "--acme-renew-before",
          "3592",
        ]);
        await server.waitFor("stderr", /listening on 127\.0\.0\.1:/, 60_000);
        const took = Date.now() - started;
        const issued = await server.waitFor(
          "stderr",
          /certificate issued in ([0-9.]+) s/,
        );
        console.log(
          `first certificate: ${
            issued[1]
          } s of ACME, ${took} ms from spawn to listening`,
        );
        const cert = stored();
        assert.equal(
          cert.subjectAltName,
          `DNS:${HOST}, DNS:*.${HOST}`,
        );
        assert.match(cert.issuer, /Pebble/);
        assert.match(server.stderr, /tunnel\.localhost validated/);
        assert.match(server.stderr, /\*\.tunnel\.localhost validated/);
        for (const sni of [HOST, `anything.${HOST}`]) {
          assert.equal(
            (await served(port, sni)).fingerprint256,
            cert.fingerprint256,
          );
        }
        // A tunnel through it, verified against pebble's root.
        client = new Proc(
          [
            String(backend.addr.port),
            "--server",
            `https://${HOST}:${port}`,
            "--ca",
            rootFile,
            "--quiet",
            "--no-inspect",
          ],
          {},
          [`--allow-read=${rootFile}`],
        );
        const url = new URL(
          (await client.waitFor("stdout", /^(https:\/\/\S+)$/m))[1]!,
        );
        name = url.hostname;
        const r = await httpsGet(port, name, root, "/bytes/200000");
        assert.equal(r.status, 200);
        assert.equal(sha256(r.body), sha256(bytesBody(200000)));
        // And curl, trusting only pebble's root.
        const curl = await new Deno.Command("curl", {
          args: [
            "-sS",
            "--fail",
            "--cacert",
            rootFile,
            "--resolve",
            `${name}:${port}:127.0.0.1`,
            `https://${name}:${port}/bytes/300000`,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.ok(curl.success, decoder.decode(curl.stderr));
        assert.equal(sha256(curl.stdout), sha256(bytesBody(300000)));
      },
    );

    await t.step(
      "renewal: the new certificate is served with no failed request",
      async () => {
        const before = stored().fingerprint256;
        const deadline = Date.now() + 40_000;
        let ok = 0, failed = 0, afterRenewal = 0;
        const errors: string[] = [];
        let renewedAt = 0;
        const worker = async () => {
          while (Date.now() < deadline) {
            if (renewedAt && Date.now() > renewedAt + 1500) return;
            try {
              const r = await httpsGet(port, name, root, "/hello");
              if (r.status === 200 && decoder.decode(r.body) === "hello ") {
                ok++;
                if (renewedAt) afterRenewal++;
              } else {
                failed++;
                errors.push(`status ${r.status}`);
              }
            } catch (err) {
              failed++;
              errors.push((err as Error).message);
            }
          }
        };
        const watch = (async () => {
          await server!.waitFor(
            "stderr",
            /certificate issued[\s\S]*certificate issued/,
            40_000,
          );
          renewedAt = Date.now();
        })();
        await Promise.all([worker(), worker(), worker(), worker(), watch]);
        assert.equal(failed, 0, errors.slice(0, 5).join("; "));
        assert.ok(ok > 20, `only ${ok} requests`);
        assert.ok(afterRenewal > 0, "no request after the renewal");
        const after = stored().fingerprint256;
        assert.notEqual(after, before);
        assert.equal((await served(port, name)).fingerprint256, after);
      },
    );

    await t.step(
      "restart: the stored account and certificate, no new order",
      async () => {
        await server!.stop();
        const kept = stored().fingerprint256;
        const accounts = [...Deno.readDirSync(state)].filter((e) =>
          e.name.startsWith("account-")
        );
        assert.equal(accounts.length, 1);
        server = startServer(["--dns-port", String(dnsPort)]);
        await server.waitFor("stderr", /listening on 127\.0\.0\.1:/);
        assert.match(server.stderr, /using the stored certificate/);
        assert.doesNotMatch(server.stderr, /ordering|acme: account/);
        assert.equal((await served(port, name)).fingerprint256, kept);
        // The client came back to the restarted server under its name.
        await client!.waitFor("stderr", /reconnected|forwarding/);
        for (let i = 0;; i++) {
          const r = await httpsGet(port, name, root, "/hello");
          if (r.status === 200) break;
          assert.ok(i < 100, `no tunnel after the restart: ${r.status}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
    );

    await t.step(
      "refusal: the CA cannot see the challenge; the old certificate keeps serving, retried",
      async () => {
        await server!.stop();
        const cert = stored();
        const kept = cert.fingerprint256;
        // Due 1 s after issue (it is older than that now): renewal at start.
        const lifetime =
          (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 1000;
        // Pebble asks dnsPort; this server answers on another: every
        // challenge fails, as with a wrong NS record.
        server = startServer([
          "--dns-port",
          String(deadDnsPort),
          "--acme-renew-before",
          String(lifetime - 1),
          "--acme-retry",
          "1",
        ]);
        await server.waitFor("stderr", /listening on 127\.0\.0\.1:/);
        await server.waitFor(
          "stderr",
          /the order failed[^\n]*retrying in 1 s; the current certificate keeps serving/,
          30_000,
        );
        await server.waitFor(
          "stderr",
          /the order failed[^\n]*retrying in 2 s/,
          30_000,
        );
        console.log(
          "a failed order in the log:\n" +
            server.stderr.split("\n").filter((l) => /order failed/.test(l))[0],
        );
        assert.equal(count(server.stderr, /certificate issued/g), 0);
        assert.equal(stored().fingerprint256, kept);
        assert.equal((await served(port, name)).fingerprint256, kept);
        for (let i = 0;; i++) {
          const r = await httpsGet(port, name, root, "/hello");
          if (r.status === 200) break;
          assert.ok(i < 100, `no tunnel after the restart: ${r.status}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
    );
  } finally {
    await client?.stop();
    await server?.stop();
    await pebble.stop();
    await backend.shutdown();
    await Deno.remove(state, { recursive: true });
    await Deno.remove(`${state}-root.pem`).catch(() => {});
  }
});
