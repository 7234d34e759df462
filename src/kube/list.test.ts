// The list page deadline, against a socket on loopback that accepts the connection and never answers (an API server
// that hangs): the page fails at its deadline instead of holding the informer forever.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { KubeClient } from "./client.ts";
import { listTransformed } from "./list.ts";

describe("listTransformed", () => {
  let server: Server;
  const sockets: Socket[] = [];
  let client: KubeClient;

  before(async () => {
    server = createServer((socket) => sockets.push(socket)); // reads the request, answers nothing
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    client = new KubeClient({ server: `http://127.0.0.1:${port}` }, 60_000);
  });
  after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });

  it("a page that never answers fails at the page deadline", { timeout: 5_000 }, async () => {
    await assert.rejects(
      listTransformed(client, "/api/v1/secrets", (o) => o, { pageTimeoutMs: 200 }),
      (err: Error) => err.name === "TimeoutError" || /timeout|aborted/i.test(err.message),
    );
    assert.ok(sockets.length >= 1, "the request reached the hanging server");
  });

  it("without a page deadline, the client's request timeout applies", { timeout: 5_000 }, async () => {
    const short = new KubeClient(client.connection, 200);
    await assert.rejects(
      listTransformed(short, "/api/v1/secrets", (o) => o),
      (err: Error) => err.name === "TimeoutError",
    );
  });
});
