/** Errors of the multiplexer, so callers can tell why a channel or session ended. */

/** The peer broke the wire protocol; the session that saw it is closed. */
export class ProtocolError extends Error {
  /** Creates the error with the violated rule as message. */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** The session ended (connection lost, closed, or a protocol error). */
export class SessionClosedError extends Error {
  /** Creates the error; `cause` carries the underlying reason, if any. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SessionClosedError";
  }
}

/** A channel was used after it was closed (locally or by the peer). */
export class ChannelClosedError extends Error {
  /** Creates the error with what was attempted as message. */
  constructor(message: string) {
    super(message);
    this.name = "ChannelClosedError";
  }
}

/** The peer refused to open a channel, or did not answer in time. */
export class OpenFailedError extends Error {
  /** Creates the error with the reason as message. */
  constructor(message: string) {
    super(message);
    this.name = "OpenFailedError";
  }
}
