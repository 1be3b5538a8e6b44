import { assertEquals, assertRejects, assertThrows } from "../../test/assert.ts";
import { KubeNetworkError } from "./errors.ts";
import { decodeWatchStream, WatchDecoder, type WatchEvent } from "./watch_stream.ts";

const enc = new TextEncoder();
const pod = (name: string, rv: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", resourceVersion: rv },
});
const line = (type: string, object: unknown) => JSON.stringify({ type, object }) + "\n";
const brief = (events: WatchEvent[]) =>
  events.map((e) =>
    e.type === "ERROR"
      ? `ERROR ${e.error.code}`
      : `${e.type} ${e.object.metadata.name ?? ""}@${e.object.metadata.resourceVersion}`
  );

Deno.test("WatchDecoder joins an event split across chunks, even inside a UTF-8 character", () => {
  const text = line("ADDED", { ...pod("web", "5"), note: "héllo" });
  const bytes = enc.encode(text);
  const cut = text.indexOf("é") + 1; // the second byte of "é"
  const decoder = new WatchDecoder();
  assertEquals(decoder.push(bytes.slice(0, 10)), []);
  assertEquals(decoder.push(bytes.slice(10, cut)), []);
  const events = decoder.push(bytes.slice(cut));
  assertEquals(brief(events), ["ADDED web@5"]);
  assertEquals((events[0]!.object as { note?: string }).note, "héllo");
  assertEquals(decoder.end(), []);
});

Deno.test("WatchDecoder yields several events of one chunk in order, bookmarks included", () => {
  const decoder = new WatchDecoder();
  const chunk = line("ADDED", pod("a", "1")) + line("MODIFIED", pod("a", "2")) +
    line("BOOKMARK", { kind: "Pod", apiVersion: "v1", metadata: { resourceVersion: "7" } }) +
    line("DELETED", pod("a", "8")).slice(0, 20);
  assertEquals(brief(decoder.push(enc.encode(chunk))), [
    "ADDED a@1",
    "MODIFIED a@2",
    "BOOKMARK @7",
  ]);
  assertEquals(brief(decoder.push(enc.encode(line("DELETED", pod("a", "8")).slice(20)))), [
    "DELETED a@8",
  ]);
});

Deno.test("WatchDecoder gives the same events wherever the body is cut, blank lines and CRLF included", () => {
  const body = line("ADDED", { ...pod("a", "1"), note: "ünï" }) + "\n  \n" +
    line("MODIFIED", pod("a", "2")).replace("\n", "\r\n") + "\u00a0\n" +
    line("DELETED", pod("a", "3")) + line("ADDED", pod("b", "4"));
  const bytes = enc.encode(body);
  const want = ["ADDED a@1", "MODIFIED a@2", "DELETED a@3", "ADDED b@4"];
  for (let size = 1; size <= bytes.length; size += size < 8 ? 1 : 7) {
    const decoder = new WatchDecoder();
    const got: WatchEvent[] = [];
    for (let at = 0; at < bytes.length; at += size) {
      got.push(...decoder.push(bytes.slice(at, at + size)));
    }
    got.push(...decoder.end());
    assertEquals(brief(got), want, `chunks of ${size} bytes`);
    assertEquals((got[0]!.object as { note?: string }).note, "ünï");
  }
});

Deno.test("WatchDecoder takes a complete last event without its newline", () => {
  const decoder = new WatchDecoder();
  assertEquals(decoder.push(enc.encode(line("ADDED", pod("a", "1")).trimEnd())), []);
  assertEquals(brief(decoder.end()), ["ADDED a@1"]);
});

Deno.test("WatchDecoder reports a stream cut inside an event as a network error", () => {
  const decoder = new WatchDecoder();
  decoder.push(
    enc.encode(line("ADDED", pod("a", "1")) + line("ADDED", pod("b", "2")).slice(0, 30)),
  );
  assertThrows(
    () => decoder.end(),
    KubeNetworkError,
    "Watch stream ended inside an event: 30 bytes",
  );
});

Deno.test("WatchDecoder decodes an ERROR event's Status into an ApiError", () => {
  const decoder = new WatchDecoder();
  const [event] = decoder.push(enc.encode(line("ERROR", {
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    message: "too old resource version: 3 (90)",
    reason: "Expired",
    code: 410,
  })));
  if (event?.type !== "ERROR") throw new Error(`expected an ERROR event: got ${event?.type}`);
  assertEquals([event.error.code, event.error.reason, event.error.expired], [410, "Expired", true]);
});

Deno.test("WatchDecoder refuses a line that is not a watch event", () => {
  assertThrows(() => new WatchDecoder().push(enc.encode("{oops\n")), KubeNetworkError, "not JSON");
  assertThrows(
    () => new WatchDecoder().push(enc.encode('{"type":"SNAPSHOT","object":{}}\n')),
    KubeNetworkError,
    "not a watch event",
  );
});

Deno.test("decodeWatchStream() reads a chunked body to its end and counts data", async () => {
  const text = line("ADDED", pod("a", "1")) + line("ADDED", pod("b", "2"));
  const chunks = [text.slice(0, 7), text.slice(7, 70), text.slice(70)];
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(enc.encode(c));
      controller.close();
    },
  });
  let data = 0;
  const events = await Array.fromAsync(decodeWatchStream(body, { onData: () => data++ }));
  assertEquals(brief(events), ["ADDED a@1", "ADDED b@2"]);
  assertEquals(data, 3);
});

Deno.test("decodeWatchStream() passes on a read error after the events before it", async () => {
  let pulls = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulls++ === 0) controller.enqueue(enc.encode(line("ADDED", pod("a", "1"))));
      else controller.error(new TypeError("connection reset"));
    },
  });
  const seen: string[] = [];
  await assertRejects(
    async () => {
      for await (const e of decodeWatchStream(body)) seen.push(...brief([e]));
    },
    TypeError,
    "connection reset",
  );
  assertEquals(seen, ["ADDED a@1"]);
});
