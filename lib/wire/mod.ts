/**
 * The protocol: the multiplexer, the control handshake, channel facts,
 * HTTP/1 and the relay. What the other folders use of this one.
 */

export {
  type ChannelFacts,
  encodeFacts,
  FEATURE_FACTS,
  readFacts,
} from "./facts.ts";
export {
  encodeControlResponse,
  encodeRefusal,
  FEATURE_PING,
  FEATURE_POOL,
  HandshakeError,
  HEADER_ALLOW_IP,
  HEADER_CLIENT,
  HEADER_DENY_IP,
  HEADER_FEATURES,
  HEADER_POOL,
  HEADER_POOL_MEMBERS,
  HEADER_POOL_SECRET,
  HEADER_RESUME,
  HEADER_SUBDOMAIN,
  type Refusal,
  releaseTunnel,
  requestTunnel,
} from "./handshake.ts";
export {
  Http1Error,
  type Http1Head,
  Http1Parser,
  type Http1Sink,
  parseHeadText,
  type RequestWatcher,
} from "./http1/parser.ts";
export { PROCESS_BUDGET } from "./mux/budget.ts";
export { type Channel } from "./mux/channel.ts";
export { OpenFailedError, SessionClosedError } from "./mux/errors.ts";
export {
  MEMBER_DOWN,
  MEMBER_DRAINING,
  MEMBER_UP,
  MSG_MEMBERS,
  MSG_STATE,
} from "./mux/frames.ts";
export {
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_OWED,
  DEFAULT_OWED_TIMEOUT,
  Session,
  type SessionOptions,
} from "./mux/session.ts";
export {
  type InboundFilter,
  type InboundResult,
  relay,
  type RelayTap,
} from "./relay.ts";
