import assert from "node:assert/strict";
import { acquire, HEADROOM, release, SIZES } from "../lib/net/buffers.ts";
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
