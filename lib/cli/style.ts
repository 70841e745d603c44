/**
 * The terminal's styles (colour only on a terminal, never with NO_COLOR) and
 * environment reads that never prompt.
 */

export function env(name: string): string | undefined {
  return Deno.permissions.querySync({ name: "env", variable: name }).state ===
      "granted"
    ? Deno.env.get(name)
    : undefined;
}

/** Styles for stderr: colour only on a terminal and never with NO_COLOR. */
export function styles() {
  const on = Deno.stderr.isTerminal() && env("NO_COLOR") === undefined;
  const wrap = (code: number) => (s: string) =>
    on ? `\x1b[${code}m${s}\x1b[0m` : s;
  return {
    bold: wrap(1),
    green: wrap(32),
    yellow: wrap(33),
    red: wrap(31),
    dim: wrap(2),
  };
}

export type Styles = ReturnType<typeof styles>;
