/** Bench scenario: The plain rows (see bench/bench.ts). */

import {
  curlDown,
  curlUp,
  downSha,
  expectedSha,
  fileOf,
  files,
  GiB,
  MiB,
  peakRss,
  row,
  rows,
  type Setup,
  thousand,
  wrk,
} from "../harness.ts";

/** The plain rows: the backend directly, and through a plain tunnel. */
export async function plainRows(s: Setup): Promise<void> {
  for (
    const [what, close, goal] of [["keep-alive req/s", false, 0.45], [
      "new connection req/s",
      true,
      0.40,
    ]] as const
  ) {
    const d = await wrk(s.direct, close);
    const t = await wrk(s.tunnel, close);
    await s.progress(what);
    row(
      what,
      d.rps,
      t.rps,
      "",
      goal,
      `p50 ${d.p50.toFixed(2)}/${t.p50.toFixed(2)} ms, p99 ${
        d.p99.toFixed(2)
      }/${t.p99.toFixed(2)} ms; non-2xx ${d.errors}/${t.errors}${
        t.sockErr ? `; tunnel socket errors: ${t.sockErr}` : ""
      }`,
    );
  }
  const dDown = await curlDown(s.direct, GiB),
    tDown = await curlDown(s.tunnel, GiB);
  await s.progress("1 GiB download");
  row("1 GiB download MB/s", dDown, tDown, "", 0.20);
  const big = await fileOf(GiB);
  files.push(big);
  const dUp = await curlUp(s.direct, big, GiB),
    tUp = await curlUp(s.tunnel, big, GiB);
  row(
    "1 GiB upload MB/s",
    dUp.mbps,
    tUp.mbps,
    "",
    undefined,
    tUp.sha256 === dUp.sha256 ? "same SHA-256" : "SHA-256 DIFFERS",
  );
  await s.progress("1 GiB upload");
  const dK = await thousand(s.direct), tK = await thousand(s.tunnel);
  await s.progress("1,000 at once");
  rows.push([
    "1,000 at once",
    `${dK.ms.toFixed(0)} ms, ${dK.ok} ok`,
    `${tK.ms.toFixed(0)} ms, ${tK.ok} ok`,
    `${(tK.ms / dK.ms).toFixed(2)}× time`,
    "all answered",
    tK.ok === 1000 ? "yes" : "no",
    "",
  ]);
  const want = expectedSha(64 * MiB);
  const gotDown = await downSha(s.tunnel, 64 * MiB);
  const small = await fileOf(64 * MiB);
  files.push(small);
  const gotUp = (await curlUp(s.tunnel, small, 64 * MiB)).sha256;
  rows.push([
    "integrity 64 MiB each way",
    "",
    `${gotDown === want ? "down ok" : "DOWN BAD"}, ${
      gotUp === want ? "up ok" : "UP BAD"
    }`,
    "",
    "SHA-256 equal",
    gotDown === want && gotUp === want ? "yes" : "no",
    "",
  ]);
  const sRss = await peakRss(s.server.child.pid),
    cRss = await peakRss(s.client.child.pid);
  rows.push([
    "peak RSS server / client",
    "",
    `${sRss.toFixed(0)} / ${cRss.toFixed(0)} MB`,
    "",
    "≤ 80 MB each",
    sRss <= 80 && cRss <= 80 ? "yes" : "no",
    "",
  ]);
}
