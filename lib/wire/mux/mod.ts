/** The multiplexer: sessions of flow-controlled channels over one connection. */
export { type Channel } from "./channel.ts";
export {
  BufferBudget,
  DEFAULT_BUFFER_BUDGET,
  PROCESS_BUDGET,
} from "./budget.ts";
export * from "./errors.ts";
export {
  DEFAULT_INITIAL_WINDOW,
  DEFAULT_MAX_PACKET,
  DEFAULT_WINDOW,
  type Duplex,
  type PingOptions,
  Session,
  type SessionOptions,
} from "./session.ts";
