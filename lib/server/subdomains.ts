/**
 * Tunnel names: random ones from the system CSPRNG, and the check a requested
 * name must pass (a single DNS label).
 */

/** Length of a random name: 36^10 ≈ 3.7e15 (about 51 bits), as the original. */
export const RANDOM_NAME_LENGTH = 10;
const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** A random name of `[a-z0-9]`, uniform (bytes ≥ 252 are drawn again). */
export function randomName(length: number = RANDOM_NAME_LENGTH): string {
  let out = "";
  const bytes = new Uint8Array(length * 2);
  while (out.length < length) {
    crypto.getRandomValues(bytes);
    for (const b of bytes) {
      if (b < 252 && out.length < length) out += ALPHABET[b % 36];
    }
  }
  return out;
}

/** True for a valid DNS label of lower-case letters, digits and inner hyphens. */
export function isValidName(name: string): boolean {
  return /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(name);
}

/** A random secret (128 bits, hex) that proves a client held a name before. */
export function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
