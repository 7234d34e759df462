// A small file the agent reads again when it changes: the authority's CA (a ConfigMap the kubelet swaps by symlink)
// and the agent's projected token (rotated by the kubelet). Checked on use, at most once per checkEveryMs, and read
// again at least every maxAgeMs even when its stat looks the same.
import { readFileSync, statSync } from "node:fs";

export interface FileContent {
  text: string;
  /** Grows by one each time the text differs from the text read before. */
  version: number;
}

export interface WatchedFileOptions {
  checkEveryMs?: number;
  maxAgeMs?: number;
  now?: () => number;
  /** Called when the file appears, changes or goes away (for a log line). */
  onChange?: (state: "loaded" | "changed" | "missing") => void;
}

export class WatchedFile {
  readonly #checkEveryMs: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #onChange: WatchedFileOptions["onChange"];
  #content: FileContent | undefined;
  #stamp = "";
  #checkedAt = -Infinity;
  #readAt = -Infinity;
  #version = 0;

  readonly path: string;

  constructor(path: string, options: WatchedFileOptions = {}) {
    this.path = path;
    this.#checkEveryMs = options.checkEveryMs ?? 1000;
    this.#maxAgeMs = options.maxAgeMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.#onChange = options.onChange;
  }

  /** The file's trimmed text, or undefined while it does not exist (or is empty). */
  read(): FileContent | undefined {
    const now = this.#now();
    if (now - this.#checkedAt < this.#checkEveryMs) return this.#content;
    this.#checkedAt = now;
    let stamp;
    try {
      const s = statSync(this.path); // follows the symlink the kubelet swaps
      stamp = `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      stamp = "";
    }
    if (stamp === this.#stamp && now - this.#readAt < this.#maxAgeMs) return this.#content;
    this.#stamp = stamp;
    this.#readAt = now;
    let text = "";
    try {
      text = stamp === "" ? "" : readFileSync(this.path, "utf8").trim();
    } catch {
      text = "";
    }
    const before = this.#content;
    if (text === "") {
      this.#content = undefined;
      if (before) this.#onChange?.("missing");
    } else if (text !== before?.text) {
      this.#content = { text, version: ++this.#version };
      this.#onChange?.(before ? "changed" : "loaded");
    }
    return this.#content;
  }
}
