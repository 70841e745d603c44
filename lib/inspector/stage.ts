/**
 * The capture as a stage of the client: every HTTP connection (but TLS
 * passed through, which it cannot read) gets a {@linkcode ConnectionTap}
 * that records its exchanges in the store. The client's stage shapes are
 * written out here (the client's folder is above this one).
 */

import { hostPort } from "../net/mod.ts";
import type { ChannelFacts, RelayTap, RequestWatcher } from "../wire/mod.ts";
import { ConnectionTap } from "./capture.ts";
import type { CaptureStore } from "./store.ts";

/** The capture's stage, when the options have a store. */
export function captureFeature(options: { capture?: CaptureStore | undefined }):
  | {
    httpOnly: true;
    join(c: {
      readonly facts: ChannelFacts | undefined;
      watch: (RelayTap & { readonly requests: RequestWatcher }) | undefined;
    }): void;
  }
  | undefined {
  const store = options.capture;
  if (!store) return undefined;
  return {
    httpOnly: true,
    join(c) {
      if (c.facts?.tls === "passthrough") return;
      c.watch = new ConnectionTap(
        store,
        c.facts ? hostPort(c.facts.ip, c.facts.port) : "",
      );
    },
  };
}
