/** Bench scenario: operating a server, metrics on beside off (see bench/bench.ts). */

import {
  alternate,
  serverWithClients,
  type Setup,
  sideBySide,
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
  const on = await serverWithClients(s, "metrics", [
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
  const on = await serverWithClients(s, "gates", [
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
