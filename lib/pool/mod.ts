/** Pools: several clients behind one name (the server's part, the client's health). */
export {
  DEFAULT_MAX_POOL_MEMBERS,
  type MemberState,
  Pool,
  type PoolMember,
} from "./pool.ts";
export {
  DEFAULT_HEALTH_INTERVAL,
  type HealthOptions,
  MemberHealth,
} from "./health.ts";
export {
  DRAIN_ECHO_TIMEOUT,
  Membership,
  type MembershipOptions,
} from "./member.ts";
