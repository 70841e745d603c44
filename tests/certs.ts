/**
 * Test certificates, made fresh by openssl in a temp dir for each run (never
 * committed): two CAs, a leaf under each for {@linkcode HOST} and its
 * wildcard, and an expired leaf.
 */

/**
 * The tests' server host. Under `.localhost` so it dials as loopback with no
 * DNS, and two labels deep because TLS clients refuse a wildcard directly
 * under a top-level name (`*.localhost`).
 */
export const HOST = "tunnel.localhost";

export interface TestCerts {
  dir: string;
  /** PEM of each CA. */
  ca1: string;
  ca2: string;
  /** Paths. */
  ca1File: string;
  cert1: string;
  key1: string;
  cert2: string;
  key2: string;
  expiredCert: string;
  expiredKey: string;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/** openssl req's words for a new P-256 key, unencrypted. */
const NEW_P256_KEY = [
  "-newkey",
  "ec",
  "-pkeyopt",
  "ec_paramgen_curve:P-256",
  "-nodes",
];

/** A leaf certificate `<dir>/<name>.crt` (and `.key`) for `san`, signed by CA `ca`. */
export async function leaf(
  dir: string,
  name: string,
  ca: string,
  days: string,
  san = `DNS:${HOST},DNS:*.${HOST}`,
) {
  await openssl(
    dir,
    "req",
    ...NEW_P256_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${name}`,
  );
  await Deno.writeTextFile(
    `${dir}/${name}.ext`,
    `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`,
  );
  await openssl(
    dir,
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    days,
    "-extfile",
    `${name}.ext`,
  );
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(
    dir,
    "req",
    "-x509",
    ...NEW_P256_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-subj",
    `/CN=groktunnel test ${name}`,
  );
}

/** Makes the set in a new temp dir. */
export async function makeCerts(): Promise<TestCerts> {
  const dir = await Deno.makeTempDir({ prefix: "groktunnel-certs-" });
  for (const ca of ["ca1", "ca2"]) await makeCa(dir, ca);
  await leaf(dir, "leaf1", "ca1", "2");
  await leaf(dir, "leaf2", "ca2", "2");
  await leaf(dir, "expired", "ca1", "-1");
  return {
    dir,
    ca1: await Deno.readTextFile(`${dir}/ca1.crt`),
    ca2: await Deno.readTextFile(`${dir}/ca2.crt`),
    ca1File: `${dir}/ca1.crt`,
    cert1: `${dir}/leaf1.crt`,
    key1: `${dir}/leaf1.key`,
    cert2: `${dir}/leaf2.crt`,
    key2: `${dir}/leaf2.key`,
    expiredCert: `${dir}/expired.crt`,
    expiredKey: `${dir}/expired.key`,
  };
}

/**
 * A CA and a certificate for `localhost` and 127.0.0.1 under it: for a test
 * server of our own that speaks HTTPS (pebble's ACME port). Paths in a new
 * temp dir.
 */
export async function makeLocalhostCert(): Promise<
  { dir: string; ca: string; cert: string; key: string }
> {
  const dir = await Deno.makeTempDir({ prefix: "groktunnel-localhost-" });
  await makeCa(dir, "ca");
  await leaf(dir, "localhost", "ca", "2", "DNS:localhost,IP:127.0.0.1");
  return {
    dir,
    ca: `${dir}/ca.crt`,
    cert: `${dir}/localhost.crt`,
    key: `${dir}/localhost.key`,
  };
}
