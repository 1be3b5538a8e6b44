/**
 * The multi-version store on its own: revisions, snapshots, compaction, history.
 * @module
 */

import { assertEquals, assertThrows } from "../assert.ts";
import { ApiError } from "./status.ts";
import { MvccStore, type VersionBody } from "./store.ts";

function body(json: string, deleted = false): VersionBody {
  return { json, deleted, labels: {}, fields: {} };
}

function keys(
  store: MvccStore,
  rv: number,
  opts: { prefix?: string; startKey?: string; limit?: number } = {},
) {
  return store.list("pods", { rv, ...opts }).items.map((v) => v.json);
}

Deno.test("MvccStore: each write takes the next revision; a list at an older revision sees that snapshot", () => {
  const s = new MvccStore();
  s.write("pods", "ns/b", () => body("b1"));
  s.write("pods", "ns/a", () => body("a1"));
  const snap = s.rv;
  s.write("pods", "ns/a", () => body("a2"));
  s.write("pods", "ns/b", () => body("b-gone", true));
  s.write("pods", "ns/c", () => body("c1"));
  assertEquals(s.rv, 5);
  assertEquals(keys(s, snap), ["a1", "b1"]);
  assertEquals(keys(s, s.rv), ["a2", "c1"]);
  assertEquals(s.count("pods"), 2);
  assertEquals(s.current("pods", "ns/b"), undefined);
  assertEquals(s.at("pods", "ns/b", snap)?.json, "b1");
});

Deno.test("MvccStore: pages follow key order from startKey; nextKey says where the next page starts", () => {
  const s = new MvccStore();
  for (const k of ["x/3", "x/1", "y/1", "x/2"]) s.write("pods", k, () => body(k));
  const first = s.list("pods", { rv: s.rv, prefix: "x/", limit: 2 });
  assertEquals([first.items.map((v) => v.json), first.nextKey], [["x/1", "x/2"], "x/3"]);
  assertEquals(keys(s, s.rv, { prefix: "x/", startKey: "x/3", limit: 2 }), ["x/3"]);
  assertEquals(
    s.list("pods", { rv: s.rv, prefix: "x/", startKey: "x/3", limit: 1 }).nextKey,
    undefined,
  );
});

Deno.test("MvccStore: compaction expires older revisions (410) and keeps what newer ones see", () => {
  const s = new MvccStore();
  s.write("pods", "a", () => body("a1"));
  s.write("pods", "a", () => body("a2"));
  s.write("pods", "b", () => body("b1"));
  s.write("pods", "b", () => body("b-gone", true));
  s.compact(3);
  assertEquals(s.compactedRv, 3);
  const err = assertThrows(() => s.list("pods", { rv: 2 }), ApiError);
  assertEquals([err.status.code, err.status.reason], [410, "Expired"]);
  assertThrows(() => s.eventsAfter(2), ApiError);
  assertEquals(keys(s, 3), ["a2", "b1"]);
  assertEquals(s.eventsAfter(3).map((e) => e.next.json), ["b-gone"]);
  s.compact();
  assertEquals(keys(s, 4), ["a2"]);
  assertEquals(s.liveKeys("pods"), ["a"]);
});

Deno.test("MvccStore: the history keeps historyLimit events; older revisions are compacted as they fall out", () => {
  const s = new MvccStore({ historyLimit: 3 });
  for (let i = 0; i < 10; i++) s.write("pods", `k${i % 2}`, () => body(`v${i}`));
  assertEquals(s.historySize, 3);
  assertEquals(s.compactedRv, 7);
  assertEquals(s.eventsAfter(7).map((e) => e.rv), [8, 9, 10]);
  // Write i is revision i + 1: at revision 7, k0 holds v6 (revision 7) and k1 v5 (revision 6),
  // both kept by the compaction to 7.
  assertEquals(keys(s, 7), ["v6", "v5"]);
});

Deno.test("MvccStore: listeners hear each write once, with the live version it replaced", () => {
  const s = new MvccStore();
  const seen: string[] = [];
  const off = s.subscribe((e) =>
    seen.push(
      `${e.rv} ${e.prev?.json ?? "-"} -> ${e.next.json}${e.next.deleted ? " (deleted)" : ""}`,
    )
  );
  s.write("pods", "a", () => body("a1"));
  s.write("pods", "a", () => body("a2"));
  s.write("pods", "a", () => body("a2", true));
  s.write("pods", "a", () => body("a3"));
  off();
  s.write("pods", "a", () => body("a4"));
  assertEquals(seen, ["1 - -> a1", "2 a1 -> a2", "3 a2 -> a2 (deleted)", "4 - -> a3"]);
});
