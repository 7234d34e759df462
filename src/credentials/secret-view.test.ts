import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { V1Secret } from "@kubernetes/client-node";
import { SecretAnnotation } from "../domain/plan.ts";
import { dataHash } from "../runtime/content-hash.ts";
import { FakeSecrets } from "./ports.fakes.ts";
import { ResourceStates } from "./resource-state.ts";
import { SecretView, cachedSecret } from "./secret-view.ts";

function body(value: string): V1Secret {
  const data = { key: Buffer.from(value).toString("base64") };
  return {
    metadata: { namespace: "ns", name: "s", annotations: { [SecretAnnotation.dataHash]: dataHash(data) } },
    data,
  };
}

describe("SecretView.isOwnWrite", () => {
  test("the watch echoing a write before its answer arrives is our own write, not a change", async () => {
    const secrets = new FakeSecrets();
    let echoSeenAsOwn: boolean | undefined;
    let otherSeenAsOwn: boolean | undefined;
    const state = new ResourceStates().of("ns/r", "uid-r", 1);
    const view = new SecretView(secrets.cache, {
      ...secrets.writer,
      // The API server has stored the object and the watch delivers it while the create call is still answering.
      create: async (secret) => {
        const stored = await secrets.create(secret);
        echoSeenAsOwn = view.isOwnWrite(state, cachedSecret(stored));
        otherSeenAsOwn = view.isOwnWrite(
          state,
          cachedSecret({ ...body("someone else's"), metadata: stored.metadata }),
        );
        return stored;
      },
    });
    await view.write(state, body("ours"), undefined, false);
    assert.equal(echoSeenAsOwn, true);
    assert.equal(otherSeenAsOwn, false, "other data under the same name is a change");
    assert.equal(state.writeInFlight, undefined, "nothing is in flight after the answer");
  });

  test("once the write has answered, only the object it produced is ours", async () => {
    const secrets = new FakeSecrets();
    const state = new ResourceStates().of("ns/r", "uid-r", 1);
    // A cache that lags: the echo has not arrived when the write answers.
    const view = new SecretView({ ...secrets.cache, get: () => undefined }, secrets.writer);
    const written = await view.write(state, body("ours"), undefined, false);
    const later = { ...written, metadata: { ...written.metadata, resourceVersion: "other" } };
    assert.equal(view.isOwnWrite(state, later), false, "a later version is someone else's change");
    assert.equal(view.isOwnWrite(state, written), true);
  });

  test("a write the cache already shows is not remembered: it cannot stand in once the Secret leaves the cache", async () => {
    const secrets = new FakeSecrets();
    const state = new ResourceStates().of("ns/r", "uid-r", 1);
    const view = new SecretView(secrets.cache, secrets.writer);
    await view.write(state, body("ours"), undefined, false);
    assert.equal(state.secretWrite, undefined);
  });

  test("a failed write leaves nothing in flight", async () => {
    const secrets = new FakeSecrets();
    const state = new ResourceStates().of("ns/r", "uid-r", 1);
    const view = new SecretView(secrets.cache, secrets.writer);
    secrets.failNext.push(new Error("boom"));
    await assert.rejects(view.write(state, body("ours"), undefined, false), /boom/);
    assert.equal(state.writeInFlight, undefined);
  });
});
