// A plain HTTP server on 127.0.0.1 for the transport's unit tests: each test says how it answers, and it records
// every request with the connection it came on, so a test can see retries, headers and socket reuse.
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headersDistinct"];
  body: string;
  /** Which connection it came on (0 for the first the server accepted). */
  socket: number;
  /** 1 for the first request on its connection, 2 for the next (a reused keep-alive socket), … */
  onSocket: number;
}

export type Answer = (req: SeenRequest, res: ServerResponse, raw: IncomingMessage) => void;

export interface FakeApiServer {
  url: string;
  requests: SeenRequest[];
  /** How each request is answered; replace it between steps of a test. */
  answer: Answer;
  close(): Promise<void>;
}

/** `{}` as JSON with 200: what most tests need. */
export const ok: Answer = (_req, res) => json(res, 200, {});

export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export async function startFakeApiServer(answer: Answer = ok): Promise<FakeApiServer> {
  const sockets = new Map<Socket, { index: number; requests: number }>();
  const fake: FakeApiServer = { url: "", requests: [], answer, close: () => Promise.resolve() };
  const server = createServer((raw, res) => {
    const chunks: Buffer[] = [];
    raw.on("data", (c: Buffer) => chunks.push(c));
    raw.on("end", () => {
      const conn = sockets.get(raw.socket)!;
      conn.requests++;
      const seen: SeenRequest = {
        method: raw.method ?? "",
        url: raw.url ?? "",
        headers: raw.headersDistinct,
        body: Buffer.concat(chunks).toString("utf8"),
        socket: conn.index,
        onSocket: conn.requests,
      };
      fake.requests.push(seen);
      fake.answer(seen, res, raw);
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.set(socket, { index: sockets.size, requests: 0 });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  fake.url = `http://127.0.0.1:${port}`;
  fake.close = () => {
    for (const socket of sockets.keys()) socket.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return fake;
}
