/**
 * The admin API for a server's operator. What the other folders use of
 * this one.
 */

export {
  type AdminEndpoint,
  adminHandler,
  type AdminOptions,
  type AdminTarget,
  DEFAULT_ADMIN_BLOCK,
  serveAdmin,
} from "./serve.ts";
