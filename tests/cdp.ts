/**
 * Headless Chromium driven over the DevTools protocol with the runtime's own
 * WebSocket: enough to open a page, run script in it, and take screenshots.
 */

import { freePort } from "./process.ts";

/** A running headless Chromium and one page of it. */
export class Browser {
  #child: Deno.ChildProcess;
  #ws: WebSocket;
  #id = 0;
  #pending = new Map<
    number,
    (m: { result?: unknown; error?: unknown }) => void
  >();
  #dir: string;

  private constructor(child: Deno.ChildProcess, ws: WebSocket, dir: string) {
    this.#child = child;
    this.#ws = ws;
    this.#dir = dir;
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.id !== undefined) {
        this.#pending.get(m.id)?.(m);
        this.#pending.delete(m.id);
      }
    };
  }

  /** Starts Chromium (Debian's /usr/bin/chromium) and opens a blank page. */
  static async launch(): Promise<Browser> {
    const dir = await Deno.makeTempDir({ prefix: "groktunnel-chromium-" });
    const port = freePort();
    const child = new Deno.Command("chromium", {
      args: [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-breakpad",
        "--disable-crash-reporter",
        "--disable-dev-shm-usage",
        "--window-size=1280,800",
        `--user-data-dir=${dir}`,
        `--remote-debugging-port=${port}`,
        "about:blank",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    let target: { webSocketDebuggerUrl: string } | undefined;
    for (let i = 0; i < 100 && !target; i++) {
      try {
        const list = await (await fetch(`http://127.0.0.1:${port}/json/list`))
          .json();
        target = list.find((t: { type: string }) => t.type === "page");
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!target) throw new Error("Chromium did not start");
    const ws = new WebSocket(target.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return new Browser(child, ws, dir);
  }

  /** Sends a DevTools command; resolves with its result. */
  // deno-lint-ignore no-explicit-any
  send(method: string, params: Record<string, unknown> = {}): Promise<any> {
    const id = ++this.#id;
    this.#ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (m) => {
        if (m.error) reject(new Error(`${method}: ${JSON.stringify(m.error)}`));
        else resolve(m.result);
      });
    });
  }

  /** Opens `url` and waits for it to load. */
  async goto(url: string): Promise<void> {
    await this.send("Page.enable");
    await this.send("Page.navigate", { url });
    await this.waitFor("document.readyState === 'complete'");
  }

  /** Runs `expression` in the page; resolves with its value. */
  async eval<T = unknown>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    });
    if (r.exceptionDetails) {
      throw new Error(`in page: ${JSON.stringify(r.exceptionDetails)}`);
    }
    return r.result.value as T;
  }

  /** Waits until `expression` is truthy in the page (or throws after `ms`). */
  async waitFor(expression: string, ms = 10_000): Promise<void> {
    const until = Date.now() + ms;
    while (!(await this.eval(expression).catch(() => false))) {
      if (Date.now() > until) throw new Error(`page never had: ${expression}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A PNG of the page as it is. */
  async screenshot(): Promise<Uint8Array> {
    const r = await this.send("Page.captureScreenshot", { format: "png" });
    return Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0));
  }

  /** Closes the browser and removes its profile. */
  async close(): Promise<void> {
    try {
      this.#ws.close();
    } catch { /* closed */ }
    try {
      this.#child.kill("SIGTERM");
    } catch { /* gone */ }
    await this.#child.status;
    // Chromium's helpers (crashpad, utility processes) outlive the main
    // one for a moment and may write into the profile after a first
    // removal: remove until it stays gone for half a second.
    let gone = 0;
    for (let i = 0; i < 100 && gone < 5; i++) {
      await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
      gone = await Deno.stat(this.#dir).then(() => 0, () => gone + 1);
    }
  }

  /** The profile folder (removed by {@linkcode close}). */
  get profile(): string {
    return this.#dir;
  }
}
