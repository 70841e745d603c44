/**
 * The server's log: one line per event, as text (`<ISO time> <message>`) or
 * as JSON (`{"time", "msg", …fields}`, `--log-format json`). Events an abuse
 * report needs (a tunnel's start and end, a refused client) carry fields:
 * the name, the client's address, the totals.
 */

/** Fields of a structured log line. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** Where log lines go: a message, and for some events their fields. */
export type LogSink = (line: string, fields?: LogFields) => void;

/** How log lines are written. */
export type LogFormat = "text" | "json";

/** A sink writing to stderr in `format`. */
export function stderrLog(format: LogFormat = "text"): LogSink {
  return format === "json"
    ? (line, fields) =>
      console.error(
        JSON.stringify({
          time: new Date().toISOString(),
          msg: line,
          ...fields,
        }),
      )
    : (line) => console.error(`${new Date().toISOString()} ${line}`);
}
