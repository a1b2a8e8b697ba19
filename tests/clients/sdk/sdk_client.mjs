// The official JS SDK (@opencode-ai/sdk, pinned in package.json) as a client of a server:
//
//     OPENCODE_SERVER_PASSWORD=... node sdk_client.mjs http://127.0.0.1:4096
//
// It subscribes to `client.global.event()` the way an SDK consumer does and prints one JSON
// line per thing that happens, on stdout:
//     {"t": <ms since start>, "kind": "event", "type": "...", "directory": "...", "properties": {...}}
//     {"t": ..., "kind": "sse-error", "message": "..."}      (the SDK's onSseError: it retries)
//     {"t": ..., "kind": "end"}                              (the iteration ended: no retry)
// Commands, one a line on stdin, answered by a line {"kind": "reply", "id", "ok", "data"|"error"}:
//     <id> create <title>        client.session.create
//     <id> list                  client.session.list (the titles)
//     <id> health                client.global.health
// The password comes from the environment, never from the command line.
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
import { createInterface } from "node:readline";

const baseUrl = process.argv[2];
const user = process.env.OPENCODE_SERVER_USERNAME || "opencode";
const password = process.env.OPENCODE_SERVER_PASSWORD || "";
const headers = password
  ? { Authorization: "Basic " + Buffer.from(`${user}:${password}`).toString("base64") }
  : {};
const client = createOpencodeClient({ baseUrl, headers });
const started = Date.now();
const say = (line) => process.stdout.write(JSON.stringify({ t: Date.now() - started, ...line }) + "\n");

async function listen() {
  const sub = await client.global.event({
    onSseError: (error) => say({ kind: "sse-error", message: String(error?.message ?? error) }),
  });
  for await (const event of sub.stream) {
    const payload = event?.payload ?? {};
    say({
      kind: "event",
      type: payload.type,
      directory: event?.directory ?? null,
      properties: payload.properties ?? null,
    });
  }
  say({ kind: "end" });
}

async function answer(line) {
  const [id, verb, ...rest] = line.trim().split(" ");
  if (!verb) return;
  try {
    let result;
    if (verb === "create") result = await client.session.create({ title: rest.join(" ") });
    else if (verb === "list") result = await client.session.list();
    else if (verb === "health") result = await client.global.health();
    else throw new Error(`unknown command ${verb}`);
    if (result.error !== undefined || !result.response?.ok) {
      const status = result.response?.status ?? "no response";
      say({ kind: "reply", id, ok: false, error: `${status} ${JSON.stringify(result.error ?? null)}` });
    } else if (verb === "list") {
      say({ kind: "reply", id, ok: true, data: result.data.map((s) => s.title) });
    } else {
      say({ kind: "reply", id, ok: true, data: result.data });
    }
  } catch (error) {
    say({ kind: "reply", id, ok: false, error: String(error?.message ?? error) });
  }
}

createInterface({ input: process.stdin }).on("line", (line) => void answer(line));
process.stdin.on("end", () => process.exit(0));
listen().catch((error) => {
  say({ kind: "fatal", message: String(error?.message ?? error) });
  process.exit(1);
});
