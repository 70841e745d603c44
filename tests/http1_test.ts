/**
 * The HTTP/1.1 parser on messages as they really come: cut at every byte,
 * keep-alive and pipelining, Content-Length, chunked with trailers,
 * close-delimited responses, HEAD/204/304, 100 Continue, upgrades, and the
 * ambiguous shapes it must refuse.
 */

import assert from "node:assert/strict";
import {
  Http1Error,
  type Http1Event,
  Http1Parser,
  type Http1Sink,
} from "../lib/wire/http1/parser.ts";
import { encoder } from "./helpers.ts";

/** Tests speak in latin1: one char, one byte, wherever a cut falls. */
const latin1 = new TextDecoder("latin1");
const decoder = { decode: (b: Uint8Array) => latin1.decode(b) };
const bytesOf = (t: string) => Uint8Array.from(t, (c) => c.charCodeAt(0));

interface Seen {
  heads: string[];
  bodies: string[];
  data: string[];
  ends: number;
  raw: string;
  all: string;
}

/** Feeds `text` in pieces of `cut` bytes (0: whole); collects what came out. */
function run(
  side: "request" | "response",
  text: string,
  cut = 0,
  methods: string[] = [],
  eof = false,
): Seen {
  const p = new Http1Parser(side);
  for (const m of methods) p.expectResponseTo(m);
  const seen: Seen = {
    heads: [],
    bodies: [""],
    data: [""],
    ends: 0,
    raw: "",
    all: "",
  };
  const emit = (e: Http1Event) => {
    if (e.kind === "head") {
      seen.heads.push(
        e.head.method
          ? `${e.head.method} ${e.head.target}`
          : `${e.head.status}`,
      );
      seen.all += decoder.decode(e.bytes);
    } else if (e.kind === "body") {
      seen.bodies[seen.bodies.length - 1] += decoder.decode(e.bytes);
      if (e.data) seen.data[seen.data.length - 1] += decoder.decode(e.bytes);
      seen.all += decoder.decode(e.bytes);
    } else if (e.kind === "end") {
      seen.ends++;
      seen.bodies.push("");
      seen.data.push("");
    } else {
      seen.raw += decoder.decode(e.bytes);
      seen.all += decoder.decode(e.bytes);
    }
  };
  const bytes = bytesOf(text);
  const step = cut || bytes.length;
  for (let i = 0; i < bytes.length; i += step) {
    p.push(bytes.slice(i, i + step), emit);
  }
  if (eof) p.end(emit);
  // A watcher (framing only, offsets to a sink) must frame it the same way.
  const w = new Http1Parser(side, { framingOnly: true });
  for (const m of methods) w.expectResponseTo(m);
  const watched: Seen = { ...seen, heads: [], bodies: [""], data: [""] };
  watched.ends = 0;
  watched.raw = watched.all = "";
  const span = (b: Uint8Array, from: number, to: number) =>
    decoder.decode(b.subarray(from, to));
  const sink: Http1Sink = {
    head: (b, from, to) => {
      watched.heads.push(side === "request" ? w.method : `${w.status}`);
      watched.all += span(b, from, to);
    },
    body: (b, from, to, data) => {
      watched.bodies[watched.bodies.length - 1] += span(b, from, to);
      if (data) watched.data[watched.data.length - 1] += span(b, from, to);
      watched.all += span(b, from, to);
    },
    end: () => {
      watched.ends++;
      watched.bodies.push("");
      watched.data.push("");
    },
    raw: (b, from, to) => {
      watched.raw += span(b, from, to);
      watched.all += span(b, from, to);
    },
  };
  for (let i = 0; i < bytes.length; i += step) {
    // Given as a range of a bigger buffer, as the relay does (junk around).
    const piece = bytes.slice(i, i + step);
    const padded = new Uint8Array(piece.length + 6).fill(0x0a);
    padded.set(piece, 3);
    w.watch(padded, sink, 3, 3 + piece.length);
  }
  if (eof) w.end(sink);
  assert.deepEqual(watched, {
    ...seen,
    heads: seen.heads.map((h) => h.split(" ")[0]),
  }, `watched, cut ${cut}`);
  return seen;
}

/** Runs at every cut size 1..n and whole; all must agree and be byte-exact. */
function everyCut(
  side: "request" | "response",
  text: string,
  methods: string[] = [],
  eof = false,
): Seen {
  const whole = run(side, text, 0, methods, eof);
  assert.equal(whole.all, text, "byte-exact");
  for (const cut of [1, 2, 3, 5, 7, 13, 64]) {
    const s = run(side, text, cut, methods, eof);
    assert.deepEqual(
      { ...s, all: undefined },
      { ...whole, all: undefined },
      `cut ${cut}`,
    );
    assert.equal(s.all, text);
  }
  return whole;
}

Deno.test("requests: keep-alive and pipelined, Content-Length and chunked with trailers", () => {
  const s = everyCut(
    "request",
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
      "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
      "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer-One: 1\r\n\r\n" +
      "\r\nGET /d HTTP/1.1\r\nHost: x\r\n\r\n",
  );
  assert.deepEqual(s.heads, ["GET /a", "POST /b", "PUT /c", "GET /d"]);
  assert.equal(s.ends, 4);
  assert.deepEqual(s.data.slice(0, 4), ["", "hello", "abc0123456789", ""]);
});

Deno.test("requests: an upgrade or CONNECT hands over raw bytes", () => {
  const ws = everyCut(
    "request",
    "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
  );
  assert.deepEqual(ws.heads, ["GET /ws"]);
  assert.equal(ws.raw, "\x81\x05hello");
  const c = everyCut(
    "request",
    "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n\x16\x03\x01",
  );
  assert.equal(c.raw, "\x16\x03\x01");
});

Deno.test("responses: 100 Continue, HEAD, 204, 304, chunked, close-delimited, 101", () => {
  const s = everyCut(
    "response",
    "HTTP/1.1 100 Continue\r\n\r\n" +
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" +
      "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n" + // answer to HEAD: no body
      "HTTP/1.1 204 No Content\r\n\r\n" +
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n" +
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" +
      "HTTP/1.0 200 OK\r\n\r\nuntil the end",
    ["POST", "HEAD", "GET", "GET", "GET", "GET"],
    true,
  );
  assert.deepEqual(s.heads, ["100", "200", "200", "204", "304", "200", "200"]);
  assert.deepEqual(s.data.slice(0, 6), [
    "ok",
    "",
    "",
    "",
    "hi",
    "until the end",
  ]);
  assert.equal(s.ends, 6);
  const up = everyCut(
    "response",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi",
    ["GET"],
  );
  assert.equal(up.raw, "\x81\x02hi");
});

Deno.test("framing fields as they come: case, spaces, lists", () => {
  const s = everyCut(
    "response",
    "HTTP/1.1 200 OK\r\ncontent-LENGTH: \t2 \r\n\r\nok" +
      "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc" +
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip , Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n" +
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nto the end",
    ["GET", "GET", "GET", "GET"],
    true,
  );
  assert.deepEqual(s.data.slice(0, 4), ["ok", "abc", "x", "to the end"]);
  assert.equal(s.ends, 4);
  const r = everyCut(
    "request",
    "GET /a HTTP/1.1\r\nhost: x\r\nCONNECTION: close ,UPGRADE\r\nupgrade: x\r\n\r\nraw",
  );
  assert.equal(r.raw, "raw");
  const m = everyCut(
    "request",
    "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\nPROPFIND / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n!",
  );
  assert.deepEqual(m.heads, ["OPTIONS *", "PROPFIND /"]);
});

Deno.test("refused: smuggling shapes, bad framing, bare LF, folding, oversize heads", () => {
  const bad: Array<[string, number]> = [
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      400,
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
      400,
    ],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\n", 400],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      400,
    ],
    ["GET / HTTP/1.1\nHost: x\n\n", 400],
    ["GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400],
    ["GET /\r\n\r\n", 400],
    // Request lines: one space each side of a target with no whitespace,
    // a token method, exactly HTTP/1.0 or HTTP/1.1.
    ["GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ["GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ["GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ["GET /a\xa0b HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ["G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ["GET / HTTP/1.2\r\nHost: x\r\n\r\n", 400],
    ["GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400],
    ["GET / http/1.1\r\nHost: x\r\n\r\n", 400],
    [" GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ["GET HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ["\x16\x03\x01\x00\x05hello\r\n\r\n", 400],
    ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400],
    ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", 400],
    [`GET / HTTP/1.1\r\nX: ${"a".repeat(40_000)}\r\n\r\n`, 431],
  ];
  for (const [text, status] of bad) {
    for (const cut of [0, 1, 7]) {
      assert.throws(
        () => run("request", text, cut),
        (e: unknown) => e instanceof Http1Error && e.status === status,
        `${JSON.stringify(text.slice(0, 60))} cut ${cut}`,
      );
    }
  }
  // Duplicate identical Content-Lengths are one length (RFC 9112 §6.3).
  const ok = run(
    "request",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
  );
  assert.deepEqual(ok.data.slice(0, 1), ["hi"]);
});

Deno.test("a message cut off by EOF is reported; a close-delimited one ends", () => {
  const p = new Http1Parser("request");
  p.push(
    encoder.encode("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"),
    () => {},
  );
  assert.throws(() => p.end(() => {}), Http1Error);
});
