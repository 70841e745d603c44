/**
 * The tunnel server: entrances, the control endpoint, names and kinds of
 * tunnel. What the other folders use of this one.
 */

export {
  describeCertificate,
  type ServerOptions,
  startServer,
  type TunnelServer,
} from "./server.ts";
export { parsePortRange } from "./tcp_ports.ts";
export { type LogFormat, type LogSink, stderrLog } from "./log.ts";
export type { MemberInfo, TunnelInfo } from "./tunnel_info.ts";
export {
  DEFAULT_MAX_CONNECTIONS_PER_TUNNEL,
  DEFAULT_MAX_TUNNELS,
  DEFAULT_MAX_TUNNELS_PER_IP,
} from "./options.ts";
