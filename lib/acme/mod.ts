/**
 * Automatic certificates (ACME DNS-01). What the other folders use of this
 * one.
 */

export {
  type AutomaticTlsOptions,
  startAutomaticTls,
  startDns,
} from "./auto.ts";
export { LETS_ENCRYPT, LETS_ENCRYPT_STAGING } from "./manager.ts";
