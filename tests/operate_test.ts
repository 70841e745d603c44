/**
 * Operating a server: a real Prometheus scrapes `--metrics` while requests
 * go through a tunnel, and a PromQL query over its HTTP API counts them;
 * `promtool check metrics` holds the names to Prometheus's conventions; the
 * admin API lists, shows and ends tunnels, behind its token; `--log-format
 * json` gives one JSON object per line with each tunnel's fields.
 */

import assert from "node:assert/strict";
import { startBackend } from "./backend.ts";
import { promtool, within } from "./helpers.ts";
import { freePort, Proc, rawRequest } from "./process.ts";

const REQUESTS = 37;

/** A PromQL instant query's single value, or undefined while it has none. */
async function query(port: number, q: string): Promise<number | undefined> {
  const r = await fetch(
    `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`,
  );
  const body = await r.json();
  const v = body?.data?.result?.[0]?.value?.[1];
  return v === undefined ? undefined : Number(v);
}

Deno.test("operating a server: Prometheus scrapes --metrics, the admin API ends a tunnel, JSON logs", async (t) => {
  const metricsPort = freePort(), adminPort = freePort();
  const clientMetricsPort = freePort();
  const server = new Proc([
    "server",
    "-p",
    "0",
    "--metrics",
    `127.0.0.1:${metricsPort}`,
    "--metrics-per-tunnel",
    "--admin",
    `127.0.0.1:${adminPort}`,
    "--log-format",
    "json",
  ]);
  const port = Number(
    (await server.waitFor("stderr", /listening on 127\.0\.0\.1:(\d+)/))[1],
  );
  const backend = startBackend();
  const client = new Proc([
    String(backend.addr.port),
    "-p",
    String(port),
    "--quiet",
    "--no-inspect",
    "--metrics",
    `127.0.0.1:${clientMetricsPort}`,
  ]);
  const url = new URL(
    (await client.waitFor("stdout", /^(http:\/\/\S+)$/m))[1]!,
  );
  const name = url.hostname.split(".")[0]!;
  const dir = await Deno.makeTempDir({ prefix: "groktunnel-prometheus-" });
  const promPort = freePort();
  await Deno.writeTextFile(
    `${dir}/prometheus.yml`,
    [
      "global:",
      "  scrape_interval: 1s",
      "scrape_configs:",
      "  - job_name: groktunnel",
      "    static_configs:",
      `      - targets: ["127.0.0.1:${metricsPort}"]`,
      "",
    ].join("\n"),
  );
  const prometheus = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await t.step(
      `Prometheus counts the ${REQUESTS} requests routed through the tunnel, and the 3 to no tunnel`,
      async () => {
        for (let i = 0; i < REQUESTS; i++) {
          const r = await rawRequest(port, url.host, `/hello?${i}`);
          assert.equal(r.status, 200);
        }
        for (let i = 0; i < 3; i++) {
          const r = await rawRequest(port, "nobody.localhost", "/");
          assert.equal(r.status, 404);
        }
        const routed =
          'groktunnel_public_connections_total{job="groktunnel",outcome="routed"}';
        const missing =
          'groktunnel_public_connections_total{job="groktunnel",outcome="not_found"}';
        await within(
          30_000,
          (async () => {
            for (;;) {
              const [a, b] = await Promise.all([
                query(promPort, routed).catch(() => undefined),
                query(promPort, missing).catch(() => undefined),
              ]);
              if (a === REQUESTS && b === 3) return;
              await new Promise((r) => setTimeout(r, 250));
            }
          })(),
          "Prometheus's count",
        );
        assert.equal(
          await query(
            promPort,
            `groktunnel_tunnel_connections_total{tunnel="${name}"}`,
          ),
          REQUESTS,
        );
        assert.equal(
          await query(promPort, 'groktunnel_tunnels{kind="http"}'),
          1,
        );
      },
    );

    await t.step(
      "the names pass promtool check metrics, and HEAD and other paths answer",
      async () => {
        const r = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
        assert.equal(
          r.headers.get("content-type"),
          "text/plain; version=0.0.4; charset=utf-8",
        );
        const text = await r.text();
        const checked = await promtool(text);
        assert.equal(checked.code, 0, checked.out);
        assert.equal(checked.out, "");
        // The process's memory: the heap reserved holds the heap in use.
        const gauge = (name: string) =>
          Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
        assert.ok(gauge("deno_heap_used_bytes") > 0);
        assert.ok(
          gauge("deno_heap_total_bytes") >= gauge("deno_heap_used_bytes"),
        );
        assert.ok(gauge("deno_external_memory_bytes") > 0);
        const opened = text.match(
          /^groktunnel_channel_open_seconds_count ([1-9][0-9]*)$/m,
        )?.[1];
        assert.ok(opened, "channels opened");
        // Every routed visitor here got an answer: one first byte each.
        assert.equal(
          text.match(/^groktunnel_public_first_byte_seconds_count (\d+)$/m)
            ?.[1],
          opened,
        );
        // Each routed connection's first answer, by class: all 2xx here.
        assert.match(
          text,
          new RegExp(
            `^groktunnel_http_first_responses_total\\{class="2xx"\\} ${opened}$`,
            "m",
          ),
        );
        assert.match(
          text,
          /^groktunnel_http_first_responses_total\{class="5xx"\} 0$/m,
        );
        const head = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, {
          method: "HEAD",
        });
        assert.equal(head.status, 200);
        assert.equal(await head.text(), "");
        const other = await fetch(`http://127.0.0.1:${metricsPort}/`);
        assert.equal(other.status, 404);
        await other.body?.cancel();
      },
    );

    await t.step(
      "the client's --metrics count its connections, requests and bytes",
      async () => {
        const text = await (await fetch(
          `http://127.0.0.1:${clientMetricsPort}/metrics`,
        )).text();
        const checked = await promtool(text);
        assert.equal(checked.code, 0, checked.out);
        const value = (name: string) =>
          Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
        assert.equal(value("groktunnel_client_up"), 1);
        assert.equal(value("groktunnel_client_connections_total"), REQUESTS);
        assert.equal(value("groktunnel_client_requests_total"), REQUESTS);
        assert.equal(value("groktunnel_client_connections_open"), 0);
        assert.ok(value("groktunnel_client_from_visitors_bytes_total") > 0);
        assert.ok(value("groktunnel_client_to_visitors_bytes_total") > 0);
        assert.equal(value("groktunnel_client_local_errors_total"), 0);
      },
    );

    await t.step("the admin API lists and shows the tunnel", async () => {
      const api = `http://127.0.0.1:${adminPort}/api`;
      const list = await (await fetch(`${api}/tunnels`)).json();
      assert.equal(list.tunnels.length, 1);
      const one = list.tunnels[0];
      assert.equal(one.name, name);
      assert.equal(one.kind, "http");
      assert.equal(one.public_host, url.host);
      assert.equal(one.connections, REQUESTS);
      assert.match(one.client, /^127\.0\.0\.1:\d+$/);
      assert.ok(one.bytes_in > 0 && one.bytes_out > 0);
      const shown = await (await fetch(`${api}/tunnels/${name}`)).json();
      assert.equal(shown.name, name);
      const status = await (await fetch(`${api}/status`)).json();
      assert.equal(status.tunnels, 1);
      assert.equal(status.limits.max_tunnels, 1000);
      const missing = await fetch(`${api}/tunnels/nosuchname`);
      assert.equal(missing.status, 404);
      assert.deepEqual(await missing.json(), {
        error: 'No tunnel "nosuchname" is open',
      });
      const bad = await fetch(`${api}/tunnels/${name}?block=soon`, {
        method: "DELETE",
      });
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
      assert.equal((await fetch(`${api}/tunnels/${name}`)).status, 200);
    });

    await t.step(
      "DELETE ends the tunnel and blocks its name: the client cannot come back",
      async () => {
        const r = await fetch(
          `http://127.0.0.1:${adminPort}/api/tunnels/${name}?block=forever`,
          { method: "DELETE" },
        );
        assert.deepEqual(await r.json(), {
          name,
          ended: true,
          blocked_for: "forever",
        });
        const status = await within(15_000, client.done, "client exit");
        assert.equal(status.code, 1);
        assert.match(
          client.stderr,
          new RegExp(
            `403 The name "${name}" is blocked by the server's operator`,
          ),
        );
        assert.equal((await rawRequest(port, url.host, "/")).status, 404);
        const again = new Proc([
          String(backend.addr.port),
          "-p",
          String(port),
          "--subdomain",
          name,
        ]);
        assert.equal((await within(15_000, again.done, "exit")).code, 1);
        assert.match(again.stderr, /is blocked by the server's operator/);
      },
    );

    await t.step(
      "--log-format json: one object per line, with a tunnel's fields at start and end",
      () => {
        const lines = server.stderr.split("\n").filter((l) =>
          l.startsWith("{")
        );
        const events = lines.map((l) => JSON.parse(l));
        for (const e of events) assert.match(e.time, /^\d{4}-\d\d-\d\dT/);
        const start = events.find((e) =>
          e.event === "tunnel_start" && e.name === name
        );
        assert.equal(start.host, url.host);
        assert.equal(start.kind, "http");
        assert.match(start.client, /^127\.0\.0\.1:\d+$/);
        const end = events.find((e) =>
          e.event === "tunnel_end" && e.name === name
        );
        assert.equal(end.connections, REQUESTS);
        assert.equal(end.reason, "ended by the server's operator");
        assert.ok(end.bytes_in > 0 && end.bytes_out > 0);
        assert.ok(
          events.some((e) => e.event === "tunnel_refused" && e.status === 403),
        );
      },
    );
  } finally {
    try {
      prometheus.kill("SIGTERM");
    } catch { /* gone */ }
    await prometheus.status;
    await client.stop();
    await server.stop();
    await backend.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the admin API's token: 401 without it, and no token off loopback is refused at start", async (t) => {
  const adminPort = freePort();
  const server = new Proc(
    [
      "server",
      "-p",
      "0",
      "--admin",
      `127.0.0.1:${adminPort}`,
      "--admin-path",
      "/_ops",
    ],
    { GROKTUNNEL_ADMIN_TOKEN: "s3cret-admin" },
  );
  try {
    await server.waitFor(
      "stderr",
      /admin API on http:\/\/127\.0\.0\.1:\d+\/api \(token\)/,
    );
    const port = Number(
      (await server.waitFor("stderr", /listening on 127\.0\.0\.1:(\d+)/))[1],
    );
    await t.step("no token, a wrong one: 401; the right one: 200", async () => {
      const api = `http://127.0.0.1:${adminPort}/api/tunnels`;
      for (const auth of [undefined, "Bearer wrong", "s3cret-admin"]) {
        const r = await fetch(api, {
          headers: auth ? { authorization: auth } : {},
        });
        assert.equal(r.status, 401);
        assert.deepEqual(await r.json(), {
          error: "This API needs Authorization: Bearer <--admin-token>",
        });
      }
      const ok = await fetch(api, {
        headers: { authorization: "Bearer s3cret-admin" },
      });
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { tunnels: [] });
    });

    await t.step(
      "--admin-path: the same API on the server's own host, behind the same token",
      async () => {
        const at = (path: string, extra = "") =>
          rawRequest(port, `localhost:${port}`, path, extra);
        const none = await at("/_ops/api/tunnels");
        assert.equal(none.status, 401);
        assert.deepEqual(JSON.parse(none.text), {
          error: "This API needs Authorization: Bearer <--admin-token>",
        });
        const auth = "Authorization: Bearer s3cret-admin\r\n";
        const ok = await at("/_ops/api/tunnels", auth);
        assert.equal(ok.status, 200);
        assert.equal(ok.headers.get("content-type"), "application/json");
        assert.deepEqual(JSON.parse(ok.text), { tunnels: [] });
        const status = JSON.parse((await at("/_ops/api/status", auth)).text);
        assert.equal(status.host, "localhost");
        assert.equal(status.limits.max_pool_members, 16);
        // A body is refused; other paths of the host are as before.
        const body = await at(
          "/_ops/api/tunnels/x",
          `${auth}Content-Length: 2\r\n`,
        );
        assert.equal(body.status, 413);
        assert.equal((await at("/_opsx/api/tunnels", auth)).status, 404);
        assert.equal((await at("/", "Accept: text/html\r\n")).status, 200);
      },
    );
  } finally {
    await server.stop();
  }
  await t.step("--admin-path without a token: exit 2", async () => {
    const p = new Proc(["server", "-p", "0", "--admin-path", "/_ops"]);
    assert.equal((await within(15_000, p.done, "exit")).code, 2);
    assert.equal(
      p.stderr.split("\n")[0],
      "groktunnel: --admin-path needs --admin-token or GROKTUNNEL_ADMIN_TOKEN: the API is then on the public host",
    );
  });
  await t.step("--admin off loopback without a token: exit 2", async () => {
    const p = new Proc(["server", "-p", "0", "--admin", "0.0.0.0:0"]);
    assert.equal((await within(15_000, p.done, "exit")).code, 2);
    assert.equal(
      p.stderr.split("\n")[0],
      "groktunnel: --admin on 0.0.0.0 (not loopback) needs --admin-token or GROKTUNNEL_ADMIN_TOKEN: the API ends tunnels",
    );
  });
});
