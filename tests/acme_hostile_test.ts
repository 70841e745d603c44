/**
 * ACME against a hostile CA of our own (an https server that answers what
 * no honest CA would): a directory that points at plain http, and a rate
 * limit whose Retry-After is centuries away. Neither is followed blindly.
 */

import assert from "node:assert/strict";
import { makeLocalhostCert } from "./certs.ts";
import { within } from "./helpers.ts";
import { CertificateManager } from "../lib/acme/manager.ts";
import { ACME_MAX_RETRY_AFTER, retryAfter } from "../lib/acme/client.ts";

/** An https "CA" whose directory is `dir(base)`; counts the requests by path. */
async function hostileCa(
  dir: (base: string) => Record<string, string>,
  answer: (path: string) => Response,
) {
  const tls = await makeLocalhostCert();
  const hits: string[] = [];
  let base = "";
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(tls.cert),
    key: await Deno.readTextFile(tls.key),
    onListen() {},
  }, (req): Response => {
    const path = new URL(req.url).pathname;
    hits.push(path);
    if (path === "/dir") return Response.json(dir(base));
    return answer(path);
  });
  base = `https://localhost:${server.addr.port}`;
  return {
    base,
    hits,
    ca: await Deno.readTextFile(tls.ca),
    close: async () => {
      await server.shutdown();
      await Deno.remove(tls.dir, { recursive: true });
    },
  };
}

async function manager(base: string, ca: string, log: string[]) {
  const stateDir = await Deno.makeTempDir({ prefix: "groktunnel-acme-" });
  const m = new CertificateManager({
    host: "tunnel.localhost",
    directory: `${base}/dir`,
    stateDir,
    dns: { setTxt() {} },
    caCerts: [ca],
    log: (line) => log.push(line),
  });
  const started = m.start().catch((err) => err);
  return { m, started, stateDir };
}

Deno.test("acme: a directory that points at plain http is not followed", async () => {
  const ca = await hostileCa((base) => ({
    newNonce: "http://127.0.0.1:9/nonce",
    newAccount: `${base}/account`,
    newOrder: `${base}/order`,
  }), () => new Response("no", { status: 500 }));
  const log: string[] = [];
  const { m, started, stateDir } = await manager(ca.base, ca.ca, log);
  try {
    const until = Date.now() + 5000;
    while (log.length < 2 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(log[0] ?? "", /^acme: ordering a certificate/);
    assert.match(
      log[1] ?? "",
      /^acme: the order failed: the ACME server gave a URL that is not https: "http:\/\/127\.0\.0\.1:9\/nonce"; retrying in 60 s/,
    );
    assert.deepEqual(ca.hits, ["/dir"]);
  } finally {
    m.stop();
    await within(5000, started, "the manager stops");
    await Deno.remove(stateDir, { recursive: true });
    await ca.close();
  }
});

Deno.test("acme: a Retry-After centuries away waits a day, not a tight loop", async () => {
  assert.equal(retryAfter("99999999999"), ACME_MAX_RETRY_AFTER);
  assert.equal(
    retryAfter("Fri, 01 Jan 2100 00:00:00 GMT"),
    ACME_MAX_RETRY_AFTER,
  );
  assert.equal(retryAfter("120"), 120_000);
  const ca = await hostileCa(
    (base) => ({
      newNonce: `${base}/nonce`,
      newAccount: `${base}/account`,
      newOrder: `${base}/order`,
    }),
    (path) =>
      path === "/nonce"
        ? new Response(null, { headers: { "replay-nonce": "n1" } })
        : Response.json({
          type: "urn:ietf:params:acme:error:rateLimited",
          detail: "slow down",
        }, {
          status: 429,
          headers: { "retry-after": "99999999999", "replay-nonce": "n2" },
        }),
  );
  const log: string[] = [];
  const { m, started, stateDir } = await manager(ca.base, ca.ca, log);
  try {
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(log.length, 2, log.join("\n"));
    assert.match(
      log[1]!,
      /^acme: the order failed: rateLimited: slow down; retrying in 86400 s/,
    );
    // One attempt: the directory, a nonce, the account; nothing since.
    assert.deepEqual(ca.hits, ["/dir", "/nonce", "/account"]);
  } finally {
    m.stop();
    await within(5000, started, "the manager stops");
    await Deno.remove(stateDir, { recursive: true });
    await ca.close();
  }
});
