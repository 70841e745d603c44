/**
 * A QR code on a terminal: two module rows per text line with half-block
 * characters, inside a quiet zone of {@linkcode QUIET_ZONE} modules. With
 * colour, dark modules are black on a white background whatever the
 * terminal's theme; without it, light modules are drawn (for the usual dark
 * terminal background).
 */

import type { QrCode } from "./encode.ts";

/** Light modules around the code (the standard asks for 4). */
export const QUIET_ZONE = 4;

/** The code as lines of text; `colour` wraps it in black-on-white. */
export function renderQr(code: QrCode, colour: boolean): string[] {
  const n = code.size + 2 * QUIET_ZONE;
  const at = (x: number, y: number) => {
    const cx = x - QUIET_ZONE, cy = y - QUIET_ZONE;
    return cx >= 0 && cy >= 0 && cx < code.size && cy < code.size &&
      code.modules[cy]![cx]!;
  };
  const lines: string[] = [];
  for (let y = 0; y < n; y += 2) {
    let line = "";
    for (let x = 0; x < n; x++) {
      // Which half of the cell gets the foreground.
      let top = at(x, y), bottom = y + 1 < n && at(x, y + 1);
      if (!colour) {
        top = !top;
        bottom = y + 1 < n ? !bottom : false;
      }
      line += top ? (bottom ? "█" : "▀") : (bottom ? "▄" : " ");
    }
    lines.push(colour ? `\x1b[30;47m${line}\x1b[0m` : line);
  }
  return lines;
}
