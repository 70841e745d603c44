/**
 * The ACME account key and the JWS that every ACME request is wrapped in
 * (RFC 8555 §6.2, RFC 7515 flattened JSON): ES256 with WebCrypto. WebCrypto's
 * ECDSA signature is r‖s, 64 bytes: exactly what JWS wants.
 */

/** base64url without padding. */
export function b64url(data: Uint8Array | string): string {
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** SHA-256 of text or bytes. */
export async function sha256(data: Uint8Array | string): Promise<Uint8Array> {
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
}

const ALG = { name: "ECDSA", namedCurve: "P-256" } as const;

/** An ES256 key pair with its public JWK. */
export class AccountKey {
  readonly #pair: CryptoKeyPair;
  /** The public key as a JWK with only the members the thumbprint uses. */
  readonly jwk: { crv: string; kty: string; x: string; y: string };

  private constructor(pair: CryptoKeyPair, jwk: JsonWebKey) {
    this.#pair = pair;
    this.jwk = { crv: jwk.crv!, kty: jwk.kty!, x: jwk.x!, y: jwk.y! };
  }

  /** A new key. */
  static async generate(): Promise<AccountKey> {
    const pair = await crypto.subtle.generateKey(ALG, true, [
      "sign",
      "verify",
    ]);
    return new AccountKey(
      pair,
      await crypto.subtle.exportKey("jwk", pair.publicKey),
    );
  }

  /** A key saved by {@linkcode toJwk}. */
  static async fromJwk(jwk: JsonWebKey): Promise<AccountKey> {
    if (
      jwk.kty !== "EC" || jwk.crv !== "P-256" || !jwk.d || !jwk.x || !jwk.y
    ) {
      throw new TypeError("not a P-256 private key");
    }
    const privateKey = await crypto.subtle.importKey("jwk", jwk, ALG, true, [
      "sign",
    ]);
    const pub: JsonWebKey = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
    const publicKey = await crypto.subtle.importKey("jwk", pub, ALG, true, [
      "verify",
    ]);
    return new AccountKey({ privateKey, publicKey }, pub);
  }

  /** The private key as a JWK, for the state directory. */
  async toJwk(): Promise<JsonWebKey> {
    return await crypto.subtle.exportKey("jwk", this.#pair.privateKey);
  }

  /** The JWK thumbprint (RFC 7638), base64url. */
  async thumbprint(): Promise<string> {
    const { crv, kty, x, y } = this.jwk;
    // Members in lexicographic order, no whitespace.
    return b64url(await sha256(JSON.stringify({ crv, kty, x, y })));
  }

  /** Signs `data` (ES256: r‖s). */
  async sign(data: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(
      await crypto.subtle.sign(
        { name: "ECDSA", hash: "SHA-256" },
        this.#pair.privateKey,
        data as Uint8Array<ArrayBuffer>,
      ),
    );
  }

  /**
   * A flattened JWS of `payload` (`undefined`: POST-as-GET, an empty
   * payload), identified by `kid` or, without one, by the JWK itself.
   */
  async jws(
    url: string,
    nonce: string,
    payload: unknown,
    kid?: string,
  ): Promise<string> {
    const header = kid
      ? { alg: "ES256", kid, nonce, url }
      : { alg: "ES256", jwk: this.jwk, nonce, url };
    const protectedB64 = b64url(JSON.stringify(header));
    const payloadB64 = payload === undefined
      ? ""
      : b64url(JSON.stringify(payload));
    const signature = await this.sign(
      new TextEncoder().encode(`${protectedB64}.${payloadB64}`),
    );
    return JSON.stringify({
      protected: protectedB64,
      payload: payloadB64,
      signature: b64url(signature),
    });
  }
}
