/** The flags of both sides and of the client (see flag_table.ts). */

import type { Flag } from "./flag_table.ts";

/** Both sides' flags, then the client's, in usage order. */
export const CLIENT_FLAGS: Record<string, Flag> = {
  host: {
    type: "string",
    short: "h",
    side: "both",
    group: "common",
    arg: "<host>",
    help: "server host; tunnels are <name>.<host>",
    default: "localhost",
  },
  port: {
    type: "string",
    short: "p",
    side: "both",
    group: "common",
    arg: "<port>",
    help: "server port",
    default: "9999",
  },
  token: {
    type: "string",
    side: "both",
    group: "common",
    arg: "<token>",
    help: "shared secret (or GROKTUNNEL_TOKEN)",
  },
  "stall-timeout": {
    type: "string",
    side: "both",
    group: "common",
    arg: "<seconds>",
    help:
      "end a session whose peer reads nothing of what it is owed for this long",
    default: "30",
  },
  "memory-budget": {
    type: "string",
    side: "both",
    group: "common",
    arg: "<MiB>",
    help:
      "unread bytes all tunnels may hold: past it windows stop growing, new connections get 503",
    default: "128",
  },
  help: {
    type: "boolean",
    side: "both",
    group: "common",
    help: "show this help (also -h alone)",
  },
  version: {
    type: "boolean",
    side: "both",
    group: "common",
    help: "show the version",
  },
  server: {
    type: "string",
    side: "client",
    group: "client",
    arg: "<url>",
    help:
      "the server: https://tunnel.example.com[:port] (or http://…, or host:port); replaces -h/-p",
  },
  tls: {
    type: "boolean",
    side: "client",
    group: "client",
    help: "reach the server over TLS (as an https:// --server)",
  },
  ca: {
    type: "string",
    side: "client",
    group: "client",
    arg: "<file>",
    help: "trust this CA for the server (needs --allow-read=<file>)",
  },
  insecure: {
    type: "boolean",
    side: "client",
    group: "client",
    help: "skip TLS verification; allow a token without TLS",
  },
  "local-host": {
    type: "string",
    side: "client",
    group: "client",
    arg: "<host>",
    help: "where the local server listens",
    default: "127.0.0.1, then ::1",
  },
  subdomain: {
    type: "string",
    side: "client",
    group: "client",
    arg: "<name>",
    help: "ask for this name instead of a random one",
  },
  qr: {
    type: "boolean",
    side: "client",
    group: "client",
    help: "also show the URL as a QR code (for phones)",
  },
  "remote-port": {
    type: "string",
    side: "client",
    group: "client",
    arg: "<n>",
    help: "tcp: ask for this public port",
  },
  quiet: {
    type: "boolean",
    side: "client",
    group: "client",
    help: "no line per request on the terminal",
  },
  inspect: {
    type: "string",
    side: "client",
    group: "client",
    arg: "<addr>",
    help: "the inspector's address",
    default: "127.0.0.1:4040, or the next free port",
  },
  "no-inspect": {
    type: "boolean",
    side: "client",
    group: "client",
    help: "no inspector",
  },
  "inspect-rate": {
    type: "string",
    side: "client",
    group: "client",
    arg: "<n>",
    help:
      "requests captured per second at most, for the inspector and the log (0: all)",
    default: "1000",
  },
  "forwarded-headers": {
    type: "string",
    side: "client",
    group: "client",
    arg: "<replace|append|off>",
    help:
      "X-Forwarded-*/Forwarded for the app: replace what visitors sent with what the server saw, keep theirs and add ours (a proxy in front), or leave alone",
    default: "replace",
  },
  "host-header": {
    type: "string",
    side: "client",
    group: "client",
    arg: "<rewrite|value>",
    help: "Host sent to the app (rewrite: localhost:<port>)",
  },
  "basic-auth": {
    type: "string",
    side: "client",
    multiple: true,
    group: "client",
    arg: "<user:password>",
    help: "visitors must log in (repeatable)",
  },
  "allow-ip": {
    type: "string",
    side: "both",
    multiple: true,
    group: "common",
    arg: "<cidr>",
    help:
      "only these visitors (repeatable): a client for its tunnel, a server for all",
  },
  "deny-ip": {
    type: "string",
    side: "both",
    multiple: true,
    group: "common",
    arg: "<cidr>",
    help:
      "never these visitors (repeatable): a client for its tunnel, a server for all",
  },
  "proxy-protocol": {
    type: "string",
    side: "client",
    group: "client",
    arg: "<v1|v2>",
    help: "send a PROXY header to the app first",
  },
  pool: {
    type: "boolean",
    side: "client",
    group: "pool",
    help:
      "join the pool of the name (--subdomain): the server balances new connections over its members",
  },
  "pool-secret": {
    type: "string",
    side: "client",
    group: "pool",
    arg: "<secret>",
    help:
      "the pool's secret (or GROKTUNNEL_POOL_SECRET); the first member gets one printed",
  },
  "health-path": {
    type: "string",
    side: "client",
    group: "pool",
    arg: "<path>",
    help:
      "also probe the app with GET <path>: no 2xx or 3xx, no new connections",
  },
  "health-interval": {
    type: "string",
    side: "client",
    group: "pool",
    arg: "<seconds>",
    help: "between probes of the app",
    default: "5",
  },
};
