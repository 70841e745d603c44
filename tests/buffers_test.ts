import assert from "node:assert/strict";
import {
  acquire,
  GrowingBuffer,
  HEADROOM,
  release,
  SIZES,
} from "../lib/net/buffers.ts";
import { DATA_HEADER_SIZE } from "../lib/wire/mux/frames.ts";

Deno.test("pooled buffers of a level all have one length, whoever released them", () => {
  for (let level = 0; level < SIZES.length; level++) {
    const a = acquire(level);
    assert.equal(a.length, HEADROOM + SIZES[level]!);
    release(level, a);
    const b = acquire(level);
    assert.equal(b, a, "reused");
    assert.equal(b.length, HEADROOM + SIZES[level]!);
    release(level, b);
  }
});

Deno.test("the headroom is exactly a DATA header (net/ does not import the wire)", () => {
  assert.equal(HEADROOM, DATA_HEADER_SIZE);
});

Deno.test("a read buffer grows while reads fill it, waits small once the socket drained, and comes straight back", () => {
  const g = new GrowingBuffer();
  const size = () => g.buf.length - HEADROOM;
  assert.equal(size(), SIZES[0]);
  // A bulk transfer: each full read moves up one size, to the largest.
  for (let level = 1; level < SIZES.length; level++) {
    g.read(g.buf.length);
    assert.equal(size(), SIZES[level]);
  }
  g.read(g.buf.length);
  assert.equal(size(), SIZES[SIZES.length - 1], "no size past the largest");
  // The transfer's last, short read: the next read (which may wait long)
  // waits in the smallest buffer.
  g.read(100);
  assert.equal(size(), SIZES[0]);
  g.read(10);
  assert.equal(size(), SIZES[0]);
  // More comes: a full small read brings the largest size back at once.
  g.read(g.buf.length);
  assert.equal(size(), SIZES[SIZES.length - 1]);
  g.release();
});
