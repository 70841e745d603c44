/**
 * What any side does with a socket: connections, peeking, buffers, pages,
 * addresses. What the other folders use of this one.
 */

export {
  acquire,
  GrowingBuffer,
  levelFor,
  nextLevel,
  release,
  SIZES,
} from "./buffers.ts";
export { constantTimeEqual } from "./constant_time.ts";
export { hostPort, ipv4Bytes, ipv6Bytes, parseIp, unmapIpv4 } from "./ip.ts";
export { IpFilter } from "./ip_filter.ts";
export {
  page,
  reason,
  TLS_ACCESS_DENIED,
  TLS_INTERNAL_ERROR,
  TLS_UNRECOGNIZED_NAME,
} from "./pages.ts";
export {
  DEFAULT_PEEK_MAX_BYTES,
  DEFAULT_PEEK_TIMEOUT,
  peek,
  PeekedConn,
  PeekError,
  type PeekResult,
} from "./peek.ts";
export {
  answer,
  type ByteConn,
  closeQuietly,
  type NetConn,
  writeAll,
} from "./sockets.ts";
export { Deadline, TIMED_OUT } from "./deadline.ts";
export { type Handler, MAX_HANDLER_BODY, serveOnce } from "./serve_once.ts";
