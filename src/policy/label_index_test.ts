import { assertEquals } from "../../test/assert.ts";
import { LabelIndex } from "./label_index.ts";

const sorted = (slots: readonly number[]) => [...slots].sort((a, b) => a - b);

Deno.test("LabelIndex keeps each value's slots as they come and go, one slot or many", () => {
  const index = new LabelIndex();
  index.add("web", 3);
  assertEquals(index.get("web"), [3]);
  assertEquals(index.count("web"), 1);
  index.add("web", 2000);
  index.add("web", 7);
  index.add("db", 5);
  assertEquals(sorted(index.get("web")), [3, 7, 2000]);
  // The first slot leaves: the last takes its place, and can leave in turn.
  assertEquals(index.delete("web", 3), true);
  assertEquals(sorted(index.get("web")), [7, 2000]);
  assertEquals(index.delete("web", 2000), true);
  assertEquals(index.get("web"), [7]);
  assertEquals(index.count("web"), 1);
  assertEquals(index.delete("web", 7), true);
  assertEquals(index.get("web"), []);
  assertEquals(index.count("web"), 0);
  assertEquals(index.get("db"), [5]);
});

Deno.test("LabelIndex.delete() of a slot a value does not hold changes nothing", () => {
  const index = new LabelIndex();
  assertEquals(index.delete("web", 1), false);
  index.add("web", 1);
  assertEquals(index.delete("web", 2), false);
  index.add("web", 2);
  index.add("db", 3);
  index.add("db", 4);
  // Slot 3 is at place 0 of db's array, as slot 1 is of web's: web must not lose slot 1.
  assertEquals(index.delete("web", 3), false);
  assertEquals(index.delete("web", 5000), false);
  assertEquals(sorted(index.get("web")), [1, 2]);
  assertEquals(sorted(index.get("db")), [3, 4]);
});

Deno.test("LabelIndex matches a set's answers through a long random churn", () => {
  const index = new LabelIndex();
  const want = new Map<string, Set<number>>();
  let seed = 7;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const valueOf = new Map<number, string>();
  for (let step = 0; step < 20_000; step++) {
    const slot = next(500);
    const had = valueOf.get(slot);
    if (had !== undefined) {
      assertEquals(index.delete(had, slot), true);
      want.get(had)!.delete(slot);
      valueOf.delete(slot);
    }
    if (next(3) > 0) {
      const value = `v${next(6)}`;
      index.add(value, slot);
      if (!want.has(value)) want.set(value, new Set());
      want.get(value)!.add(slot);
      valueOf.set(slot, value);
    }
  }
  for (const [value, slots] of want) {
    assertEquals(sorted(index.get(value)), sorted([...slots]), value);
    assertEquals(index.count(value), slots.size, value);
  }
});
