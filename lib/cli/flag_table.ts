/**
 * Every flag of the command line, in one table: its type, short form, the
 * side it belongs to, whether it repeats, and its help. The parser reads
 * it, the usage text is made from it (usage.ts), and a test holds the
 * README's table to it.
 */

import { CLIENT_FLAGS } from "./flags_client.ts";
import { SERVER_FLAGS } from "./flags_server.ts";

/** Which side a flag belongs to. */
export type Side = "both" | "client" | "server";

/** Where a flag is listed in the usage text. */
export type Group =
  | "common"
  | "client"
  | "server"
  | "operate"
  | "pool"
  | "acme"
  | "cluster";

/** One flag. */
export interface Flag {
  /** A value (string) or a switch (boolean). */
  type: "string" | "boolean";
  /** The one-letter form. */
  short?: string;
  /** The side it belongs to. */
  side: Side;
  /** It may be given more than once. */
  multiple?: true;
  /** Where the usage text lists it. */
  group: Group;
  /** Its value's placeholder in the usage text, `<…>`. */
  arg?: string;
  /** What it does, in a line or two. */
  help: string;
  /** What holds without it. */
  default?: string;
}

/** Every flag, in the order the usage text lists them. */
export const FLAGS: Record<string, Flag> = {
  ...CLIENT_FLAGS,
  ...SERVER_FLAGS,
};
