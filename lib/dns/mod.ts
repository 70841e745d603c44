/** The zone's DNS server. What the other folders use of this one. */

export {
  DEFAULT_DNS_PORT,
  DEFAULT_DNS_RATE_LIMIT,
  DnsServer,
  type DnsServerOptions,
} from "./server.ts";
export { Zone } from "./zone.ts";
