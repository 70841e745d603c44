/** Bench scenario: Features on beside off (see bench/bench.ts). */

import {
  alternate,
  extra,
  groktunnel,
  type Setup,
  sideBySide,
  type Target,
} from "../harness.ts";

/**
 * A feature on beside the same run with it off: keep-alive req/s through a
 * client that rewrites request heads (the default: forwarded headers) and
 * one with `--forwarded-headers off`, and the inspector on beside
 * `--no-inspect`; same server and backend, runs alternated (see
 * {@linkcode alternate}) and both loaded at once ({@linkcode sideBySide}).
 */
export async function featureRows(s: Setup): Promise<void> {
  /** A client with `flags` beside the others (quiet: see the README). */
  const another = async (label: string, flags: string[]) => {
    const c = groktunnel([
      String(s.backendPort),
      "-p",
      String(s.serverPort),
      "--quiet",
      ...flags,
    ]);
    extra.push(c);
    const u = new URL((await c.waitFor(/^(http:\/\/\S+)$/m))[1]!);
    return { name: label, port: s.serverPort, host: u.host } as Target;
  };
  /** A second client with `offFlags` against the main one, or one with `onFlags`. */
  const compare = async (
    label: string,
    offFlags: string[],
    onFlags?: string[],
  ) => {
    const off = await another(label, offFlags);
    const on = onFlags ? await another(label, onFlags) : s.tunnel;
    const a = { name: "off", target: off }, b = { name: "on", target: on };
    // Alone at full load, as a user runs one client (noisy: ±10% a run
    // here), then both at once (precise, and gentler: each carries half).
    await alternate(`${label}, alternated`, a, b, false, 0.9);
    await sideBySide(`${label}, side by side`, a, b, 0.9);
  };
  await compare("keep-alive: inspector on vs --no-inspect", ["--no-inspect"]);
  // The same with every request captured, however many come (no rate).
  await compare(
    "keep-alive: inspector capturing all (--inspect-rate 0) vs --no-inspect",
    ["--no-inspect"],
    ["--inspect-rate", "0"],
  );
  await compare("keep-alive: forwarded headers on vs off", [
    "--forwarded-headers",
    "off",
  ]);
}
