/**
 * The inspector: capture, store, page, API, replay and the request log. What
 * the other folders use of this one.
 */

export { ConnectionTap } from "./capture.ts";
export { captureFeature } from "./stage.ts";
export { logLine, size as formatSize } from "./log.ts";
export {
  DEFAULT_INSPECT_PORT,
  type Inspector,
  isLoopbackHost,
  startInspector,
} from "./server.ts";
export { CaptureStore, DEFAULT_CAPTURE_RATE } from "./store.ts";
