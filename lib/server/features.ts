/**
 * The server's features, one line each: a new entrance, kind of tunnel or
 * name authority is a file with its {@linkcode ServerFeature} and a line
 * here. The core (server.ts, public.ts, control.ts) names none of them.
 */

import { clusterFeature } from "../cluster/mod.ts";
import type { ServerFeature } from "./plugin.ts";
import { tcpFeature } from "./tcp_tunnels.ts";
import { rateLimitFeature } from "./rate_limit.ts";
import { browserWarningFeature } from "./browser_warning.ts";
import { lifetimeFeature } from "./lifetime.ts";
import { bandwidthFeature } from "./bandwidth.ts";

/** Every feature, in the order they plug in. */
export const SERVER_FEATURES: readonly ServerFeature[] = [
  tcpFeature,
  clusterFeature,
  rateLimitFeature,
  browserWarningFeature,
  lifetimeFeature,
  bandwidthFeature,
];
