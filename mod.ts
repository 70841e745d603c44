/**
 * groktunnel: put a localhost HTTP server on a public URL, through a server
 * you run on a host with a wildcard DNS name. Speaks the original Go
 * groktunnel's wire protocol (qmux), so either side interoperates with it.
 *
 * Run it (server, then a client exposing port 3000):
 *
 * ```sh
 * deno run --allow-net --allow-env jsr:@x/groktunnel
 * deno run --allow-net --allow-env jsr:@x/groktunnel 3000
 * ```
 *
 * Or embed it:
 *
 * @example A server and a tunnel in one program
 * ```ts
 * import { connect, startServer } from "./mod.ts";
 * const server = startServer({ host: "localhost", port: 0 });
 * const backend = Deno.serve({ port: 0, onListen() {} }, () => new Response("hi"));
 * const tunnel = await connect({ port: backend.addr.port, serverPort: server.addr.port });
 * console.log(tunnel.url); // http://<name>.localhost:<port>
 * await tunnel.close();
 * await server.close();
 * await backend.shutdown();
 * ```
 *
 * @module
 */

export {
  type ClientEvent,
  type ClientOptions,
  connect,
  TunnelClient,
} from "./lib/client/client.ts";
export {
  type MemberInfo,
  type ServerOptions,
  type ServerTlsOptions,
  startServer,
  type TunnelInfo,
  TunnelServer,
} from "./lib/server/server.ts";
export { ClientStats } from "./lib/client/stats.ts";
export type { MetricSeries } from "./lib/server/plugin.ts";
export {
  type Outcome,
  ServerStats,
  type StatusClass,
} from "./lib/server/stats.ts";
export type { LogFields, LogFormat, LogSink } from "./lib/server/log.ts";
export { Histogram } from "./lib/metrics/text.ts";
export { HandshakeError } from "./lib/wire/handshake.ts";
export { DialError } from "./lib/client/dial.ts";
export type { Handler } from "./lib/net/serve_once.ts";
export type { ForwardedMode } from "./lib/client/forwarded.ts";
export type {
  CapturedMessage,
  Exchange,
  HeadLine,
} from "./lib/inspector/capture.ts";
export {
  type Capture,
  type CaptureRecord,
  CaptureStore,
  type CaptureStoreOptions,
  DEFAULT_CAPTURE_RATE,
  MAX_CAPTURE_BYTES,
  MAX_CAPTURES,
} from "./lib/inspector/store.ts";
export { CaptureArena } from "./lib/inspector/arena.ts";
export type { ProxyProtocolVersion } from "./lib/client/proxy_protocol.ts";
export {
  Http1Error,
  type Http1Event,
  type Http1Head,
  Http1Parser,
  type Http1ParserOptions,
  type Http1Sink,
} from "./lib/wire/http1/parser.ts";
export { type Certificate, CertificateError } from "./lib/tls/certificate.ts";
export {
  type AutomaticTls,
  type AutomaticTlsOptions,
  startAutomaticTls,
} from "./lib/acme/auto.ts";
export {
  CertificateManager,
  type CertificateManagerOptions,
  LETS_ENCRYPT,
  LETS_ENCRYPT_STAGING,
} from "./lib/acme/manager.ts";
export { AcmeError, type Dns01Responder } from "./lib/acme/client.ts";
export {
  DnsServer,
  type DnsServerOptions,
  type DnsStats,
} from "./lib/dns/server.ts";
export { Zone, type ZoneOptions } from "./lib/dns/zone.ts";
export { type ClusterOptions } from "./lib/cluster/node.ts";
export { EtcdError } from "./lib/cluster/etcd.ts";
export {
  type Answer as DnsAnswer,
  DnsFormatError,
  parseQuery,
  type Query as DnsQuery,
  type ResourceRecord as DnsRecord,
} from "./lib/dns/wire.ts";
export {
  BufferBudget,
  type Channel,
  ChannelClosedError,
  DEFAULT_BUFFER_BUDGET,
  type Duplex,
  OpenFailedError,
  type PingOptions,
  PROCESS_BUDGET,
  ProtocolError,
  Session,
  SessionClosedError,
  type SessionOptions,
} from "./lib/wire/mux/mod.ts";
export type { ByteConn } from "./lib/net/sockets.ts";
export {
  peek,
  PeekBadRequestError,
  PeekedConn,
  PeekError,
  type PeekOptions,
  type PeekResult,
  PeekTimeoutError,
  PeekTooLargeError,
} from "./lib/net/peek.ts";
export { type HttpHead } from "./lib/net/peek.ts";
export { VERSION } from "./lib/version.ts";

if (import.meta.main) {
  // JSR runs the package's "." export: make it the CLI too.
  const { main } = await import("./lib/cli/main.ts");
  Deno.exit(await main(Deno.args));
}
