/**
 * The client's stages, in the order they set up a local connection, one
 * line each: a new stage is a file with its {@linkcode ClientFeature} and a
 * line here. The local side names none of them.
 */

import { captureFeature } from "../inspector/mod.ts";
import { basicAuthFeature } from "./basic_auth.ts";
import { forwardedFeature } from "./forwarded.ts";
import { proxyFeature } from "./proxy_protocol.ts";
import type { ClientFeature } from "./stage.ts";

/** Every stage, in order: the PROXY header goes to the app before anything. */
export const CLIENT_FEATURES: readonly ClientFeature[] = [
  proxyFeature,
  basicAuthFeature,
  forwardedFeature,
  captureFeature,
];
