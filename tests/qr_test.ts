/**
 * The QR encoder, checked by a real decoder: zbarimg (Debian's zbar-tools)
 * reads PNGs the test renders from our modules, and from the terminal
 * rendering the CLI prints with --qr.
 */

import assert from "node:assert/strict";
import { encodeQr, QrTooLongError } from "../lib/qr/encode.ts";
import { QUIET_ZONE, renderQr } from "../lib/qr/render.ts";
import { greyPng, modulesToPixels } from "./png.ts";
import { decoder } from "./helpers.ts";
import { startBackend } from "./backend.ts";
import { startClientProc, startServerProc } from "./process.ts";

/** What zbarimg reads from a PNG of `modules`. */
async function zbar(modules: boolean[][], quiet = 4): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "groktunnel-qr-" });
  try {
    const file = `${dir}/code.png`;
    await Deno.writeFile(
      file,
      await greyPng(modulesToPixels(modules, 4, quiet)),
    );
    const out = await new Deno.Command("zbarimg", {
      args: ["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`zbarimg found nothing: ${decoder.decode(out.stderr)}`);
    }
    return decoder.decode(out.stdout).replace(/\n$/, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("zbarimg decodes our QR codes, versions 1 to 10, levels M and L", async () => {
  const seen = new Set<string>();
  // Lengths chosen to land on every version at M, and past M's room at L.
  for (
    const length of [
      1,
      14,
      20,
      26,
      40,
      60,
      80,
      100,
      120,
      150,
      180,
      213,
      230,
      271,
    ]
  ) {
    const t = ("https://" + "abcdefghijklmnopqrstuvwxyz0123456789-./".repeat(8))
      .slice(0, length);
    const code = encodeQr(t);
    seen.add(`${code.version}${code.level}`);
    assert.equal(code.size, 17 + 4 * code.version);
    assert.equal(
      await zbar(code.modules),
      t,
      `length ${length}: v${code.version}-${code.level}`,
    );
  }
  for (let v = 1; v <= 10; v++) {
    assert.ok(
      [...seen].some((s) =>
        s.startsWith(`${v}`) && s.length === `${v}`.length + 1
      ),
      `version ${v} was exercised: ${[...seen]}`,
    );
  }
  assert.ok(seen.has("10L"));
});

Deno.test("a URL with UTF-8 decodes byte for byte", async () => {
  const url = "https://ünïcode.example.com/päth?q=✓";
  assert.equal(await zbar(encodeQr(url).modules), url);
});

Deno.test("too long a text is refused with a RangeError", () => {
  assert.throws(() => encodeQr("x".repeat(272)), QrTooLongError);
  assert.throws(() => encodeQr("x".repeat(272)), RangeError);
});

/** Turns half-block lines back into modules (light blocks drawn, as without colour). */
function fromTerminal(lines: string[]): boolean[][] {
  const rows: boolean[][] = [];
  for (const line of lines) {
    const top: boolean[] = [], bottom: boolean[] = [];
    for (const ch of line) {
      // Without colour a drawn half is a LIGHT module.
      top.push(!(ch === "█" || ch === "▀"));
      bottom.push(!(ch === "█" || ch === "▄"));
    }
    rows.push(top, bottom);
  }
  return rows;
}

Deno.test("the client's --qr prints a code of its URL that zbarimg reads", async () => {
  const backend = startBackend();
  const { server, port } = await startServerProc();
  const { client, url } = await startClientProc(backend.addr.port, port, [
    "--qr",
  ]);
  try {
    await client.waitFor("stderr", /▀|▄|█/);
    await new Promise((r) => setTimeout(r, 200));
    const lines = client.stderr.split("\n").filter((l) => /^[ █▀▄]+$/.test(l));
    const code = encodeQr(url.origin);
    // Same modules as the encoder's, inside the quiet zone...
    const grid = fromTerminal(lines).slice(0, code.size + 2 * QUIET_ZONE);
    assert.equal(grid[0]!.length, code.size + 2 * QUIET_ZONE);
    const inner = grid.slice(QUIET_ZONE, QUIET_ZONE + code.size).map((r) =>
      r.slice(QUIET_ZONE, QUIET_ZONE + code.size)
    );
    // ...and what a real decoder reads from them is the URL.
    assert.equal(await zbar(inner), url.origin);
    assert.deepEqual(renderQr(code, false), lines);
  } finally {
    await client.stop("SIGINT");
    await server.stop();
    await backend.shutdown();
  }
});
