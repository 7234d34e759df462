import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WatchedFile } from "./watched-file.ts";

describe("WatchedFile", () => {
  test("is undefined until the file exists, then reads it", () => {
    const dir = mkdtempSync(join(tmpdir(), "watched-"));
    const states: string[] = [];
    const file = new WatchedFile(join(dir, "ca.crt"), { checkEveryMs: 0, onChange: (s) => states.push(s) });
    assert.equal(file.read(), undefined);
    writeFileSync(join(dir, "ca.crt"), "PEM\n");
    assert.deepEqual(file.read(), { text: "PEM", version: 1 });
    assert.deepEqual(states, ["loaded"]);
    rmSync(dir, { recursive: true });
  });
  test("follows a symlink swap as the kubelet does it for a ConfigMap", () => {
    const dir = mkdtempSync(join(tmpdir(), "watched-"));
    writeFileSync(join(dir, "one"), "first");
    writeFileSync(join(dir, "two"), "second");
    symlinkSync(join(dir, "one"), join(dir, "ca.crt"));
    const file = new WatchedFile(join(dir, "ca.crt"), { checkEveryMs: 0 });
    assert.equal(file.read()?.text, "first");
    symlinkSync(join(dir, "two"), join(dir, "next"));
    renameSync(join(dir, "next"), join(dir, "ca.crt"));
    assert.deepEqual(file.read(), { text: "second", version: 2 });
    rmSync(dir, { recursive: true });
  });
  test("looks at the file at most once per checkEveryMs, and reads it again after maxAgeMs", () => {
    const dir = mkdtempSync(join(tmpdir(), "watched-"));
    let clock = 0;
    const path = join(dir, "token");
    writeFileSync(path, "a");
    const file = new WatchedFile(path, { checkEveryMs: 1000, maxAgeMs: 60_000, now: () => clock });
    assert.equal(file.read()?.text, "a");
    writeFileSync(path, "b");
    clock = 500;
    assert.equal(file.read()?.text, "a");
    clock = 1500;
    assert.equal(file.read()?.text, "b");
    rmSync(dir, { recursive: true });
  });
});
