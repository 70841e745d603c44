/**
 * TCP tunnels with real TCP software: OpenSSH (a private sshd on loopback
 * with its own keys) and Redis (redis-server with redis-cli), a raw
 * half-closing app, and the server's port range rules.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { decoder, encoder, pump, within } from "./helpers.ts";
import { freePort, Proc } from "./process.ts";
import { startRedis } from "./redis.ts";

const MiB = 1024 * 1024;

/** A server offering TCP tunnels on `range`; resolves with its control port. */
async function tcpServer(range: string, extra: string[] = [], port = 0) {
  const server = new Proc([
    "server",
    "-p",
    String(port),
    "--tcp-ports",
    range,
    ...extra,
  ]);
  const m = await server.waitFor("stderr", /listening on 127\.0\.0\.1:(\d+)/);
  return { server, port: Number(m[1]) };
}

/** A TCP client for `localPort`; resolves with it and its public port. */
async function tcpClient(
  localPort: number,
  serverPort: number,
  extra: string[] = [],
) {
  const client = new Proc([
    "tcp",
    String(localPort),
    "-p",
    String(serverPort),
    ...extra,
  ]);
  const m = await client.waitFor("stdout", /^tcp:\/\/localhost:(\d+)$/m);
  return { client, publicPort: Number(m[1]) };
}

/** A range of `n` ports that were free a moment ago. */
function freeRange(n: number): [number, number] {
  for (;;) {
    const lo = freePort();
    if (lo + n > 65535) continue;
    const ok = Array.from({ length: n }, (_, i) => lo + i).every((p) => {
      try {
        Deno.listen({ hostname: "127.0.0.1", port: p }).close();
        return true;
      } catch {
        return false;
      }
    });
    if (ok) return [lo, lo + n - 1];
  }
}

async function run(cmd: string, args: string[], stdin?: Uint8Array) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: out.stdout,
    stderr: decoder.decode(out.stderr),
  };
}

Deno.test("TCP tunnels: SSH and Redis through them, byte-exact", async (t) => {
  const [lo, hi] = freeRange(8);
  const { server, port } = await tcpServer(`${lo}-${hi}`);
  const dir = await Deno.makeTempDir({ prefix: "groktunnel-sshd-" });
  try {
    await t.step(
      "the server says at start-up which ports it offers",
      async () => {
        // The line comes after "listening on", maybe in a later read of stderr.
        await server.waitFor(
          "stderr",
          new RegExp(
            `^tcp tunnels on ports ${lo}-${hi} \\(tcp://localhost:<port>\\)$`,
            "m",
          ),
        );
      },
    );

    await t.step(
      "ssh runs a command and streams 16 MiB, SHA-256 equal",
      async () => {
        for (const [file, type] of [["host", "ed25519"], ["user", "ed25519"]]) {
          const k = await run("ssh-keygen", [
            "-q",
            "-t",
            type!,
            "-N",
            "",
            "-f",
            `${dir}/${file}`,
          ]);
          assert.equal(k.code, 0, k.stderr);
        }
        await Deno.copyFile(`${dir}/user.pub`, `${dir}/authorized_keys`);
        await Deno.chmod(`${dir}/authorized_keys`, 0o600);
        const sshPort = freePort();
        await Deno.writeTextFile(
          `${dir}/sshd_config`,
          [
            `Port ${sshPort}`,
            "ListenAddress 127.0.0.1",
            `HostKey ${dir}/host`,
            `AuthorizedKeysFile ${dir}/authorized_keys`,
            `PidFile ${dir}/sshd.pid`,
            "StrictModes no",
            "UsePAM no",
            "PermitRootLogin yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "",
          ].join("\n"),
        );
        await Deno.mkdir("/run/sshd", { recursive: true }); // privilege separation dir
        const sshd = new Deno.Command("/usr/sbin/sshd", {
          args: ["-D", "-e", "-f", `${dir}/sshd_config`],
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const { client, publicPort } = await tcpClient(sshPort, port);
        try {
          // sshd is up when it accepts.
          await within(
            10_000,
            (async () => {
              for (;;) {
                try {
                  (await Deno.connect({ hostname: "127.0.0.1", port: sshPort }))
                    .close();
                  return;
                } catch {
                  await new Promise((r) => setTimeout(r, 50));
                }
              }
            })(),
            "sshd",
          );
          const user = Deno.env.get("USER") ?? "root";
          const ssh = await run("ssh", [
            "-i",
            `${dir}/user`,
            "-p",
            String(publicPort),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            `${user}@127.0.0.1`,
            // The remote side hashes what it sends (on stderr) and sends it.
            "echo ok; f=$(mktemp); head -c 16777216 /dev/urandom > $f; sha256sum < $f >&2; cat $f; rm -f $f",
          ]);
          assert.equal(ssh.code, 0, ssh.stderr);
          const out = ssh.stdout;
          assert.equal(decoder.decode(out.subarray(0, 3)), "ok\n");
          const data = out.subarray(3);
          assert.equal(data.length, 16 * MiB);
          const local = createHash("sha256").update(data).digest("hex");
          assert.match(ssh.stderr, new RegExp(`^${local}  -`));
        } finally {
          await client.stop("SIGINT");
          try {
            sshd.kill("SIGTERM");
          } catch { /* gone */ }
          await sshd.status;
        }
      },
    );

    await t.step(
      "redis-cli talks to redis-server through the tunnel",
      async () => {
        const { port: redisPort, child: redis } = await startRedis(dir);
        const { client, publicPort } = await tcpClient(redisPort, port);
        try {
          const cli = (...a: string[]) =>
            run("redis-cli", [
              "-h",
              "127.0.0.1",
              "-p",
              String(publicPort),
              ...a,
            ]);
          assert.equal(
            decoder.decode(
              (await cli("SET", "greeting", "hello through groktunnel")).stdout,
            ).trim(),
            "OK",
          );
          assert.equal(
            decoder.decode((await cli("GET", "greeting")).stdout).trim(),
            "hello through groktunnel",
          );
          // A 1 MiB value each way (read from stdin with -x).
          const big = "v".repeat(MiB);
          assert.equal(
            decoder.decode(
              (await run("redis-cli", [
                "-h",
                "127.0.0.1",
                "-p",
                String(publicPort),
                "-x",
                "SET",
                "big",
              ], encoder.encode(big))).stdout,
            ).trim(),
            "OK",
          );
          assert.equal(
            decoder.decode((await cli("STRLEN", "big")).stdout).trim(),
            String(MiB),
          );
          // A line per connection, as the request log has: open, and at
          // close its time, bytes each way and the visitor. The -x SET
          // sent its command and 1 MiB and got "+OK\r\n".
          assert.match(
            client.stderr,
            /^\d\d:\d\d:\d\d tcp connection opened {2}127\.0\.0\.1:\d+$/m,
          );
          await client.waitFor(
            "stderr",
            /^\d\d:\d\d:\d\d tcp connection closed after \d+\.\d s {2}1\.0 MiB in, 5 B out {2}127\.0\.0\.1:\d+$/m,
          );
        } finally {
          await client.stop("SIGINT");
          try {
            redis.kill("SIGTERM");
          } catch { /* gone */ }
          await redis.status;
        }
      },
    );

    await t.step(
      "half-close both ways, 64 MiB each way, SHA-256 equal",
      async () => {
        // The app reads to EOF (hashing), then answers with 64 MiB and closes.
        const app = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const serving = (async () => {
          const c = await app.accept();
          const h = createHash("sha256");
          const buf = new Uint8Array(256 * 1024);
          let got = 0;
          for (;;) {
            const n = await c.read(buf);
            if (n === null) break;
            h.update(buf.subarray(0, n));
            got += n;
          }
          const sent = await pump(c, 64 * MiB, 77);
          await c.closeWrite();
          c.close();
          return { got, hash: h.digest("hex"), sent };
        })();
        const { client, publicPort } = await tcpClient(app.addr.port, port);
        try {
          const v = await Deno.connect({
            hostname: "127.0.0.1",
            port: publicPort,
          });
          const up = await pump(v, 64 * MiB, 78);
          await v.closeWrite(); // our EOF reaches the app, which then answers
          const h = createHash("sha256");
          const buf = new Uint8Array(256 * 1024);
          let got = 0;
          for (;;) {
            const n = await within(30_000, v.read(buf), "answer");
            if (n === null) break;
            h.update(buf.subarray(0, n));
            got += n;
          }
          v.close();
          const seen = await serving;
          assert.equal(seen.got, 64 * MiB);
          assert.equal(seen.hash, up);
          assert.equal(got, 64 * MiB);
          assert.equal(h.digest("hex"), seen.sent);
        } finally {
          await client.stop("SIGINT");
          app.close();
        }
      },
    );
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TCP tunnels: ports asked for, exhausted, held, freed, refused", async (t) => {
  const [lo, hi] = freeRange(2);
  const app = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of app) held.push(c);
  })();
  const { server, port } = await tcpServer(`${lo}-${hi}`, ["--name-hold", "1"]);
  try {
    await t.step(
      "a port asked for in the range is given; outside it is 400 and exit 1",
      async () => {
        const { client, publicPort } = await tcpClient(app.addr.port, port, [
          "--remote-port",
          String(hi),
        ]);
        assert.equal(publicPort, hi);
        const outside = new Proc([
          "tcp",
          String(app.addr.port),
          "-p",
          String(port),
          "--remote-port",
          String(lo - 1 || 65535),
        ]);
        assert.equal((await within(10_000, outside.done, "exit")).code, 1);
        assert.match(
          outside.stderr,
          /400 Port \d+ is outside this server's TCP range/,
        );
        const taken = new Proc([
          "tcp",
          String(app.addr.port),
          "-p",
          String(port),
          "--remote-port",
          String(hi),
        ]);
        assert.equal((await within(10_000, taken.done, "exit")).code, 1);
        assert.match(taken.stderr, /409 Port \d+ is in use/);
        await client.stop("SIGINT");
      },
    );

    await t.step("an exhausted range is a clear refusal", async () => {
      const a = await tcpClient(app.addr.port, port);
      const b = await tcpClient(app.addr.port, port);
      assert.notEqual(a.publicPort, b.publicPort);
      const c = new Proc(["tcp", String(app.addr.port), "-p", String(port)]);
      await c.waitFor(
        "stderr",
        /503 No free TCP port left in \d+-\d+; try again later/,
      );
      await c.stop("SIGINT");
      await a.client.stop("SIGINT");
      await b.client.stop("SIGINT");
    });

    await t.step(
      "a killed client's visitors end promptly; its port is held, then freed",
      async () => {
        const { client, publicPort } = await tcpClient(app.addr.port, port, [
          "--remote-port",
          String(lo),
        ]);
        const v = await Deno.connect({
          hostname: "127.0.0.1",
          port: publicPort,
        });
        await v.write(encoder.encode("x"));
        await new Promise((r) => setTimeout(r, 100));
        const started = Date.now();
        await client.stop("SIGKILL");
        const n = await within(
          5000,
          v.read(new Uint8Array(16)).catch(() => null),
          "visitor end",
        );
        assert.equal(n, null);
        assert.ok(Date.now() - started < 5000);
        v.close();
        // The port no longer listens, and is held for that client's name...
        await server.waitFor(
          "stderr",
          new RegExp(`tunnel localhost:${publicPort} ended`),
        );
        // (Closed at the end; the socket itself goes once the pending
        // accept is cancelled, on the server's next event-loop turn, so a
        // connect in that moment may still get through: bounded retries.)
        const deadline = Date.now() + 2000;
        for (;;) {
          const c = await Deno.connect({
            hostname: "127.0.0.1",
            port: publicPort,
          }).catch(() => null);
          if (!c) break;
          c.close();
          assert.ok(Date.now() < deadline, "the ended tunnel's port listens");
          await new Promise((r) => setTimeout(r, 20));
        }
        const other = new Proc([
          "tcp",
          String(app.addr.port),
          "-p",
          String(port),
          "--remote-port",
          String(lo),
        ]);
        assert.equal((await within(10_000, other.done, "exit")).code, 1);
        assert.match(other.stderr, /409 Port \d+ is in use/);
        // ...until the hold (1 s here) ends.
        await new Promise((r) => setTimeout(r, 1200));
        const again = await tcpClient(app.addr.port, port, [
          "--remote-port",
          String(lo),
        ]);
        assert.equal(again.publicPort, lo);
        // A clean exit frees it at once.
        await again.client.stop("SIGINT");
        await server.waitFor("stderr", /released by its client/);
        const third = await tcpClient(app.addr.port, port, [
          "--remote-port",
          String(lo),
        ]);
        assert.equal(third.publicPort, lo);
        await third.client.stop("SIGINT");
      },
    );
  } finally {
    await server.stop();
  }

  await t.step(
    "a reconnect after a server restart keeps the port",
    async () => {
      const control = freePort();
      const first = await tcpServer(`${lo}-${hi}`, [], control);
      const { client, publicPort } = await tcpClient(app.addr.port, control);
      await first.server.stop("SIGKILL");
      const second = await tcpServer(`${lo}-${hi}`, [], control);
      try {
        await client.waitFor("stderr", /reconnected; same URL/, 20_000);
        assert.equal(client.stdout, `tcp://localhost:${publicPort}\n`);
        const v = await Deno.connect({
          hostname: "127.0.0.1",
          port: publicPort,
        });
        v.close();
      } finally {
        await client.stop("SIGINT");
        await second.server.stop();
      }
    },
  );

  await t.step(
    "without --tcp-ports the server refuses, saying how to turn them on",
    async () => {
      const plain = new Proc(["server", "-p", "0"]);
      const m = await plain.waitFor(
        "stderr",
        /listening on 127\.0\.0\.1:(\d+)/,
      );
      const c = new Proc(["tcp", String(app.addr.port), "-p", m[1]!]);
      assert.equal((await within(10_000, c.done, "exit")).code, 1);
      assert.match(
        c.stderr,
        /403 This server does not offer TCP tunnels \(its operator can turn them on with --tcp-ports\)/,
      );
      await plain.stop();
    },
  );
  app.close();
  for (const c of held) c.close();
  await accepting;
});
