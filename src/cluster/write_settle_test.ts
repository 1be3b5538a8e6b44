import { assertEquals } from "../../test/assert.ts";
import { eventEffect, WriteSettle } from "./write_settle.ts";

const names = (s: Set<string>) => [...s].sort();

Deno.test("eventEffect() ends a write on rename and remove, closes on access, else writes", () => {
  assertEquals(
    (["rename", "remove", "access", "create", "modify", "any", "other"] as const).map(eventEffect),
    ["done", "done", "closed", "writing", "writing", "writing", "writing"],
  );
});

Deno.test("WriteSettle reads a file renamed into place after settleMs of quiet, not debounceMs", () => {
  const s = new WriteSettle({ settleMs: 10, debounceMs: 100 });
  assertEquals(s.due(), undefined);
  s.note("rename", ["a.yaml"], 1000);
  assertEquals(s.due(), 1010);
  assertEquals(names(s.take(1009).ready), [], "nothing before it is due");
  const { ready, writing } = s.take(1010);
  assertEquals([names(ready), names(writing)], [["a.yaml"], []]);
  assertEquals(s.due(), undefined);
  assertEquals(s.pending, false);
});

Deno.test("WriteSettle waits debounceMs after the last event of a write that was not closed", () => {
  const s = new WriteSettle({ settleMs: 10, debounceMs: 100 });
  s.note("create", ["a.yaml"], 0);
  s.note("modify", ["a.yaml"], 50);
  assertEquals(s.due(), 150);
  assertEquals(names(s.take(149).ready), []);
  assertEquals(names(s.take(150).ready), ["a.yaml"]);
});

Deno.test("WriteSettle takes a close after writing as the end of the write", () => {
  const s = new WriteSettle({ settleMs: 10, debounceMs: 100 });
  s.note("modify", ["a.yaml"], 0);
  s.note("modify", ["a.yaml"], 3);
  s.note("access", ["a.yaml"], 5);
  assertEquals(s.due(), 15);
});

Deno.test("WriteSettle ignores a close of a file nobody wrote (a read)", () => {
  const s = new WriteSettle();
  assertEquals(s.note("access", ["a.yaml"], 0), false);
  assertEquals(s.due(), undefined);
});

Deno.test("WriteSettle reads a burst together once the directory is quiet", () => {
  const s = new WriteSettle({ settleMs: 10, debounceMs: 100 });
  s.note("rename", ["a.yaml"], 0);
  s.note("remove", ["b.yaml"], 8);
  s.note("rename", [".c.yaml.tmp", "c.yaml"], 16);
  assertEquals(s.due(), 26);
  assertEquals(names(s.take(26).ready), [".c.yaml.tmp", "a.yaml", "b.yaml", "c.yaml"]);
});

Deno.test("WriteSettle holds a file still being written while a finished one is read", () => {
  const s = new WriteSettle({ settleMs: 10, debounceMs: 100 });
  s.note("modify", ["slow.yaml"], 0);
  s.note("rename", ["fast.yaml"], 5);
  assertEquals(s.due(), 15);
  const first = s.take(15);
  assertEquals([names(first.ready), names(first.writing)], [["fast.yaml"], ["slow.yaml"]]);
  assertEquals(s.due(), 100);
  const second = s.take(100);
  assertEquals([names(second.ready), names(second.writing)], [["slow.yaml"], []]);
});

Deno.test("WriteSettle reads a file written without pause by maxDelayMs after its first event", () => {
  const s = new WriteSettle({ settleMs: 10, debounceMs: 100, maxDelayMs: 1000 });
  for (let t = 0; t <= 1500; t += 20) s.note("modify", ["log.yaml"], t);
  assertEquals(s.due(), 1000);
  assertEquals(names(s.take(1500).ready), ["log.yaml"]);
});

Deno.test("WriteSettle does not let a stream of renames put a pass off past maxDelayMs", () => {
  const s = new WriteSettle({ settleMs: 10, debounceMs: 100, maxDelayMs: 1000 });
  for (let t = 0; t <= 2000; t += 5) s.note("rename", [`f${t}.yaml`], t);
  assertEquals(s.due(), 1000);
});
