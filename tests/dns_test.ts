/**
 * The zone's DNS server, asked by `dig` (bind9-dnsutils): a server process
 * answering for its host with `--public-ip`, and one in this process for the
 * records that only an ACME order puts there (TXT) and for an answer too big
 * for UDP. Then a thousand malformed packets, and it still answers.
 */

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { freePort, Proc } from "./process.ts";
import { within } from "./helpers.ts";
import { DnsServer } from "../lib/dns/server.ts";
import { Zone } from "../lib/dns/zone.ts";

const HOST = "tunnel.example.com";

/** dig's answer: status, flags, the answer lines, and the message size. */
async function dig(port: number, ...args: string[]) {
  const out = await new Deno.Command("dig", {
    args: [
      "@127.0.0.1",
      "-p",
      String(port),
      "+norec",
      "+time=2",
      "+tries=2",
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const section = (name: string) => {
    const m = new RegExp(`;; ${name} SECTION:\\n([\\s\\S]*?)\\n\\n`).exec(text);
    return (m?.[1] ?? "").split("\n").filter(Boolean).map((l) =>
      l.split(/\s+/).join(" ")
    );
  };
  return {
    text,
    status: /status: ([A-Z]+)/.exec(text)?.[1],
    flags: /flags: ([a-z ]+);/.exec(text)?.[1]?.split(" ") ?? [],
    answer: section("ANSWER"),
    authority: section("AUTHORITY"),
    size: Number(/MSG SIZE {2}rcvd: ([0-9]+)/.exec(text)?.[1]),
  };
}

Deno.test("dns: the server answers for its zone, with authority, and refuses the rest", async (t) => {
  const dnsPort = freePort();
  const server = new Proc([
    "server",
    "-p",
    "0",
    "-h",
    HOST,
    "--public-ip",
    "203.0.113.7",
    "--public-ip",
    "2001:db8::7",
    "--dns-port",
    String(dnsPort),
  ]);
  try {
    await server.waitFor("stderr", /answering for tunnel\.example\.com/);
    await server.waitFor("stderr", /listening on/);

    await t.step("A and AAAA for the apex and any tunnel name", async () => {
      for (const name of [HOST, `abc123.${HOST}`, `MiXeD.TUNNEL.example.com`]) {
        const a = await dig(dnsPort, name, "A");
        assert.equal(a.status, "NOERROR");
        assert.ok(a.flags.includes("aa"), a.text);
        assert.deepEqual(a.answer, [`${name}. 60 IN A 203.0.113.7`]);
        const aaaa = await dig(dnsPort, name, "AAAA");
        assert.deepEqual(aaaa.answer, [`${name}. 60 IN AAAA 2001:db8::7`]);
      }
    });

    await t.step("SOA and NS at the apex; the same over TCP", async () => {
      const soa = await dig(dnsPort, HOST, "SOA");
      assert.equal(soa.answer.length, 1);
      assert.match(
        soa.answer[0]!,
        /^tunnel\.example\.com\. 10 IN SOA tunnel\.example\.com\. hostmaster\.tunnel\.example\.com\. [0-9]+ 3600 600 86400 10$/,
      );
      const ns = await dig(dnsPort, HOST, "NS");
      assert.deepEqual(ns.answer, [`${HOST}. 60 IN NS ${HOST}.`]);
      const tcp = await dig(dnsPort, "+tcp", `x.${HOST}`, "A");
      assert.deepEqual(tcp.answer, [`x.${HOST}. 60 IN A 203.0.113.7`]);
    });

    await t.step("no such record, no such name, not our zone", async () => {
      // No order pending: the challenge name has no TXT (NODATA + SOA).
      const txt = await dig(dnsPort, `_acme-challenge.${HOST}`, "TXT");
      assert.equal(txt.status, "NOERROR");
      assert.deepEqual(txt.answer, []);
      assert.match(txt.authority[0] ?? "", / IN SOA /);
      const mx = await dig(dnsPort, HOST, "MX");
      assert.equal(mx.status, "NOERROR");
      assert.deepEqual(mx.answer, []);
      const deep = await dig(dnsPort, `a.b.${HOST}`, "A");
      assert.equal(deep.status, "NXDOMAIN");
      assert.match(deep.authority[0] ?? "", / IN SOA /);
      for (const name of ["example.com", "google.com", `${HOST}.evil.net`]) {
        const other = await dig(dnsPort, name, "A");
        assert.equal(other.status, "REFUSED", name);
        assert.deepEqual(other.answer, []);
      }
      const chaos = await dig(dnsPort, "version.bind", "TXT", "CH");
      assert.equal(chaos.status, "REFUSED");
      // ANY gets one small record (RFC 8482), not everything.
      const any = await dig(dnsPort, HOST, "ANY");
      assert.deepEqual(any.answer, [`${HOST}. 60 IN HINFO "RFC8482" ""`]);
    });

    await t.step(
      "a thousand malformed packets are dropped; it still answers",
      async () => {
        const sock = createSocket("udp4");
        const packets: Uint8Array[] = [];
        const header = (qd: number, flags = 0) => [
          0x12,
          0x34,
          flags >> 8,
          flags & 0xff,
          0,
          qd,
          0,
          0,
          0,
          0,
          0,
          0,
        ];
        for (let i = 0; i < 1000; i++) {
          const kind = i % 8;
          let p: number[];
          if (kind === 0) {
            p = Array.from(
              crypto.getRandomValues(new Uint8Array(1 + (i % 300))),
            );
          } else if (kind === 1) p = header(1).slice(0, i % 12); // cut header
          else if (kind === 2) p = [...header(1), 0xc0, 12, 0, 1, 0, 1]; // points at itself
          else if (kind === 3) p = [...header(1), 0xc0, 40, 0, 1, 0, 1]; // points ahead
          else if (kind === 4) {
            // A label chain longer than 255 bytes.
            p = [...header(1)];
            for (let j = 0; j < 10; j++) p.push(63, ...new Array(63).fill(97));
            p.push(0, 0, 1, 0, 1);
          } else if (kind === 5) p = [...header(1), 5, 97, 98]; // label cut short
          else if (kind === 6) p = [...header(1, 0x8000), 0, 0, 1, 0, 1]; // a response
          else p = [...header(3), 1, 97, 0, 0, 1, 0, 1]; // three questions
          packets.push(new Uint8Array(p));
        }
        let answered = 0;
        sock.on("message", () => answered++);
        await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
        for (const p of packets) {
          await new Promise<void>((r) =>
            sock.send(p, dnsPort, "127.0.0.1", () => r())
          );
        }
        // Junk over TCP too: a length saying 65535, then garbage.
        const conn = await Deno.connect({
          hostname: "127.0.0.1",
          port: dnsPort,
        });
        await conn.write(new Uint8Array([0xff, 0xff, 1, 2, 3]));
        const closed = await conn.read(new Uint8Array(16)).catch(() => null);
        assert.equal(
          closed,
          null,
          "a too-long TCP query closes the connection",
        );
        conn.close();
        // The flood also spent this address's answers for its second(s).
        await new Promise((r) => setTimeout(r, 1100));
        const a = await dig(dnsPort, `after.${HOST}`, "A");
        assert.deepEqual(a.answer, [`after.${HOST}. 60 IN A 203.0.113.7`]);
        sock.close();
        assert.equal(answered, 0, "junk gets no answer");
        assert.doesNotMatch(server.stderr, /error|uncaught/i);
      },
    );

    await t.step(
      "answers stay small: no bigger than 512 bytes over UDP",
      async () => {
        for (const type of ["A", "AAAA", "SOA", "NS", "ANY", "TXT"]) {
          const r = await dig(dnsPort, "+noedns", HOST, type);
          assert.ok(r.size > 0 && r.size <= 512, `${type}: ${r.size}`);
        }
      },
    );
  } finally {
    await server.stop();
  }
});

Deno.test("dns: challenge TXT records while an order waits; TC when UDP is too small", async () => {
  const many = Array.from({ length: 30 }, (_, i) => `2001:db8::${i + 1}`);
  const zone = new Zone({ apex: HOST, ipv4: ["203.0.113.7"], ipv6: many });
  const dns = await DnsServer.start({ hostname: "127.0.0.1", port: 0, zone });
  try {
    const at = Zone.challengeName(`*.${HOST}`);
    assert.equal(at, `_acme-challenge.${HOST}`);
    zone.setTxt(at, ["value-for-apex", "value-for-wildcard"]);
    const txt = await dig(dns.port, at, "TXT");
    assert.equal(txt.status, "NOERROR");
    assert.deepEqual(txt.answer.sort(), [
      `${at}. 10 IN TXT "value-for-apex"`,
      `${at}. 10 IN TXT "value-for-wildcard"`,
    ]);
    zone.setTxt(at, []);
    assert.deepEqual((await dig(dns.port, at, "TXT")).answer, []);

    // 30 AAAA records are 900 bytes: over UDP without EDNS, TC and no records.
    const cut = await dig(dns.port, "+noedns", "+ignore", HOST, "AAAA");
    assert.ok(cut.flags.includes("tc"), cut.text);
    assert.deepEqual(cut.answer, []);
    assert.ok(cut.size <= 512);
    // dig then asks over TCP and gets them all.
    const full = await dig(dns.port, "+noedns", HOST, "AAAA");
    assert.equal(full.answer.length, 30);
    assert.ok(dns.stats.answered >= 4);
  } finally {
    dns.close();
  }
});

Deno.test("dns: one address gets at most the rate limit of UDP answers a second", async () => {
  const zone = new Zone({ apex: HOST, ipv4: ["203.0.113.7"], ipv6: [] });
  const dns = await DnsServer.start({
    hostname: "127.0.0.1",
    port: 0,
    zone,
    rateLimit: 50,
  });
  const sock = createSocket("udp4");
  try {
    let answered = 0;
    sock.on("message", () => answered++);
    await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
    // A query for x.<HOST> A, 200 times.
    const name = `x.${HOST}`.split(".").flatMap((l) => [
      l.length,
      ...new TextEncoder().encode(l),
    ]);
    const query = new Uint8Array([
      0xab,
      0xcd,
      0,
      0,
      0,
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      ...name,
      0,
      0,
      1,
      0,
      1,
    ]);
    for (let i = 0; i < 200; i++) {
      await new Promise<void>((r) =>
        sock.send(query, dns.port, "127.0.0.1", () => r())
      );
    }
    await new Promise((r) => setTimeout(r, 300));
    // 50 in a second; 100 if the burst crossed a second's boundary.
    assert.ok(answered >= 50 && answered <= 100, `${answered} answers`);
    assert.equal(dns.stats.limited, 200 - answered);
    // A second later the address is answered again.
    await new Promise((r) => setTimeout(r, 1000));
    const a = await dig(dns.port, `y.${HOST}`, "A");
    assert.deepEqual(a.answer, [`y.${HOST}. 60 IN A 203.0.113.7`]);
  } finally {
    sock.close();
    dns.close();
  }
});

Deno.test("server flags for DNS, ACME and clusters: a wrong combination is one line and exit 2", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--acme"], /--acme needs --public-ip/],
    [["--dns-port", "5353"], /--dns-port needs --public-ip/],
    [["--public-ip", "300.1.2.3"], /--public-ip must be an IPv4 or IPv6/],
    [["--acme", "--public-ip", "192.0.2.1"], /--acme needs --state-dir/],
    [["--acme-email", "a@b.c"], /--acme-email goes with --acme/],
    [["--cluster", "etcd://127.0.0.1:2379"], /--cluster needs --node-id/],
    [
      [
        "--cluster",
        "etcd://127.0.0.1:2379",
        "--node-id",
        "a",
        "--node-addr",
        "127.0.0.1:7000",
      ],
      /shared secret of 16 characters or more/,
    ],
    [["--cluster", "etcd://nohost"], /--cluster: "nohost" must be host:port/],
    [["--node-id", "a"], /--node-id goes with --cluster/],
  ];
  for (const [flags, want] of cases) {
    const p = new Proc(["server", "-p", "0", ...flags]);
    const status = await p.done;
    assert.equal(status.code, 2, `${flags.join(" ")}: ${p.stderr}`);
    assert.match(p.stderr, want, flags.join(" "));
  }
});

Deno.test("dns over TCP: one address holds at most 8 connections, and a trickled query is cut at its deadline", async () => {
  const zone = new Zone({ apex: HOST, ipv4: ["203.0.113.7"], ipv6: [] });
  const dns = await DnsServer.start({ hostname: "127.0.0.1", port: 0, zone });
  const conns: Deno.Conn[] = [];
  try {
    // 20 connections from 127.0.0.1, each trickling a query a byte at a
    // time (a length prefix of 40, then a byte every 300 ms).
    for (let i = 0; i < 20; i++) {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port: dns.port }));
    }
    const started = Date.now();
    const closedAt: number[] = [];
    const trickles = conns.map(async (c, i) => {
      const buf = new Uint8Array(16);
      const reading = c.read(buf).then(
        (n) => n,
        () => null,
      ).then(() => closedAt[i] = Date.now() - started);
      try {
        await c.write(new Uint8Array([0, 40]));
        for (let k = 0; k < 40 && closedAt[i] === undefined; k++) {
          await new Promise((r) => setTimeout(r, 300));
          await c.write(new Uint8Array([0x61]));
        }
      } catch { /* closed by the server */ }
      await within(20_000, reading, `trickler ${i} closed`);
    });
    // Meanwhile another address is answered over TCP.
    await new Promise((r) => setTimeout(r, 500));
    const other = await dig(
      dns.port,
      "-b",
      "127.0.0.2",
      "+tcp",
      `z.${HOST}`,
      "A",
    );
    assert.deepEqual(other.answer, [`z.${HOST}. 60 IN A 203.0.113.7`]);
    await Promise.all(trickles);
    const early = closedAt.filter((t) => t < 1000).length;
    const cut = closedAt.filter((t) => t >= 1000);
    // 12 over the per-address cap were closed at once; the 8 served were
    // cut at the 5 s deadline though they kept sending.
    assert.equal(early, 12, JSON.stringify(closedAt));
    assert.equal(cut.length, 8);
    for (const t of cut) assert.ok(t >= 4500 && t < 9000, `cut after ${t} ms`);
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    dns.close();
  }
});
