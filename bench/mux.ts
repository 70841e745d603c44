/**
 * The multiplexer alone over loopback, sender and receiver in two processes:
 * throughput of one channel and of 16 in parallel, for several window and
 * max-packet sizes (the receiver's, which bound the sender), and the memory
 * a stalled reader costs. `deno task bench:mux`
 */

import { parseArgs } from "node:util";
import { Session } from "../lib/wire/mux/session.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    peer: { type: "string" },
    window: { type: "string" },
    packet: { type: "string" },
    stall: { type: "boolean" },
    fixed: { type: "boolean" },
  },
});
const MiB = 1024 * 1024;

if (values.peer) {
  // Receiver: accept channels; drain each and answer with its byte count,
  // or (--stall) never read, and report RSS when asked.
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: Number(values.peer),
  });
  conn.setNoDelay(true);
  const window = Number(values.window);
  const session = new Session(conn, {
    window,
    maxPacket: Number(values.packet),
    // --fixed: the whole window from the start, as the original grants it.
    ...(values.fixed ? { initialWindow: window } : {}),
  });
  const rss = () =>
    Number(
      /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1],
    ) * 1024;
  const base = rss();
  for await (const ch of session) {
    if (values.stall) {
      // The first byte of each channel is read only to tell the parent it
      // arrived; the rest stays unread.
      (async () => {
        const one = new Uint8Array(1);
        await ch.read(one);
        if (one[0] !== 0x3f) return;
        await ch.write(new TextEncoder().encode(String(rss() - base)));
        await ch.closeWrite();
      })();
      continue;
    }
    (async () => {
      let n = 0;
      for (;;) {
        const chunk = await ch.readChunk();
        if (chunk === null) break;
        n += chunk.length;
      }
      await ch.write(new TextEncoder().encode(String(n)));
      await ch.closeWrite();
    })();
  }
  Deno.exit(0);
}

async function withPeer<T>(
  window: number,
  packet: number,
  stall: boolean | "fixed",
  body: (s: Session) => Promise<T>,
): Promise<T> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--peer",
      String(listener.addr.port),
      "--window",
      String(window),
      "--packet",
      String(packet),
      ...(stall === true ? ["--stall"] : stall === "fixed" ? ["--fixed"] : []),
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const conn = await listener.accept();
  conn.setNoDelay(true);
  listener.close();
  const session = new Session(conn);
  try {
    return await body(session);
  } finally {
    session.close();
    child.kill();
    await child.status;
  }
}

async function answer(
  ch: { readChunk(): Promise<Uint8Array | null> },
): Promise<string> {
  let text = "";
  for (;;) {
    const c = await ch.readChunk();
    if (c === null) return text;
    text += new TextDecoder().decode(c);
  }
}

async function send(
  s: Session,
  channels: number,
  bytes: number,
): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: channels }, async () => {
    // One buffer per channel: writeFramed writes each frame's header into it.
    const block = new Uint8Array(9 + 256 * 1024).fill(7);
    const ch = await s.open();
    for (let left = bytes; left > 0;) {
      const n = Math.min(left, 256 * 1024);
      await ch.writeFramed(block, n);
      left -= n;
    }
    await ch.closeWrite();
    const got = Number(await answer(ch));
    if (got !== bytes) throw new Error(`received ${got} of ${bytes}`);
    ch.close();
  }));
  return (channels * bytes) / ((performance.now() - started) / 1000) / 1e6;
}

// The original grants a fixed window; ours start at 256 KiB and grow.
const configs: Array<[string, number, number, false | "fixed"]> = [
  ["original: fixed 2 MiB window, 32 KiB packets", 2 * MiB, 32 * 1024, "fixed"],
  ["growing to 1 MiB, 256 KiB packets", 1 * MiB, 256 * 1024, false],
  ["ours: growing to 4 MiB, 256 KiB packets", 4 * MiB, 256 * 1024, false],
  ["growing to 16 MiB, 256 KiB packets", 16 * MiB, 256 * 1024, false],
];
console.log(
  "| receiver's window and max packet | 1 channel × 1 GiB | 16 channels × 64 MiB |",
);
console.log("|---|---|---|");
for (const [name, window, packet, fixed] of configs) {
  const one = await withPeer(
    window,
    packet,
    fixed,
    (s) => send(s, 1, 1024 * MiB),
  );
  const many = await withPeer(
    window,
    packet,
    fixed,
    (s) => send(s, 16, 64 * MiB),
  );
  console.log(`| ${name} | ${one.toFixed(0)} MB/s | ${many.toFixed(0)} MB/s |`);
}

// A stalled reader: 100 channels, 16 MiB written to each, nobody reads.
for (const window of [1 * MiB, 4 * MiB]) {
  const perChannel = await withPeer(window, 256 * 1024, true, async (s) => {
    const chans = await Promise.all(
      Array.from({ length: 100 }, () => s.open()),
    );
    const big = new Uint8Array(16 * MiB);
    for (const ch of chans) ch.write(big).catch(() => {});
    await new Promise((r) => setTimeout(r, 2000));
    const probe = await s.open();
    await probe.write(new Uint8Array([0x3f]));
    return Number(await answer(probe)) / 100;
  });
  console.log(
    `stalled reader, window growing to ${window / MiB} MiB: ${
      (perChannel / MiB).toFixed(2)
    } MiB of receiver RSS per channel`,
  );
}
Deno.exit(0);
