/** Bench scenario: operating a server, metrics on beside off (see bench/bench.ts). */

import {
  alternate,
  extra,
  groktunnel,
  type Setup,
  sideBySide,
  type Target,
} from "../harness.ts";
import { freePort } from "../../tests/process.ts";

/**
 * A second server with `--metrics --metrics-per-tunnel`, scraped four times
 * a second (Prometheus scrapes far less often), beside the main server
 * without; a client on each, as the main one runs. Keep-alive req/s,
 * alternated and side by side.
 */
export async function operateRows(s: Setup): Promise<void> {
  const metricsPort = freePort();
  const on = await serverWithClient(s, "metrics", [
    "--metrics",
    `127.0.0.1:${metricsPort}`,
    "--metrics-per-tunnel",
  ]);
  let scraping = true, scrapes = 0;
  const scraper = (async () => {
    while (scraping) {
      const r = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      await r.text();
      scrapes++;
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  try {
    const a = { name: "off", target: s.tunnel }, b = { name: "on", target: on };
    await alternate(
      "keep-alive: metrics on (scraped 4/s) vs off, alternated",
      a,
      b,
      false,
      0.95,
    );
    await sideBySide(
      "keep-alive: metrics on (scraped 4/s) vs off, side by side",
      a,
      b,
      0.95,
    );
  } finally {
    scraping = false;
    await scraper;
    console.error(`metrics scraped ${scrapes} times`);
  }
  await gateRows(s);
}

/**
 * The gates on each new public connection: `--rate-limit` (high enough to
 * refuse nothing) and `--browser-warning` (wrk sends no text/html Accept,
 * so nothing is warned), and `--bandwidth` (high enough to pace nothing:
 * what its wrapper costs), beside the main server without.
 */
async function gateRows(s: Setup): Promise<void> {
  const on = await serverWithClient(s, "gates", [
    "--rate-limit",
    "1000000",
    "--browser-warning",
    "--bandwidth",
    "100000M",
  ]);
  const a = { name: "off", target: s.tunnel };
  const b = { name: "on", target: on };
  await alternate(
    "new connection: --rate-limit, --browser-warning, --bandwidth on vs off, alternated",
    a,
    b,
    true,
    0.95,
  );
  await sideBySide(
    "keep-alive: --rate-limit, --browser-warning, --bandwidth on vs off, side by side",
    a,
    b,
    0.95,
  );
}

/** A server with `flags` beside the main one, and a client on it as the main one runs. */
async function serverWithClient(
  s: Setup,
  name: string,
  flags: string[],
): Promise<Target> {
  const server = groktunnel([
    "server",
    "-p",
    "0",
    "--max-connections",
    "4096",
    ...flags,
  ]);
  extra.push(server);
  const port = Number(
    (await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1],
  );
  const client = groktunnel([
    String(s.backendPort),
    "-p",
    String(port),
    "--quiet",
  ]);
  extra.push(client);
  const url = new URL((await client.waitFor(/^(http:\/\/\S+)$/m))[1]!);
  return { name, port, host: url.host };
}
