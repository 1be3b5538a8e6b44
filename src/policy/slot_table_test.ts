import { assertEquals } from "../../test/assert.ts";
import { SlotTable } from "./slot_table.ts";

Deno.test("SlotTable finds each slot by its pod's namespace and name, and forgets deleted ones", () => {
  const pods: { namespace: string; name: string }[] = [];
  const table = new SlotTable((slot) => pods[slot]!);
  pods[0] = { namespace: "a", name: "x" };
  pods[1] = { namespace: "b", name: "x" };
  table.add(0);
  table.add(1);
  assertEquals(table.get("a", "x"), 0);
  assertEquals(table.get("b", "x"), 1);
  assertEquals(table.get("a", "y"), undefined);
  assertEquals(table.size, 2);
  assertEquals(table.delete("a", "x"), true);
  assertEquals(table.delete("a", "x"), false);
  assertEquals(table.get("a", "x"), undefined);
  assertEquals(table.get("b", "x"), 1);
  assertEquals(table.size, 1);
});

Deno.test("SlotTable matches a map's answers through a long random churn, growing", () => {
  const pods: ({ namespace: string; name: string } | undefined)[] = [];
  const table = new SlotTable((slot) => pods[slot]!);
  const want = new Map<string, number>();
  const free: number[] = [];
  let seed = 11;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let step = 0; step < 60_000; step++) {
    const namespace = `ns${next(7)}`;
    const name = `pod-${next(3000)}`;
    const key = `${namespace}/${name}`;
    const slot = want.get(key);
    if (slot !== undefined) {
      assertEquals(table.get(namespace, name), slot, key);
      if (next(2) === 0) continue;
      assertEquals(table.delete(namespace, name), true, key);
      want.delete(key);
      pods[slot] = undefined;
      free.push(slot);
    } else {
      assertEquals(table.get(namespace, name), undefined, key);
      const added = free.pop() ?? pods.length;
      pods[added] = { namespace, name };
      table.add(added);
      want.set(key, added);
    }
  }
  assertEquals(table.size, want.size);
  for (const [key, slot] of want) {
    const [namespace, name] = key.split("/") as [string, string];
    assertEquals(table.get(namespace, name), slot, key);
  }
});
