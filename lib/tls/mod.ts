/**
 * Ending TLS: certificates, the listener and reloading. What the other
 * folders use of this one.
 */

export {
  type Certificate,
  CertificateError,
  covers,
  parseCertificate,
  readCertificate,
} from "./certificate.ts";
export { TlsListener } from "./listener.ts";
export { NodeTlsConn } from "./node_conn.ts";
export {
  CertificateReloader,
  DEFAULT_CERT_RELOAD_INTERVAL,
  short,
} from "./reloader.ts";
