/**
 * The command line's usage text; its options are made from the flag table.
 */

import { VERSION } from "../version.ts";
import { type Flag, FLAGS, type Group } from "./flag_table.ts";

/** Where help text starts, and how wide it may run. */
const HELP_COLUMN = 27;
const WIDTH = 80;

/** The usage text's headings, in order. */
const HEADINGS: Record<Group, string> = {
  common: "Options:",
  client: "Client options:",
  server: "Server options:",
  operate: "Operating a server:",
  pool: "Several clients behind one name:",
  acme: "Automatic certificates (the server is the DNS server of its zone):",
  cluster: "Several nodes (names shared through etcd):",
};

/** One flag's lines: its form, then its help wrapped at the help column. */
function flagLines(name: string, f: Flag): string[] {
  const form = `  ${f.short ? `-${f.short}, ` : "    "}--${name}${
    f.arg ? ` ${f.arg}` : ""
  }`;
  const words = `${f.help}${f.default ? ` [${f.default}]` : ""}`.split(" ");
  const lines: string[] = [];
  let line = "";
  for (const w of words) {
    if (line && HELP_COLUMN + line.length + 1 + w.length > WIDTH) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  lines.push(line);
  const pad = " ".repeat(HELP_COLUMN);
  const out = form.length < HELP_COLUMN - 1
    ? [form.padEnd(HELP_COLUMN) + lines.shift()]
    : [form];
  return [...out, ...lines.map((l) => pad + l)];
}

/** Every group's heading and flags. */
function options(): string {
  const out: string[] = [];
  for (const [group, heading] of Object.entries(HEADINGS)) {
    out.push(heading);
    for (const [name, f] of Object.entries(FLAGS)) {
      if (f.group === group) out.push(...flagLines(name, f));
    }
    out.push("");
  }
  return out.join("\n");
}

/** The whole usage text. */
export const USAGE =
  `groktunnel ${VERSION}: put a localhost HTTP server on a public URL

Usage:
  groktunnel <port> [options]        expose localhost:<port> through a server
  groktunnel tcp <port> [options]    expose a TCP service (ssh, a database): tcp://<host>:<n>
  groktunnel [server] [options]      run a server
  groktunnel demo                    server, app and tunnel in one process

  (From a clone: deno run --allow-net --allow-env main.ts <port>.) To get a
  groktunnel command, in a clone:
    deno install -g --allow-net --allow-env --v8-flags=--max-semi-space-size=2 -n groktunnel main.ts

${options()}
Examples:
  groktunnel                          # server for *.localhost on :9999
  groktunnel 3000                     # prints http://<name>.localhost:9999
  groktunnel -b 0.0.0.0 -p 443 -h tunnel.example.com --tls-cert c.pem --tls-key k.pem --http-port 80
  groktunnel -b 0.0.0.0 -p 443 -h tunnel.example.com --http-port 80 --acme --public-ip 203.0.113.7 --state-dir /var/lib/groktunnel
  groktunnel 3000 --server https://tunnel.example.com
`;
