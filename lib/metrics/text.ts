/**
 * Prometheus's text exposition format (version 0.0.4), only as much as we
 * write: counters, gauges and histograms, with escaped label values. A
 * {@linkcode Histogram} is a fixed set of buckets that costs a few
 * comparisons and one add per observation.
 */

/** The exposition's content type. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Cumulative buckets over fixed upper bounds (seconds, bytes, …). */
export class Histogram {
  /** The upper bounds, ascending (`+Inf` is implied). */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative; the last is `+Inf`). */
  readonly counts: number[];
  /** Sum of all observations. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  /** Buckets with these upper bounds. */
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array(bounds.length + 1).fill(0);
  }

  /** Records one value. */
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** A metric of one sample and no labels. */
export interface Series {
  /** Its name, as Prometheus's conventions ask. */
  name: string;
  /** A counter (only grows) or a gauge. */
  type: "counter" | "gauge";
  /** One line of help. */
  help: string;
  /** Its value now. */
  value: number;
}

/**
 * The process's own: resident memory, V8's heap in use and reserved, and
 * the buffers outside it (what a connection's garbage is made of).
 */
export function processSeries(): Series[] {
  const mem = Deno.memoryUsage();
  return [
    {
      name: "process_resident_memory_bytes",
      type: "gauge",
      help: "Resident memory size in bytes.",
      value: mem.rss,
    },
    {
      name: "deno_heap_used_bytes",
      type: "gauge",
      help: "V8 heap in use, in bytes.",
      value: mem.heapUsed,
    },
    {
      name: "deno_heap_total_bytes",
      type: "gauge",
      help:
        "V8 heap reserved, in bytes: in use, garbage not yet collected, and room.",
      value: mem.heapTotal,
    },
    {
      name: "deno_external_memory_bytes",
      type: "gauge",
      help:
        "Memory outside V8's heap that JavaScript objects hold (buffers), in bytes.",
      value: mem.external,
    },
  ];
}

/** Labels of one sample. */
export type Labels = Record<string, string>;

function labelText(labels: Labels | undefined): string {
  if (!labels) return "";
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k}="${
      v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")
    }"`
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? "+Inf" : "-Inf";
}

/** Builds one exposition, family by family. */
export class Exposition {
  #lines: string[] = [];

  /** Starts a family: its HELP and TYPE lines. */
  family(
    name: string,
    type: "counter" | "gauge" | "histogram",
    help: string,
  ): this {
    this.#lines.push(
      `# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`,
      `# TYPE ${name} ${type}`,
    );
    return this;
  }

  /** One sample of the current family. */
  sample(name: string, value: number, labels?: Labels): this {
    this.#lines.push(`${name}${labelText(labels)} ${num(value)}`);
    return this;
  }

  /** Each series as a family of one sample. */
  series(list: readonly Series[]): this {
    for (const m of list) {
      this.family(m.name, m.type, m.help).sample(m.name, m.value);
    }
    return this;
  }

  /** A histogram's samples (after its `family`). */
  histogram(name: string, h: Histogram, labels?: Labels): this {
    let cumulative = 0;
    h.bounds.forEach((le, i) => {
      cumulative += h.counts[i]!;
      this.sample(`${name}_bucket`, cumulative, { ...labels, le: num(le) });
    });
    cumulative += h.counts[h.bounds.length]!;
    this.sample(`${name}_bucket`, cumulative, { ...labels, le: "+Inf" });
    this.sample(`${name}_sum`, h.sum, labels);
    this.sample(`${name}_count`, h.count, labels);
    return this;
  }

  /** The text, ending in a newline. */
  text(): string {
    return this.#lines.join("\n") + "\n";
  }
}
