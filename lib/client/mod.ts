/**
 * The tunnel client: the local side and the request filter. What the other
 * folders use of this one.
 */

export {
  type ClientEvent,
  type ClientOptions,
  connect,
  TunnelClient,
} from "./client.ts";
