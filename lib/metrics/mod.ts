/**
 * Metrics in Prometheus's text format: the exposition, histograms, and the
 * loopback (or operator-chosen) endpoint that serves them. What the other
 * folders use of this one.
 */

export {
  Exposition,
  Histogram,
  METRICS_CONTENT_TYPE,
  processSeries,
  type Series,
} from "./text.ts";
export { type MetricsEndpoint, serveMetrics } from "./serve.ts";
export {
  renderServerMetrics,
  type ServerExtras,
  type ServerView,
} from "./server.ts";
export { type ClientView, renderClientMetrics } from "./client.ts";
