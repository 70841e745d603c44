/** A minimal PNG writer for tests: 8-bit greyscale, one IDAT, zlib by CompressionStream. */

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** A PNG of `pixels` (rows of 0 = black … 255 = white). */
export async function greyPng(pixels: number[][]): Promise<Uint8Array> {
  const h = pixels.length, w = pixels[0]!.length;
  const raw = new Uint8Array(h * (w + 1));
  pixels.forEach((row, y) => raw.set([0, ...row], y * (w + 1)));
  const zlib = new Uint8Array(
    await new Response(
      new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate")),
    ).arrayBuffer(),
  );
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, w);
  v.setUint32(4, h);
  ihdr.set([8, 0, 0, 0, 0], 8);
  const parts = [
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Dark/light modules to pixels: `scale` px each, plus a light border of `quiet` modules. */
export function modulesToPixels(
  modules: boolean[][],
  scale: number,
  quiet: number,
): number[][] {
  const n = modules.length + 2 * quiet;
  const rows: number[][] = [];
  for (let y = 0; y < n * scale; y++) {
    const my = Math.floor(y / scale) - quiet;
    const row: number[] = [];
    for (let x = 0; x < n * scale; x++) {
      const mx = Math.floor(x / scale) - quiet;
      const dark = my >= 0 && mx >= 0 && my < modules.length &&
        mx < modules.length && modules[my]![mx]!;
      row.push(dark ? 0 : 255);
    }
    rows.push(row);
  }
  return rows;
}
