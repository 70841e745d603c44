/**
 * Every flag of the command line, in one table: its type, short form, the
 * side it belongs to, and whether it repeats. The parser reads it; a test
 * holds the usage text and the README's table to it.
 */

/** Which side a flag belongs to. */
export type Side = "both" | "client" | "server";

/** Every flag: its type, short form, the side it belongs to, and whether it repeats. */
export const FLAGS: Record<
  string,
  { type: "string" | "boolean"; short?: string; side: Side; multiple?: true }
> = {
  host: { type: "string", short: "h", side: "both" },
  port: { type: "string", short: "p", side: "both" },
  token: { type: "string", side: "both" },
  help: { type: "boolean", side: "both" },
  version: { type: "boolean", side: "both" },
  // client
  server: { type: "string", side: "client" },
  tls: { type: "boolean", side: "client" },
  ca: { type: "string", side: "client" },
  insecure: { type: "boolean", side: "client" },
  "local-host": { type: "string", side: "client" },
  subdomain: { type: "string", side: "client" },
  qr: { type: "boolean", side: "client" },
  "remote-port": { type: "string", side: "client" },
  "tcp-ports": { type: "string", side: "server" },
  "max-tcp-tunnels-per-ip": { type: "string", side: "server" },
  quiet: { type: "boolean", side: "client" },
  inspect: { type: "string", side: "client" },
  "no-inspect": { type: "boolean", side: "client" },
  "inspect-rate": { type: "string", side: "client" },
  "forwarded-headers": { type: "string", side: "client" },
  "host-header": { type: "string", side: "client" },
  "basic-auth": { type: "string", side: "client", multiple: true },
  "proxy-protocol": { type: "string", side: "client" },
  "allow-ip": { type: "string", side: "both", multiple: true },
  "stall-timeout": { type: "string", side: "both" },
  "memory-budget": { type: "string", side: "both" },
  "max-owed": { type: "string", side: "server" },
  "deny-ip": { type: "string", side: "both", multiple: true },
  // server
  bind: { type: "string", short: "b", side: "server" },
  "tls-cert": { type: "string", side: "server" },
  "tls-key": { type: "string", side: "server" },
  "http-port": { type: "string", side: "server" },
  "https-only": { type: "boolean", side: "server" },
  "cert-reload-interval": { type: "string", side: "server" },
  "max-tunnels": { type: "string", side: "server" },
  "max-tunnels-per-ip": { type: "string", side: "server" },
  "max-connections": { type: "string", side: "server" },
  "peek-timeout": { type: "string", side: "server" },
  "peek-max-bytes": { type: "string", side: "server" },
  reserved: { type: "string", side: "server" },
  "name-hold": { type: "string", side: "server" },
  "shutdown-grace": { type: "string", side: "server" },
  acme: { type: "boolean", side: "server" },
  "acme-email": { type: "string", side: "server" },
  "acme-directory": { type: "string", side: "server" },
  "acme-ca": { type: "string", side: "server" },
  "acme-renew-before": { type: "string", side: "server" },
  "acme-retry": { type: "string", side: "server" },
  "public-ip": { type: "string", side: "server", multiple: true },
  "dns-port": { type: "string", side: "server" },
  "dns-rate-limit": { type: "string", side: "server" },
  "state-dir": { type: "string", side: "server" },
  cluster: { type: "string", side: "server" },
  "node-id": { type: "string", side: "server" },
  "node-addr": { type: "string", side: "server" },
  "cluster-secret": { type: "string", side: "server" },
  "cluster-tls": { type: "string", side: "server" },
};
