/**
 * `deno task acme-demo`: automatic certificates on one machine. Debian's
 * pebble (Let's Encrypt's ACME test server) stands in for Let's Encrypt and
 * asks our server's own DNS for the dns-01 answers; the server gets a
 * certificate for tunnel.localhost and *.tunnel.localhost from it; a client
 * reaches the server over https, trusting pebble's root; one request goes
 * through. Needs `apt-get install -y pebble openssl curl`. With `--once` it
 * stops after the request (the test runs it so); else Ctrl-C stops it.
 */

import { startPebble } from "./pebble.ts";
import { freePort } from "./process.ts";

const HOST = "tunnel.localhost";
const once = Deno.args.includes("--once");
const main = new URL("../main.ts", import.meta.url).pathname;

for (const tool of ["pebble", "openssl", "curl"]) {
  const found = await new Deno.Command("sh", {
    args: ["-c", `command -v ${tool}`],
    stdout: "null",
  }).output();
  if (!found.success) {
    console.error(
      `acme-demo needs ${tool}: apt-get install -y pebble openssl curl`,
    );
    Deno.exit(1);
  }
}

/** A child whose lines are shown with a prefix, and can be waited on. */
function child(prefix: string, cmd: string, args: string[], env = {}) {
  const proc = new Deno.Command(cmd, {
    args,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const waiters: Array<() => void> = [];
  for (const s of [proc.stdout, proc.stderr]) {
    (async () => {
      for await (const t of s.pipeThrough(new TextDecoderStream())) {
        text += t;
        if (prefix) {
          for (const line of t.split("\n").filter(Boolean)) {
            console.log(`${prefix} ${line}`);
          }
        }
        waiters.splice(0).forEach((w) => w());
      }
    })();
  }
  return {
    proc,
    async waitFor(re: RegExp, ms = 60_000): Promise<RegExpMatchArray> {
      const until = Date.now() + ms;
      for (;;) {
        const m = text.match(re);
        if (m) return m;
        if (Date.now() > until) throw new Error(`no ${re} within ${ms} ms`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
  };
}

// 1. Pebble, on its own TLS certificate, asking our DNS port for answers.
const dnsPort = freePort(), port = freePort();
const pebble = await startPebble(dnsPort, { PEBBLE_VA_NOSLEEP: "1" });
console.log(
  `pebble:  pebble -config ${pebble.config} -dnsserver 127.0.0.1:${dnsPort}`,
);
const tls = pebble.tls;
const state = await Deno.makeTempDir({ prefix: "groktunnel-acme-demo-" });
const rootFile = `${state}/pebble-root.pem`;
const procs: Array<ReturnType<typeof child>> = [];
const app = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  () => new Response("Hello over https, with a certificate from pebble!\n"),
);
let code = 0;
try {
  // 2. Pebble's root (new on every start), for the client and curl.
  await Deno.writeTextFile(rootFile, pebble.root);

  // 3. The server: --acme against pebble, our DNS on dnsPort.
  const serverArgs = [
    ...pebble.serverArgs(HOST, port, state),
    "--dns-port",
    String(dnsPort),
  ];
  const server = child("server: ", Deno.execPath(), [
    "run",
    "--allow-net",
    "--allow-env",
    `--allow-read=${state},${tls.dir}`,
    `--allow-write=${state}`,
    main,
    ...serverArgs,
  ]);
  procs.push(server);
  await server.waitFor(/certificate issued in/);

  // 4. A client for the app, trusting pebble's root.
  const client = child("client: ", Deno.execPath(), [
    "run",
    "--allow-net",
    "--allow-env",
    `--allow-read=${rootFile}`,
    main,
    String(app.addr.port),
    "--server",
    `https://${HOST}:${port}`,
    "--ca",
    rootFile,
    "--no-inspect",
  ]);
  procs.push(client);
  const url = new URL((await client.waitFor(/^(https:\/\/\S+)$/m))[1]!);

  // 5. One request, as curl makes it.
  const curl = [
    "-sS",
    "--cacert",
    rootFile,
    "--resolve",
    `${url.hostname}:${port}:127.0.0.1`,
    `${url.origin}/`,
  ];
  const out = await new Deno.Command("curl", { args: curl }).output();
  const body = new TextDecoder().decode(out.stdout).trim();
  console.log(`curl ${curl.join(" ")}`);
  console.log(`GET ${url.origin}/ → ${out.success ? body : "failed"}`);
  if (!out.success) code = 1;
  if (!once) {
    console.log("Ctrl-C to stop.");
    await new Promise<void>((r) => Deno.addSignalListener("SIGINT", r));
  }
} catch (err) {
  console.error(`acme-demo: ${(err as Error).message}`);
  code = 1;
} finally {
  for (const p of procs.reverse()) {
    try {
      p.proc.kill("SIGTERM");
    } catch { /* gone */ }
    await p.proc.status;
  }
  await pebble.stop();
  await app.shutdown();
  await Deno.remove(state, { recursive: true }).catch(() => {});
}
Deno.exit(code);
