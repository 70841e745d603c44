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
