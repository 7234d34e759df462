// The Node inspector of an operator started with NODE_OPTIONS=--inspect=127.0.0.1:0: one DevTools protocol call
// over its WebSocket, with its events (a heap snapshot arrives as chunk events before the call's answer).

/** The inspector's WebSocket URL, from what the process printed. */
export function inspectorUrl(output: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
}

/** Calls `method` and resolves with the `params.chunk` of every event it sent before the answer, joined. */
export async function inspectorCall(url: string, method: string, timeoutMs = 60_000): Promise<string> {
  const ws = new WebSocket(url);
  const chunks: string[] = [];
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inspector: no answer to ${method}`)), timeoutMs);
      ws.addEventListener("open", () => ws.send(JSON.stringify({ id: 1, method })));
      ws.addEventListener("message", (event) => {
        const reply = JSON.parse(String(event.data)) as {
          id?: number;
          params?: { chunk?: string };
          error?: { message: string };
        };
        if (reply.params?.chunk !== undefined) chunks.push(reply.params.chunk);
        if (reply.id !== 1) return;
        clearTimeout(timer);
        if (reply.error) reject(new Error(`inspector: ${reply.error.message}`));
        else resolve(chunks.join(""));
      });
      ws.addEventListener("error", () => {
        clearTimeout(timer);
        reject(new Error(`inspector: cannot connect to ${url}`));
      });
    });
  } finally {
    ws.close();
  }
}
