import assert from "node:assert/strict";
import {
  type ControlMessage,
  type DecoderSink,
  encodeData,
  encodeOpen,
  encodeOpenConfirm,
  encodeRecipientOnly,
  encodeWindowAdjust,
  FrameDecoder,
  MSG_CLOSE,
  MSG_EOF,
  MSG_OPEN_FAILURE,
} from "../lib/wire/mux/frames.ts";
import { ProtocolError } from "../lib/wire/mux/errors.ts";
import { sha256 } from "./helpers.ts";

type Event = Record<string, unknown>;

const NAMES: Record<number, string> = {
  100: "OPEN",
  101: "OPEN_CONFIRM",
  102: "OPEN_FAILURE",
  103: "WINDOW_ADJUST",
  104: "DATA",
  105: "EOF",
  106: "CLOSE",
};

/** Decodes `stream` fed in the given chunk sizes; DATA payloads reassembled. */
function decode(stream: Uint8Array, cuts: number[]): Event[] {
  const events: Event[] = [];
  let payload: Uint8Array[] = [];
  let got = 0;
  let current: Event | null = null;
  const finishData = () => {
    if (current && got === current.length) {
      current.sha256_prefix = sha256(...payload).slice(0, 16);
      current = null;
      payload = [];
      got = 0;
    }
  };
  const sink: DecoderSink = {
    message(msg: ControlMessage) {
      events.push({ name: NAMES[msg.type], ...msg });
    },
    dataHeader(recipient, length) {
      current = { type: 104, name: "DATA", recipient, length };
      events.push(current);
      finishData();
    },
    data(_recipient, chunk) {
      payload.push(chunk.slice());
      got += chunk.length;
      finishData();
    },
  };
  const d = new FrameDecoder();
  let at = 0;
  for (const n of cuts) {
    d.feed(stream.subarray(at, at + n), sink);
    at += n;
  }
  d.feed(stream.subarray(at), sink);
  assert.ok(d.atBoundary, "stream ends between messages");
  return events;
}

const fixtures = JSON.parse(
  await Deno.readTextFile(
    new URL("./fixtures/original-session.json", import.meta.url),
  ),
) as Record<string, { head_bytes: number; head: string; messages: Event[] }>;

async function fixture(name: string) {
  const bytes = await Deno.readFile(
    new URL(`./fixtures/${name}`, import.meta.url),
  );
  const f = fixtures[name]!;
  assert.equal(
    new TextDecoder().decode(bytes.subarray(0, f.head_bytes)),
    f.head,
  );
  return { stream: bytes.subarray(f.head_bytes), expected: f.messages };
}

function normalize(events: Event[]): Event[] {
  return events.map((e) => {
    const out: Event = {};
    for (const [k, v] of Object.entries(e)) if (k !== "nonce") out[k] = v;
    return out;
  });
}

for (
  const name of [
    "original-client-to-server.bin",
    "original-server-to-client.bin",
  ]
) {
  Deno.test(`decoder reads ${name} into the recorded messages, in one piece`, async () => {
    const { stream, expected } = await fixture(name);
    assert.deepEqual(normalize(decode(stream, [])), expected);
  });

  Deno.test(`decoder reads ${name} split at every byte boundary`, async () => {
    const { stream, expected } = await fixture(name);
    for (let cut = 1; cut < stream.length; cut++) {
      assert.deepEqual(
        normalize(decode(stream, [cut])),
        expected,
        `cut at ${cut}`,
      );
    }
    // And one byte at a time.
    assert.deepEqual(
      normalize(decode(stream, new Array(stream.length).fill(1))),
      expected,
    );
  });

  Deno.test(`decoder reads ${name} in 500 random chunkings`, async () => {
    const { stream, expected } = await fixture(name);
    let seed = 12345;
    const rand = () =>
      (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let round = 0; round < 500; round++) {
      const cuts: number[] = [];
      for (let left = stream.length; left > 0;) {
        const n = 1 + Math.floor(rand() * 40);
        cuts.push(n);
        left -= n;
      }
      assert.deepEqual(
        normalize(decode(stream, cuts)),
        expected,
        `round ${round}`,
      );
    }
  });
}

Deno.test("encoders produce the bytes the original sends", async () => {
  const { stream } = await fixture("original-server-to-client.bin");
  // The stream starts OPEN(0, 2 MiB, 32 KiB), as the Go server sent it.
  assert.deepEqual(encodeOpen(0, 2097152, 32768), stream.subarray(0, 13));
  const client = await fixture("original-client-to-server.bin");
  assert.deepEqual(
    encodeOpenConfirm(0, 0, 2097152, 32768),
    client.stream.subarray(0, 17),
  );
  assert.deepEqual(encodeWindowAdjust(0, 89), client.stream.subarray(17, 26));
});

Deno.test("a large DATA frame split anywhere reassembles byte-exact", () => {
  const payload = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
  const stream = new Uint8Array([
    ...encodeData(3, payload),
    ...encodeRecipientOnly(MSG_EOF, 3),
    ...encodeRecipientOnly(MSG_CLOSE, 3),
  ]);
  for (const chunk of [1, 2, 8, 9, 10, 4095, 65536, 99_999]) {
    const cuts = new Array(Math.ceil(stream.length / chunk)).fill(chunk);
    const events = decode(stream, cuts);
    assert.equal(events.length, 3);
    assert.equal(events[0]!.sha256_prefix, sha256(payload).slice(0, 16));
    assert.equal(events[1]!.name, "EOF");
    assert.equal(events[2]!.name, "CLOSE");
  }
});

Deno.test("decoder hands out payload without waiting for the whole frame", () => {
  const d = new FrameDecoder();
  const got: number[] = [];
  const sink: DecoderSink = {
    message() {},
    dataHeader() {},
    data(_r, chunk) {
      got.push(chunk.length);
    },
  };
  // A header claiming 2 GiB allocates nothing; payload flows as it comes.
  const header = new Uint8Array([104, 0, 0, 0, 1, 0x80, 0, 0, 0]);
  d.feed(header, sink);
  d.feed(new Uint8Array(1000), sink);
  assert.deepEqual(got, [1000]);
  assert.equal(d.atBoundary, false);
});

Deno.test("decoder rejects an unknown message type with a ProtocolError", () => {
  const d = new FrameDecoder();
  const sink: DecoderSink = { message() {}, dataHeader() {}, data() {} };
  assert.throws(
    () => d.feed(new Uint8Array([MSG_OPEN_FAILURE, 0, 0, 0, 1, 99]), sink),
    (e) =>
      e instanceof ProtocolError && /Unknown message type: 99/.test(e.message),
  );
  // PING is unknown until negotiated.
  assert.throws(
    () => new FrameDecoder().feed(new Uint8Array([107, 0, 0, 0, 0]), sink),
    ProtocolError,
  );
});
