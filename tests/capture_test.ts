/**
 * The capture's bounds, in process: the arena's byte limit (the oldest
 * pieces go), pieces per message whatever the chunking, and framing the
 * tap cannot trust (it stops watching; traffic is never its business).
 */

import assert from "node:assert/strict";
import { BLOCK_SIZE, CaptureArena, PIECE } from "../lib/inspector/arena.ts";
import { ConnectionTap, MAX_PIECES } from "../lib/inspector/capture.ts";
import { CaptureStore, MAX_CAPTURE_BYTES } from "../lib/inspector/store.ts";
import { logLine } from "../lib/inspector/log.ts";
import { encoder } from "./helpers.ts";

Deno.test("the arena holds at most its limit: past it the oldest pieces are gone, the newest intact", () => {
  const arena = new CaptureArena(MAX_CAPTURE_BYTES);
  const piece = new Uint8Array(64 * 1024);
  const kept: Array<{ pieces: number[]; byte: number }> = [];
  // 100 MiB through a 64 MiB arena.
  for (let i = 0; i < 1600; i++) {
    piece.fill(i & 0xff);
    const pieces: number[] = [];
    arena.write(piece, 0, piece.length, pieces, PIECE.BODY);
    kept.push({ pieces, byte: i & 0xff });
  }
  assert.equal(arena.size, MAX_CAPTURE_BYTES);
  // The first 36 MiB (and then some of the block being reused) are gone.
  for (const k of kept.slice(0, 576)) {
    assert.equal(arena.holds(k.pieces), false);
  }
  // The last 60 MiB are there, byte for byte.
  for (const k of kept.slice(-960)) {
    assert.equal(arena.holds(k.pieces), true);
    const text = arena.text(k.pieces, [PIECE.BODY])!;
    assert.equal(text.length, piece.length);
    assert.equal(text, String.fromCharCode(k.byte).repeat(piece.length));
  }
  assert.equal(BLOCK_SIZE, 1024 * 1024);
});

/** A request then its answer through a tap; the store's captures after. */
function exchange(tap: ConnectionTap, request: string, response: string) {
  tap.fromVisitor(encoder.encode(request));
  tap.fromApp(encoder.encode(response));
}

Deno.test("a body of 1-byte chunks is one piece in the capture, its payload intact", () => {
  const store = new CaptureStore({ rate: 0 });
  const tap = new ConnectionTap(store, "127.0.0.1:1");
  const payload = "abcdefghij".repeat(10_000); // 600 KB on the wire
  tap.fromVisitor(encoder.encode(
    "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
  ));
  // Fed one chunk (6 bytes) at a time, as a visitor may send them.
  for (const c of payload) tap.fromVisitor(encoder.encode(`1\r\n${c}\r\n`));
  tap.fromVisitor(encoder.encode("0\r\n\r\n"));
  tap.fromApp(encoder.encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  const [c] = store.list();
  assert.ok(c);
  assert.equal(c.request.bodySize, payload.length);
  assert.equal(c.request.truncated, false);
  assert.equal(c.request.body, payload);
  assert.equal(c.request.rawBody.length, payload.length * 6 + 5);
  assert.equal(c.response!.body, "ok");
});

Deno.test("pieces per message are bounded: past them the capture says truncated", () => {
  // A body written between other traffic into the arena (each piece lands
  // apart from the last): at most MAX_PIECES pieces are kept.
  const store = new CaptureStore({ rate: 0 });
  const tap = new ConnectionTap(store, "127.0.0.1:1");
  const other = new ConnectionTap(store, "127.0.0.1:2");
  tap.fromVisitor(encoder.encode(
    "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
  ));
  other.fromVisitor(encoder.encode(
    "POST /q HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
  ));
  for (let i = 0; i < 1000; i++) {
    tap.fromVisitor(encoder.encode("a"));
    other.fromVisitor(encoder.encode("b"));
  }
  tap.fromApp(encoder.encode("HTTP/1.1 204 No Content\r\n\r\n"));
  const [c] = store.list();
  assert.ok(c);
  assert.equal(c.request.bodySize, 1000);
  assert.equal(c.request.truncated, true);
  assert.equal(c.request.body, "a".repeat(MAX_PIECES - 1));
});

Deno.test("two different Content-Lengths in an answer: the tap stops watching, harmlessly", () => {
  // The capture-only parser frames what the app already sent; it never
  // changes or delays bytes. On framing it cannot trust it just stops.
  const store = new CaptureStore({ rate: 0 });
  const tap = new ConnectionTap(store, "127.0.0.1:1");
  exchange(
    tap,
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
  );
  assert.equal(store.list().length, 1);
  exchange(
    tap,
    "GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
  );
  exchange(
    tap,
    "GET /c HTTP/1.1\r\nHost: x\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
  );
  tap.end();
  // Only /a: from the bad answer on, nothing on this connection.
  assert.deepEqual(store.list().map((c) => c.request.head.target), ["/a"]);
});

Deno.test("the request log strips C0 and C1 controls from a path (no terminal escapes)", () => {
  const store = new CaptureStore({ rate: 0 });
  const tap = new ConnectionTap(store, "127.0.0.1:1");
  // ESC [ 2 J (C0), CSI as one C1 byte (0x9B), NEL (0x85): as latin1 bytes.
  const path = "/a\x1b[2Jb\x9b2Jc\x85d";
  tap.fromVisitor(Uint8Array.from(
    `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`,
    (ch) => ch.charCodeAt(0),
  ));
  tap.fromApp(encoder.encode("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  const [c] = store.list();
  assert.ok(c);
  const plain = (t: string) => t;
  const line = logLine(c, "new", {
    green: plain,
    yellow: plain,
    red: plain,
    dim: plain,
  });
  assert.match(line, / GET \/a\?\[2Jb\?2Jc\?d /);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(line, /[\x00-\x1f\x7f-\x9f]/);
});
