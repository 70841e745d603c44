import assert from "node:assert/strict";
import {
  DEFAULT_INITIAL_WINDOW,
  DEFAULT_WINDOW,
  Session,
} from "../lib/wire/mux/session.ts";
import {
  ChannelClosedError,
  OpenFailedError,
  ProtocolError,
  SessionClosedError,
} from "../lib/wire/mux/errors.ts";
import type { Channel } from "../lib/wire/mux/channel.ts";
import {
  encodeData,
  encodeOpen,
  encodeOpenConfirm,
  encodeRecipientOnly,
  encodeWindowAdjust,
  MSG_CLOSE,
} from "../lib/wire/mux/frames.ts";
import {
  decoder,
  drain,
  encoder,
  pump,
  readAll,
  sessionPair,
  socketPair,
  within,
} from "./helpers.ts";

const MiB = 1024 * 1024;

Deno.test("open and accept carry bytes both ways with half-close", async () => {
  const [a, b] = await sessionPair();
  const [ca, cb] = await Promise.all([a.open(), b.accept()]);
  assert.ok(cb);
  await ca.write(encoder.encode("ping"));
  await ca.closeWrite();
  // After our EOF the peer reads to null but can still answer.
  assert.equal(decoder.decode(await readAll(cb)), "ping");
  await cb.write(encoder.encode("pong"));
  await cb.closeWrite();
  assert.equal(decoder.decode(await readAll(ca)), "pong");
  // Writing after our own EOF is an error.
  await assert.rejects(ca.write(encoder.encode("x")), ChannelClosedError);
  ca.close();
  cb.close();
  await within(2000, Promise.all([ca.closed, cb.closed]), "close handshake");
  assert.equal(a.channelCount, 0);
  assert.equal(b.channelCount, 0);
  a.close();
  b.close();
});

Deno.test("a channel used after close rejects with ChannelClosedError", async () => {
  const [a, b] = await sessionPair();
  const [ca, cb] = await Promise.all([a.open(), b.accept()]);
  ca.close();
  await assert.rejects(ca.read(new Uint8Array(1)), ChannelClosedError);
  await assert.rejects(ca.write(new Uint8Array(1)), ChannelClosedError);
  // The peer sees the close: reads end, writes fail.
  assert.equal(await cb!.read(new Uint8Array(1)), null);
  await assert.rejects(cb!.write(new Uint8Array(1)), ChannelClosedError);
  a.close();
  b.close();
});

Deno.test("close while the peer is blocked reading and writing unblocks both", async () => {
  const [a, b] = await sessionPair({}, { window: 64 * 1024 });
  const [ca, cb] = await Promise.all([a.open(), b.accept()]);
  const reading = cb!.read(new Uint8Array(10));
  // A writes more than B's window: the write blocks waiting for window.
  const writing = ca.write(new Uint8Array(1 * MiB));
  await new Promise((r) => setTimeout(r, 50));
  ca.close();
  await within(
    2000,
    assert.rejects(writing, ChannelClosedError),
    "blocked write",
  );
  // B had data queued; it reads what it got, then null after the peer's CLOSE.
  const n = await within(2000, reading, "blocked read");
  assert.equal(n, 10);
  a.close();
  b.close();
});

Deno.test("channels opened at the same time by both sides are all delivered", async () => {
  const [a, b] = await sessionPair();
  const opened = await Promise.all([a.open(), b.open(), a.open(), b.open()]);
  const acceptedByA = [await a.accept(), await a.accept()];
  const acceptedByB = [await b.accept(), await b.accept()];
  assert.equal(opened.length, 4);
  assert.ok(acceptedByA.every(Boolean) && acceptedByB.every(Boolean));
  // Each opened channel talks to its accepted twin.
  await opened[0]!.write(encoder.encode("a0"));
  await opened[0]!.closeWrite();
  assert.equal(decoder.decode(await readAll(acceptedByB[0]!)), "a0");
  a.close();
  b.close();
});

Deno.test("1,000 channels at once each echo their own bytes", async () => {
  const [a, b] = await sessionPair();
  const echo = (async () => {
    for await (const ch of b) {
      (async () => {
        const data = await readAll(ch);
        await ch.write(data);
        await ch.closeWrite();
        ch.close();
      })();
    }
  })();
  const started = performance.now();
  await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
    const ch = await a.open();
    const msg = encoder.encode(`channel ${i} `.repeat(1 + (i % 50)));
    await ch.write(msg);
    await ch.closeWrite();
    const back = await readAll(ch);
    assert.deepEqual(back, msg);
    ch.close();
  }));
  assert.ok(performance.now() - started < 20_000);
  a.close();
  await echo;
  b.close();
});

/**
 * Streams `bytes` one way in `block`-sized writes and reads: many transfers
 * run at once, so none holds much.
 */
async function transfer(
  from: Channel,
  to: Channel,
  bytes: number,
  seed: number,
  block = 64 * 1024,
) {
  const [sent, got] = await Promise.all([
    pump(from, bytes, seed, block).then(async (h) => {
      await from.closeWrite();
      return h;
    }),
    drain(to, block),
  ]);
  assert.equal(got.length, bytes);
  assert.equal(got.sha256, sent);
}

Deno.test("256 MiB through one channel each way arrive byte-exact (SHA-256)", async () => {
  const [a, b] = await sessionPair();
  const [ca, cb] = await Promise.all([a.open(), b.accept()]);
  await within(
    120_000,
    Promise.all([
      transfer(ca, cb!, 256 * MiB, 1),
      transfer(cb!, ca, 256 * MiB, 2),
    ]),
    "256 MiB each way",
  );
  a.close();
  b.close();
});

Deno.test("16 × 16 MiB through parallel channels both ways arrive byte-exact", async () => {
  const [a, b] = await sessionPair();
  await within(
    120_000,
    Promise.all(Array.from({ length: 16 }, async (_, i) => {
      const [ca, cb] = await Promise.all([a.open(), b.accept()]);
      await Promise.all([
        transfer(ca, cb!, 16 * MiB, 10 + i),
        transfer(cb!, ca, 16 * MiB, 100 + i),
      ]);
    })),
    "16 × 16 MiB",
  );
  a.close();
  b.close();
});

Deno.test("the original's window and packet sizes are honoured and sufficient", async () => {
  // B advertises what the Go peer does: 2 MiB window, 32 KiB packets.
  const [a, b] = await sessionPair({}, {
    window: 2 * MiB,
    maxPacket: 32 * 1024,
  });
  const [ca, cb] = await Promise.all([a.open(), b.accept()]);
  await transfer(ca, cb!, 16 * MiB, 7);
  a.close();
  b.close();
});

Deno.test("a stalled reader holds at most its window and does not block another channel", async () => {
  const window = 256 * 1024;
  const [a, b] = await sessionPair({}, { window });
  const [slowA, slowB] = await Promise.all([a.open(), b.accept()]);
  const [fastA, fastB] = await Promise.all([a.open(), b.accept()]);
  // Nobody reads slowB: this write fills the window and then waits.
  let slowWritten = false;
  const slowWrite = slowA.write(new Uint8Array(64 * MiB)).then(
    () => slowWritten = true,
    () => {},
  );
  await within(
    30_000,
    transfer(fastA, fastB!, 32 * MiB, 3),
    "fast channel beside a stalled one",
  );
  assert.equal(slowWritten, false);
  assert.ok(
    slowB!.bytesRead <= window,
    `stalled reader holds ${slowB!.bytesRead} bytes`,
  );
  assert.ok(slowA.bytesWritten <= window);
  // Reading the slow channel lets it finish.
  const drained = drain(slowB!);
  await within(30_000, slowWrite, "slow write after its reader started");
  await slowA.closeWrite();
  assert.equal((await drained).length, 64 * MiB);
  a.close();
  b.close();
});

Deno.test("writes of many channels interleave: a big write does not starve a small one", async () => {
  const [a, b] = await sessionPair();
  const [bigA, bigB] = await Promise.all([a.open(), b.accept()]);
  const [smallA, smallB] = await Promise.all([a.open(), b.accept()]);
  const bigDone = drain(bigB!);
  const bigWrite = bigA.write(new Uint8Array(128 * MiB));
  // While 128 MiB are queued on one channel, a small message gets through early.
  await new Promise((r) => setTimeout(r, 5));
  await smallA.write(encoder.encode("hello"));
  const buf = new Uint8Array(5);
  assert.equal(await within(5000, smallB!.read(buf), "small read"), 5);
  assert.ok(
    bigA.bytesWritten < 128 * MiB,
    "the small message overtook the big write",
  );
  await bigWrite;
  await bigA.closeWrite();
  assert.equal((await bigDone).length, 128 * MiB);
  a.close();
  b.close();
});

Deno.test("stress: 200 channels of random sizes both ways, all byte-exact", async () => {
  const [a, b] = await sessionPair({ window: 128 * 1024 }, {
    window: 128 * 1024,
    maxPacket: 4096,
  });
  let seed = 99;
  const rand = (n: number) =>
    (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  const sizes = Array.from({ length: 200 }, () => rand(2 * MiB));
  await within(
    60_000,
    Promise.all(sizes.map(async (size, i) => {
      const [ca, cb] = await Promise.all([a.open(), b.accept()]);
      await Promise.all([
        transfer(ca, cb!, size, i, 16 * 1024),
        transfer(cb!, ca, size >> 1, i + 1000, 16 * 1024),
      ]);
      ca.close();
      cb!.close();
    })),
    "stress",
  );
  await within(
    2000,
    (async () => {
      while (a.channelCount || b.channelCount) {
        await new Promise((r) => setTimeout(r, 10));
      }
    })(),
    "all channels released",
  );
  a.close();
  b.close();
});

Deno.test("connection loss mid-transfer fails every channel promptly", async () => {
  const [x, y] = await socketPair();
  const a = new Session(x), b = new Session(y);
  const pairs = await Promise.all(
    Array.from({ length: 8 }, () => Promise.all([a.open(), b.accept()])),
  );
  const work = pairs.map(([ca, cb]) =>
    Promise.allSettled([pump(ca, 512 * MiB, 1), drain(cb!)])
  );
  await new Promise((r) => setTimeout(r, 100));
  y.close(); // the socket dies under B
  const results = await within(
    5000,
    Promise.all(work),
    "channels after connection loss",
  );
  for (const [w, r] of results) {
    assert.equal(w.status, "rejected");
    assert.equal(r.status, "rejected");
    assert.ok(
      (w as PromiseRejectedResult).reason instanceof SessionClosedError,
    );
  }
  const why = await within(2000, a.closed, "session end");
  assert.ok(why instanceof SessionClosedError);
  a.close();
  b.close();
});

Deno.test("a closed session frees its channels and refuses new work", async () => {
  const [a, b] = await sessionPair();
  await Promise.all([a.open(), b.accept(), a.open(), b.accept()]);
  assert.equal(a.channelCount, 2);
  const accepting = a.accept();
  a.close();
  assert.equal(a.channelCount, 0);
  assert.equal(await accepting, null);
  await assert.rejects(a.open(), SessionClosedError);
  assert.equal(await within(2000, b.accept(), "accept after peer left"), null);
  assert.match((await b.closed).message, /closed by peer/);
});

Deno.test("open is refused with OpenFailedError by a peer that does not accept", async () => {
  const [a, b] = await sessionPair({}, { acceptChannels: false });
  await assert.rejects(a.open(), OpenFailedError);
  assert.equal(a.channelCount, 0);
  assert.equal(a.isClosed, false);
  a.close();
  b.close();
});

Deno.test("open times out against a silent peer, and a late CONFIRM is closed", async () => {
  const [x, y] = await socketPair();
  const a = new Session(x, { openTimeout: 200 });
  await assert.rejects(a.open(), OpenFailedError);
  // The peer finally confirms: A must answer CLOSE, not hand out a channel.
  await y.write(encodeOpenConfirm(0, 7, 1024, 1024));
  const buf = new Uint8Array(64);
  const seen: number[] = [];
  while (!seen.includes(MSG_CLOSE)) {
    const n = await within(2000, y.read(buf), "CLOSE after late confirm");
    assert.ok(n);
    seen.push(...buf.subarray(0, n!));
  }
  assert.equal(a.isClosed, false);
  a.close();
  y.close();
});

/** A session facing a hand-written peer on a raw socket. */
async function forged(options = {}) {
  const [x, y] = await socketPair();
  const session = new Session(x, options);
  const acceptedP = session.accept();
  await y.write(encodeOpen(5, 1024 * 1024, 32768));
  const ch = (await acceptedP)!;
  const reply = new Uint8Array(17);
  let got = 0;
  while (got < 17) got += (await y.read(reply.subarray(got)))!;
  assert.equal(reply[0], 101);
  return { session, peer: y, ch };
}

async function assertViolation(session: Session, pattern: RegExp) {
  const why = await within(2000, session.closed, "session end");
  assert.ok(why.cause instanceof ProtocolError, `cause: ${why.cause}`);
  assert.match(why.message, pattern);
}

Deno.test("bad input: an unknown message type ends only that session", async () => {
  const { session, peer, ch } = await forged();
  const other = await sessionPair();
  await peer.write(new Uint8Array([200, 0, 0, 0, 0]));
  await assertViolation(session, /Unknown message type: 200/);
  await assert.rejects(ch.read(new Uint8Array(1)), SessionClosedError);
  // The connection is closed: the peer reads EOF.
  assert.equal(await within(2000, peer.read(new Uint8Array(10)), "EOF"), null);
  // Another session is untouched.
  const [c1, c2] = await Promise.all([other[0].open(), other[1].accept()]);
  await c1.write(encoder.encode("ok"));
  assert.equal(await c2!.read(new Uint8Array(2)), 2);
  other[0].close();
  other[1].close();
  peer.close();
});

Deno.test("bad input: DATA beyond the granted window ends the session", async () => {
  const { session, peer } = await forged({ window: 1000, maxPacket: 32768 });
  await peer.write(encodeData(0, new Uint8Array(1001)));
  await assertViolation(session, /exceeds window 1000/);
  peer.close();
});

Deno.test("bad input: DATA above the max packet size ends the session", async () => {
  const { session, peer } = await forged({ maxPacket: 1024 });
  await peer.write(encodeData(0, new Uint8Array(1025)));
  await assertViolation(session, /exceeds max packet 1024/);
  peer.close();
});

Deno.test("bad input: a 2 GiB length field is refused before anything is allocated", async () => {
  const { session, peer } = await forged();
  const before = Deno.memoryUsage().rss;
  await peer.write(new Uint8Array([104, 0, 0, 0, 0, 0x80, 0, 0, 0, 1, 2, 3]));
  await assertViolation(session, /2147483648 bytes exceeds max packet/);
  assert.ok(Deno.memoryUsage().rss - before < 64 * MiB);
  peer.close();
});

Deno.test("bad input: a message for a channel that never existed ends the session", async () => {
  const { session, peer } = await forged();
  await peer.write(encodeWindowAdjust(42, 10));
  await assertViolation(session, /channel 42, which never existed/);
  peer.close();
});

Deno.test("bad input: a window adjust past 2^32-1 ends the session", async () => {
  const { session, peer } = await forged();
  await peer.write(encodeWindowAdjust(0, 0xffffffff));
  await assertViolation(session, /Window overflow/);
  peer.close();
});

Deno.test("bad input: the connection ending inside a message is reported", async () => {
  const { session, peer } = await forged();
  await peer.write(new Uint8Array([104, 0, 0, 0, 0, 0, 0, 0, 100, 1, 2]));
  peer.close();
  const why = await within(2000, session.closed, "session end");
  assert.match(why.message, /inside a message/);
});

Deno.test("messages crossing a CLOSE on the wire are dropped quietly", async () => {
  const { session, peer, ch } = await forged();
  ch.close(); // we send CLOSE(5); the peer has not seen it yet
  // The peer's DATA, WINDOW_ADJUST and EOF were already on their way.
  await peer.write(
    new Uint8Array([
      ...encodeData(0, encoder.encode("late")),
      ...encodeWindowAdjust(0, 100),
      ...encodeRecipientOnly(105, 0),
      ...encodeRecipientOnly(MSG_CLOSE, 0),
    ]),
  );
  await within(2000, ch.closed, "close handshake");
  assert.equal(session.isClosed, false);
  assert.equal(session.channelCount, 0);
  // The session still works: a new channel opens.
  const next = session.accept();
  await peer.write(encodeOpen(6, 1024, 1024));
  assert.ok(await within(2000, next, "accept after crossing"));
  session.close();
  peer.close();
});

Deno.test("an OPEN with an invalid max packet is refused, not fatal", async () => {
  const [x, y] = await socketPair();
  const session = new Session(x);
  await y.write(encodeOpen(1, 1024, 3));
  const buf = new Uint8Array(5);
  let got = 0;
  while (got < 5) got += (await y.read(buf.subarray(got)))!;
  assert.deepEqual(buf, encodeRecipientOnly(102, 1));
  assert.equal(session.isClosed, false);
  session.close();
  y.close();
});

Deno.test("negotiated ping: a silent peer is detected within the timeout", async () => {
  const [x, y] = await socketPair();
  const a = new Session(x);
  a.enablePing({ interval: 50, timeout: 300 });
  const started = performance.now();
  // y never answers (but keeps the socket open): A must give up.
  const why = await within(3000, a.closed, "ping timeout");
  assert.match(why.message, /silent/);
  assert.ok(performance.now() - started >= 250);
  y.close();
});

Deno.test("negotiated ping keeps a live session up", async () => {
  const [a, b] = await sessionPair();
  a.enablePing({ interval: 50, timeout: 300 });
  b.enablePing({ interval: 50, timeout: 300 });
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(a.isClosed, false);
  assert.equal(b.isClosed, false);
  a.close();
  b.close();
});

Deno.test("windows start small and grow only for a reader that keeps up", async () => {
  const [a, b] = await sessionPair();
  const [stallA, stallB] = await Promise.all([a.open(), b.accept()]);
  const [fastA, fastB] = await Promise.all([a.open(), b.accept()]);
  // Never read: only the initial window arrives.
  stallA.write(new Uint8Array(16 * MiB)).catch(() => {});
  // Read 16 MiB promptly, then stop reading while the writer goes on.
  fastA.write(new Uint8Array(64 * MiB)).catch(() => {});
  const buf = new Uint8Array(256 * 1024);
  let consumed = 0;
  while (consumed < 16 * MiB) consumed += (await fastB!.read(buf))!;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(stallB!.bytesRead, DEFAULT_INITIAL_WINDOW);
  const held = fastB!.bytesRead - consumed;
  assert.ok(
    held > 1 * MiB && held <= DEFAULT_WINDOW,
    `the fast reader's window holds ${held} bytes`,
  );
  a.close();
  b.close();
});
