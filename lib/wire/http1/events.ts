/**
 * The event side of a parser: a sink that makes an {@linkcode Http1Event}
 * object for each thing it hears (what `Http1Parser.push` hands out).
 */

import { blankHead, type Http1Head } from "./head.ts";
import { NO_FIELDS, NO_SPANS } from "./framing.ts";
import type { Http1Event, Http1Sink } from "./types.ts";

/** The one "end" event (events are not kept by listeners; no need for new ones). */
const END: Http1Event = Object.freeze({ kind: "end" });

/** What the event sink reads of its parser when a head arrives. */
export interface HeadSource {
  /** The last head parsed in full, if the parser parses them. */
  readonly lastHead: Http1Head | undefined;
  /** Its method (requests). */
  readonly method: string;
  /** Its status (responses). */
  readonly status: number;
  /** Its version. */
  readonly version: string;
}

/** A sink that hands `emit` event objects for what `parser` hears. */
export function eventSink(
  parser: HeadSource,
  emit: (e: Http1Event) => void,
): Http1Sink {
  return {
    head: (b, from, to) => {
      let head = parser.lastHead;
      if (!head) {
        // Framing only: a head with the first line and no fields.
        head = blankHead("", NO_FIELDS, NO_SPANS);
        head.method = parser.method;
        head.status = parser.status;
        head.version = parser.version;
      }
      emit({ kind: "head", head, bytes: b.subarray(from, to) });
    },
    body: (b, from, to, data) =>
      emit({ kind: "body", bytes: b.subarray(from, to), data }),
    end: () => emit(END),
    raw: (b, from, to) => emit({ kind: "raw", bytes: b.subarray(from, to) }),
  };
}
