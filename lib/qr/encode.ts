/**
 * A QR code encoder (ISO/IEC 18004) for short texts such as a tunnel URL:
 * byte mode, error correction level M (falling back to L when the text
 * needs it), versions 1 to 10 (up to 271 bytes at L). The smallest version
 * that fits is used and the mask with the lowest penalty is chosen, as the
 * standard describes. Nothing here knows of terminals; see render.ts.
 */

/** The text does not fit in a version-10 code at level L. */
export class QrTooLongError extends RangeError {
  /** Creates the error naming the length. */
  constructor(bytes: number) {
    super(`Text too long for a QR code up to version 10: ${bytes} bytes`);
    this.name = "QrTooLongError";
  }
}

/** A finished code: `modules[y][x]` is true for a dark module. */
export interface QrCode {
  /** 1 to 10. */
  version: number;
  /** Error correction level used. */
  level: "L" | "M";
  /** Modules per side: 17 + 4 × version. */
  size: number;
  /** The mask pattern chosen (0 to 7). */
  mask: number;
  /** Rows of modules, top first; true is dark. */
  modules: boolean[][];
}

/** EC codewords per block, then [count, data codewords] per block group. */
type Blocks = [number, Array<[number, number]>];
const BLOCKS: Record<"L" | "M", Blocks[]> = {
  L: [
    [7, [[1, 19]]],
    [10, [[1, 34]]],
    [15, [[1, 55]]],
    [20, [[1, 80]]],
    [26, [[1, 108]]],
    [18, [[2, 68]]],
    [20, [[2, 78]]],
    [24, [[2, 97]]],
    [30, [[2, 116]]],
    [18, [[2, 68], [2, 69]]],
  ],
  M: [
    [10, [[1, 16]]],
    [16, [[1, 28]]],
    [26, [[1, 44]]],
    [18, [[2, 32]]],
    [24, [[2, 43]]],
    [16, [[4, 27]]],
    [18, [[4, 31]]],
    [22, [[2, 38], [2, 39]]],
    [22, [[3, 36], [2, 37]]],
    [26, [[4, 43], [1, 44]]],
  ],
};
/** Centres of alignment patterns per version (1 has none). */
const ALIGN: number[][] = [
  [],
  [6, 18],
  [6, 22],
  [6, 26],
  [6, 30],
  [6, 34],
  [6, 22, 38],
  [6, 24, 42],
  [6, 26, 46],
  [6, 28, 50],
];
/** The format field's two bits per level. */
const LEVEL_BITS = { L: 1, M: 0 } as const;

/** Encodes `text` (UTF-8) as a QR code; throws {@linkcode QrTooLongError}. */
export function encodeQr(text: string): QrCode {
  const bytes = new TextEncoder().encode(text);
  for (const level of ["M", "L"] as const) {
    for (let version = 1; version <= 10; version++) {
      const [ec, groups] = BLOCKS[level][version - 1]!;
      const dataWords = groups.reduce((s, [n, d]) => s + n * d, 0);
      const countBits = version < 10 ? 8 : 16;
      if (4 + countBits + 8 * bytes.length > dataWords * 8) continue;
      const data = dataCodewords(bytes, countBits, dataWords);
      const all = interleave(data, ec, groups);
      return place(version, level, all);
    }
  }
  throw new QrTooLongError(bytes.length);
}

/** Mode, count, bytes, terminator and padding, as codewords. */
function dataCodewords(
  bytes: Uint8Array,
  countBits: number,
  total: number,
): number[] {
  const bits: number[] = [];
  const put = (value: number, n: number) => {
    for (let i = n - 1; i >= 0; i--) bits.push((value >>> i) & 1);
  };
  put(0b0100, 4);
  put(bytes.length, countBits);
  for (const b of bytes) put(b, 8);
  put(0, Math.min(4, total * 8 - bits.length));
  put(0, (8 - bits.length % 8) % 8);
  const out: number[] = [];
  for (let i = 0; i < bits.length; i += 8) {
    out.push(bits.slice(i, i + 8).reduce((v, b) => (v << 1) | b, 0));
  }
  for (let pad = 0xec; out.length < total; pad ^= 0xec ^ 0x11) out.push(pad);
  return out;
}

/** Splits into blocks, adds Reed-Solomon codewords, interleaves both. */
function interleave(
  data: number[],
  ec: number,
  groups: Array<[number, number]>,
): number[] {
  const blocks: number[][] = [];
  let at = 0;
  for (const [count, size] of groups) {
    for (let i = 0; i < count; i++) {
      blocks.push(data.slice(at, at += size));
    }
  }
  const divisor = rsDivisor(ec);
  const ecBlocks = blocks.map((b) => rsRemainder(b, divisor));
  const out: number[] = [];
  const longest = Math.max(...blocks.map((b) => b.length));
  for (let i = 0; i < longest; i++) {
    for (const b of blocks) if (i < b.length) out.push(b[i]!);
  }
  for (let i = 0; i < ec; i++) for (const b of ecBlocks) out.push(b[i]!);
  return out;
}

/** Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1. */
function gfMul(x: number, y: number): number {
  let z = 0;
  for (let i = 7; i >= 0; i--) {
    z = (z << 1) ^ ((z >>> 7) * 0x11d);
    z ^= ((y >>> i) & 1) * x;
  }
  return z & 0xff;
}

/** The generator polynomial of `degree` (leading 1 left out), highest first. */
function rsDivisor(degree: number): number[] {
  const result = new Array<number>(degree).fill(0);
  result[degree - 1] = 1;
  let root = 1;
  for (let i = 0; i < degree; i++) {
    for (let j = 0; j < degree; j++) {
      result[j] = gfMul(result[j]!, root);
      if (j + 1 < degree) result[j] = result[j]! ^ result[j + 1]!;
    }
    root = gfMul(root, 0x02);
  }
  return result;
}

function rsRemainder(data: number[], divisor: number[]): number[] {
  const result = new Array<number>(divisor.length).fill(0);
  for (const b of data) {
    const factor = b ^ result.shift()!;
    result.push(0);
    for (let i = 0; i < divisor.length; i++) {
      result[i] = result[i]! ^ gfMul(divisor[i]!, factor);
    }
  }
  return result;
}

/** Draws function patterns and data, then keeps the best of the 8 masks. */
function place(version: number, level: "L" | "M", words: number[]): QrCode {
  const size = 17 + 4 * version;
  const dark = Array.from({ length: size }, () => new Array(size).fill(false));
  const fixed = Array.from({ length: size }, () => new Array(size).fill(false));
  const set = (x: number, y: number, on: boolean) => {
    dark[y]![x] = on;
    fixed[y]![x] = true;
  };
  for (let i = 0; i < size; i++) {
    set(6, i, i % 2 === 0);
    set(i, 6, i % 2 === 0);
  }
  for (const [cx, cy] of [[3, 3], [size - 4, 3], [3, size - 4]] as const) {
    for (let dy = -4; dy <= 4; dy++) {
      for (let dx = -4; dx <= 4; dx++) {
        const x = cx + dx, y = cy + dy;
        if (x < 0 || y < 0 || x >= size || y >= size) continue;
        const d = Math.max(Math.abs(dx), Math.abs(dy));
        set(x, y, d !== 2 && d !== 4);
      }
    }
  }
  const centres = ALIGN[version - 1]!;
  const last = centres.length - 1;
  centres.forEach((cx, i) =>
    centres.forEach((cy, j) => {
      if (
        (i === 0 && j === 0) || (i === 0 && j === last) ||
        (i === last && j === 0)
      ) return;
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) {
          set(cx + dx, cy + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
        }
      }
    })
  );
  drawFormat(set, size, level, 0); // reserves the cells; redrawn per mask
  if (version >= 7) {
    let rem = version;
    for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
    const bits = (version << 12) | rem;
    for (let i = 0; i < 18; i++) {
      const on = ((bits >>> i) & 1) === 1;
      const a = size - 11 + (i % 3), b = Math.floor(i / 3);
      set(a, b, on);
      set(b, a, on);
    }
  }
  // Data in two-column strips, right to left, alternately up and down.
  let bit = 0;
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    for (let v = 0; v < size; v++) {
      for (let j = 0; j < 2; j++) {
        const x = right - j;
        const upward = ((right + 1) & 2) === 0;
        const y = upward ? size - 1 - v : v;
        if (fixed[y]![x] || bit >= words.length * 8) continue;
        dark[y]![x] = ((words[bit >>> 3]! >>> (7 - (bit & 7))) & 1) === 1;
        bit++;
      }
    }
  }
  let best: { mask: number; score: number; modules: boolean[][] } | undefined;
  for (let mask = 0; mask < 8; mask++) {
    const m = dark.map((row) => row.slice());
    const put = (x: number, y: number, on: boolean) => m[y]![x] = on;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if (!fixed[y]![x] && masked(mask, x, y)) m[y]![x] = !m[y]![x];
      }
    }
    drawFormat(put, size, level, mask);
    const score = penalty(m);
    if (!best || score < best.score) best = { mask, score, modules: m };
  }
  return { version, level, size, mask: best!.mask, modules: best!.modules };
}

function masked(mask: number, x: number, y: number): boolean {
  switch (mask) {
    case 0:
      return (x + y) % 2 === 0;
    case 1:
      return y % 2 === 0;
    case 2:
      return x % 3 === 0;
    case 3:
      return (x + y) % 3 === 0;
    case 4:
      return (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0;
    case 5:
      return (x * y) % 2 + (x * y) % 3 === 0;
    case 6:
      return ((x * y) % 2 + (x * y) % 3) % 2 === 0;
    default:
      return ((x + y) % 2 + (x * y) % 3) % 2 === 0;
  }
}

/** The 15-bit format field (level and mask, BCH-protected), twice, and the dark module. */
function drawFormat(
  set: (x: number, y: number, on: boolean) => void,
  size: number,
  level: "L" | "M",
  mask: number,
): void {
  const data = (LEVEL_BITS[level] << 3) | mask;
  let rem = data;
  for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
  const bits = ((data << 10) | rem) ^ 0x5412;
  const on = (i: number) => ((bits >>> i) & 1) === 1;
  for (let i = 0; i <= 5; i++) set(8, i, on(i));
  set(8, 7, on(6));
  set(8, 8, on(7));
  set(7, 8, on(8));
  for (let i = 9; i < 15; i++) set(14 - i, 8, on(i));
  for (let i = 0; i < 8; i++) set(size - 1 - i, 8, on(i));
  for (let i = 8; i < 15; i++) set(8, size - 15 + i, on(i));
  set(8, size - 8, true);
}

/** The standard's penalty: runs, 2×2 blocks, finder look-alikes, balance. */
function penalty(m: boolean[][]): number {
  const size = m.length;
  let score = 0;
  const lines: boolean[][] = [];
  for (let i = 0; i < size; i++) {
    lines.push(m[i]!);
    lines.push(m.map((row) => row[i]!));
  }
  const finder = [true, false, true, true, true, false, true];
  for (const line of lines) {
    let run = 1;
    for (let i = 1; i <= size; i++) {
      if (i < size && line[i] === line[i - 1]) run++;
      else {
        if (run >= 5) score += 3 + run - 5;
        run = 1;
      }
    }
    for (let i = 0; i + 7 <= size; i++) {
      if (!finder.every((v, k) => line[i + k] === v)) continue;
      const lightBefore = i >= 4 && [1, 2, 3, 4].every((k) => !line[i - k]);
      const lightAfter = i + 11 <= size &&
        [7, 8, 9, 10].every((k) => !line[i + k]);
      if (lightBefore || lightAfter) score += 40;
    }
  }
  let darkCount = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (m[y]![x]) darkCount++;
      if (
        x + 1 < size && y + 1 < size && m[y]![x] === m[y]![x + 1] &&
        m[y]![x] === m[y + 1]![x] && m[y]![x] === m[y + 1]![x + 1]
      ) score += 3;
    }
  }
  const percent = (darkCount * 100) / (size * size);
  score += Math.floor(Math.abs(percent - 50) / 5) * 10;
  return score;
}
