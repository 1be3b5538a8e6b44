import { assert, assertEquals } from "../../test/assert.ts";
import {
  type BoxAdapter,
  type FlatBox,
  flattenFirstMatch,
  type KeptFlatten,
  type MatchTerm,
  type OrderedRule,
  patchFirstMatch,
} from "./flatten.ts";
import { normalizeRanges, type Range, subtractRanges } from "./ranges.ts";

/** The meaning of an ordered rule list, evaluated directly: the first rule that matches. */
function reference<L>(
  rules: OrderedRule<L>[],
  space: "l4" | "icmp",
  point: [number, number, number],
): L | undefined {
  const inside = (r: Range, n: number) => r[0] <= n && n <= r[1];
  for (const rule of rules) {
    for (const term of rule.terms) {
      if (!term.addresses.some((r) => inside(r, point[0]))) continue;
      if (term[space].some(([a, b]) => inside(a, point[1]) && inside(b, point[2]))) {
        return rule.label;
      }
    }
  }
  return undefined;
}

function lookup<L>(
  boxes: FlatBox<L>[],
  space: "l4" | "icmp",
  point: [number, number, number],
): L | undefined {
  const inside = (r: Range, n: number) => r[0] <= n && n <= r[1];
  const hits = boxes.filter((b) =>
    b.space === space && inside(b.addresses, point[0]) && inside(b.first, point[1]) &&
    inside(b.second, point[2])
  );
  assert(hits.length <= 1, `boxes overlap at ${point}`);
  return hits[0]?.label;
}

/** A repeatable pseudo-random `random(n)` in [0, n), from `seed` (a linear congruential generator). */
function seededRandom(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
}

function term(addresses: Range[], l4: [Range, Range][], icmp: [Range, Range][] = []): MatchTerm {
  return { addresses, l4, icmp };
}

Deno.test("flattenFirstMatch() gives an earlier rule the overlap and the later one the rest", () => {
  const boxes = flattenFirstMatch([
    { label: "deny-80", terms: [term([[10, 19]], [[[6, 6], [80, 80]]])] },
    { label: "allow-all", terms: [term([[0, 99]], [[[6, 6], [0, 65535]]])] },
  ]);
  assertEquals(lookup(boxes, "l4", [15, 6, 80]), "deny-80");
  assertEquals(lookup(boxes, "l4", [15, 6, 81]), "allow-all");
  assertEquals(lookup(boxes, "l4", [5, 6, 80]), "allow-all");
  assertEquals(lookup(boxes, "l4", [100, 6, 80]), undefined);
  assertEquals(lookup(boxes, "l4", [15, 17, 80]), undefined);
});

Deno.test("flattenFirstMatch() merges neighbouring addresses with the same answer", () => {
  const boxes = flattenFirstMatch([
    {
      label: "a",
      terms: [term([[1, 2]], [[[6, 6], [80, 80]]]), term([[3, 5]], [[[6, 6], [80, 80]]])],
    },
  ]);
  assertEquals(boxes, [{
    space: "l4",
    addresses: [1, 5],
    first: [6, 6],
    second: [80, 80],
    label: "a",
  }]);
});

Deno.test("flattenFirstMatch() drops a rule fully shadowed by an earlier one", () => {
  const boxes = flattenFirstMatch([
    { label: "wide", terms: [term([[0, 100]], [[[6, 6], [0, 65535]]])] },
    { label: "narrow", terms: [term([[5, 6]], [[[6, 6], [443, 443]]])] },
  ]);
  assertEquals(boxes.map((b) => b.label), ["wide"]);
});

Deno.test("flattenFirstMatch() keeps ICMP boxes apart from protocol/port boxes", () => {
  const boxes = flattenFirstMatch([
    { label: "ping", terms: [term([[0, 9]], [], [[[8, 8], [0, 255]]])] },
    {
      label: "all",
      terms: [
        term([[0, 9]], [[[0, 0], [0, 65535]], [[2, 255], [0, 65535]]], [[[0, 255], [0, 255]]]),
      ],
    },
  ]);
  assertEquals(lookup(boxes, "icmp", [3, 8, 0]), "ping");
  assertEquals(lookup(boxes, "icmp", [3, 0, 0]), "all");
  assertEquals(lookup(boxes, "l4", [3, 6, 22]), "all");
  assertEquals(lookup(boxes, "l4", [3, 1, 22]), undefined);
});

Deno.test("flattenFirstMatch() agrees with first-match evaluation on random rule lists", () => {
  const random = seededRandom(7);
  const range = (max: number): Range => {
    const a = random(max);
    const b = random(max);
    return a <= b ? [a, b] : [b, a];
  };
  for (let round = 0; round < 60; round++) {
    const rules: OrderedRule<number>[] = [];
    const count = 1 + random(8);
    for (let r = 0; r < count; r++) {
      const terms: MatchTerm[] = [];
      for (let t = 0; t < 1 + random(2); t++) {
        const addresses: Range[] = [];
        let from = random(10);
        for (let i = 0; i < 1 + random(3) && from < 60; i++) {
          const to = from + random(8);
          addresses.push([from, to]);
          from = to + 2 + random(6);
        }
        terms.push(
          term(addresses, [[range(8), range(20)]], random(3) === 0 ? [[range(8), range(8)]] : []),
        );
      }
      rules.push({ label: r, terms });
    }
    const boxes = flattenFirstMatch(rules);
    for (let a = 0; a < 70; a += 1) {
      for (let p = 0; p < 9; p++) {
        for (let q = 0; q < 21; q += 2) {
          const point: [number, number, number] = [a, p, q];
          assertEquals(
            lookup(boxes, "l4", point),
            reference(rules, "l4", point),
            `round ${round} at ${point}`,
          );
          if (q < 9) {
            assertEquals(
              lookup(boxes, "icmp", point),
              reference(rules, "icmp", point),
              `icmp ${point}`,
            );
          }
        }
      }
    }
  }
});

Deno.test("flattenFirstMatch() handles the whole address space up to 255.255.255.255", () => {
  const boxes = flattenFirstMatch([
    { label: "x", terms: [term([[0xfffffff0, 0xffffffff]], [[[6, 6], [1, 1]]])] },
    { label: "any", terms: [term([[0, 0xffffffff]], [[[6, 6], [1, 1]]])] },
  ]);
  assertEquals(boxes.map((b) => [b.addresses, b.label]), [
    [[0, 0xffffffef], "any"],
    [[0xfffffff0, 0xffffffff], "x"],
  ]);
});

/** The boxes grouped by address run: neighbouring runs must differ (else they were merged). */
function assertRunsMerged<L>(boxes: FlatBox<L>[]): void {
  for (const space of ["l4", "icmp"] as const) {
    const runs = new Map<string, { addresses: Range; answer: string }>();
    for (const b of boxes.filter((b) => b.space === space)) {
      const at = `${b.addresses[0]}-${b.addresses[1]}`;
      const run = runs.get(at) ?? { addresses: b.addresses, answer: "" };
      run.answer += `${b.first}:${b.second}:${b.label};`;
      runs.set(at, run);
    }
    const ordered = [...runs.values()].sort((a, b) => a.addresses[0] - b.addresses[0]);
    for (let i = 1; i < ordered.length; i++) {
      const [before, after] = [ordered[i - 1]!, ordered[i]!];
      assert(
        before.addresses[1] + 1 !== after.addresses[0] || before.answer !== after.answer,
        `${space} runs ${before.addresses} and ${after.addresses} have the same answer`,
      );
    }
  }
}

Deno.test("flattenFirstMatch() merges neighbouring runs of different terms with the same answer", () => {
  // One rule with two terms whose addresses touch, and a second rule shadowed by the first on
  // part of it: every segment (one term, two terms, the other term) has the same answer.
  const boxes = flattenFirstMatch([
    {
      label: "a",
      terms: [term([[0, 9]], [[[6, 6], [80, 80]]]), term([[10, 19]], [[[6, 6], [80, 80]]])],
    },
    { label: "b", terms: [term([[5, 14]], [[[6, 6], [80, 80]]])] },
  ]);
  assertEquals(boxes.map((b) => [b.addresses, b.label]), [[[0, 19], "a"]]);
});

Deno.test("flattenFirstMatch() on many disjoint one-box rules and a few wide ones agrees with first match", () => {
  // The shape of a large security group: one address and port per rule, a few rules over
  // many addresses, some with several port ranges, and ICMP.
  const random = seededRandom(11);
  for (let round = 0; round < 20; round++) {
    const rules: OrderedRule<number>[] = [];
    for (let r = 0; r < 40; r++) {
      const wide = random(8) === 0;
      const first = random(60);
      const addresses: Range[] = [[first, wide ? first + random(20) : first]];
      const ports: [Range, Range][] = random(4) === 0
        ? [[[6, 6], [random(5), 5 + random(5)]], [[17, 17], [random(10), 10]]]
        : [[[6, 6], [random(10), random(10) + 10]]];
      const icmp: [Range, Range][] = random(5) === 0 ? [[[8, 8], [0, 255]]] : [];
      rules.push({ label: r, terms: [term(addresses, ports, icmp)] });
    }
    const boxes = flattenFirstMatch(rules);
    assertRunsMerged(boxes);
    for (let a = 0; a < 82; a++) {
      for (const p of [6, 8, 17]) {
        for (let q = 0; q < 21; q++) {
          const point: [number, number, number] = [a, p, q];
          assertEquals(lookup(boxes, "l4", point), reference(rules, "l4", point), `${point}`);
          if (q === 0) {
            assertEquals(lookup(boxes, "icmp", point), reference(rules, "icmp", point));
          }
        }
      }
    }
  }
});

Deno.test("flattenFirstMatch() on rules whose addresses never overlap agrees with first match", () => {
  // Touching and separate ranges, several per term, the same or different ports: the sweep is a
  // sort then, and neighbours with the same answer still merge.
  const random = seededRandom(5);
  for (let round = 0; round < 20; round++) {
    const free = Array.from({ length: 80 }, (_, i) => i).sort(() => random(3) - 1);
    const rules: OrderedRule<number>[] = [];
    for (let r = 0; r < 20; r++) {
      const addresses = free.splice(0, 1 + random(3)).sort((a, b) => a - b)
        .map((a): Range => [a, a]);
      const port = random(3);
      rules.push({ label: r, terms: [term(addresses, [[[6, 6], [port, port + random(2)]]])] });
    }
    const boxes = flattenFirstMatch(rules);
    assertRunsMerged(boxes);
    for (let a = 0; a < 82; a++) {
      for (let q = 0; q < 5; q++) {
        const point: [number, number, number] = [a, 6, q];
        assertEquals(lookup(boxes, "l4", point), reference(rules, "l4", point), `${point}`);
      }
    }
  }
});

Deno.test("flattenFirstMatch() answers the same when rules share one address list as when each has a copy", () => {
  const random = seededRandom(11);
  for (let round = 0; round < 60; round++) {
    const lists: Range[][] = [];
    for (let l = 0; l < 1 + random(3); l++) {
      const addresses: Range[] = [];
      let from = random(10);
      for (let i = 0; i < 1 + random(4) && from < 60; i++) {
        const to = from + random(8);
        addresses.push([from, to]);
        from = to + 2 + random(6);
      }
      lists.push(addresses);
    }
    const shared: OrderedRule<number>[] = [];
    const copied: OrderedRule<number>[] = [];
    for (let r = 0; r < 2 + random(6); r++) {
      const addresses = lists[random(lists.length)]!;
      const port = random(5);
      const l4: [Range, Range][] = [[[6, 6], [port, port + random(4)]]];
      const icmp: [Range, Range][] = random(3) === 0 ? [[[8, 8], [0, 255]]] : [];
      shared.push({ label: r, terms: [term(addresses, l4, icmp)] });
      copied.push({ label: r, terms: [term(addresses.map(([a, b]) => [a, b]), l4, icmp)] });
    }
    const boxes = flattenFirstMatch(shared);
    assertEquals(boxes, flattenFirstMatch(copied), `round ${round}`);
    for (let a = 0; a < 80; a++) {
      for (const p of [0, 2, 4, 7]) {
        assertEquals(lookup(boxes, "l4", [a, 6, p]), reference(shared, "l4", [a, 6, p]));
      }
      assertEquals(lookup(boxes, "icmp", [a, 8, 0]), reference(shared, "icmp", [a, 8, 0]));
    }
  }
});

// ---- patchFirstMatch -----------------------------------------------------------------------------

interface Named {
  name: string;
}

const namedBoxes: BoxAdapter<Named, FlatBox<Named>> = {
  label: (box) => box.label,
  make: (box) => box,
  key: (label) => label.name,
};

/** Boxes with their labels' names, to compare a patch with a flatten from scratch. */
function plain(boxes: readonly FlatBox<Named>[]) {
  return boxes.map((b) => ({ ...b, label: b.label.name }));
}

/** Random rules over a small address space, so that ranges touch and overlap often. */
function randomRules(random: (n: number) => number, count: number): OrderedRule<Named>[] {
  const shared: Range[][] = [];
  const rules: OrderedRule<Named>[] = [];
  for (let i = 0; i < count; i++) {
    const terms: MatchTerm[] = [];
    for (let t = 0; t < 1 + random(2); t++) {
      let addresses: Range[];
      if (shared.length > 0 && random(3) === 0) addresses = shared[random(shared.length)]!;
      else {
        const points: Range[] = [];
        for (let k = 0; k < 1 + random(12); k++) {
          const first = random(60);
          points.push([first, first + (random(4) === 0 ? random(6) : 0)]);
        }
        addresses = normalizeRanges(points);
        shared.push(addresses);
      }
      const port = 80 + random(4);
      terms.push(term(
        addresses,
        random(4) === 0 ? [] : [[[6, 6], [port, port + random(3)]]],
        random(3) === 0 ? [[[random(3), random(3) + 1], [0, 255]]] : [],
      ));
    }
    rules.push({ label: { name: `r${i}` }, terms });
  }
  return rules;
}

/** `rules` with a few changes: peers gained or lost, ports changed, rules added or removed. */
function changeRules(
  random: (n: number) => number,
  rules: readonly OrderedRule<Named>[],
  next: () => string,
): OrderedRule<Named>[] {
  const out = rules.map((rule) => ({ label: { name: rule.label.name }, terms: rule.terms }));
  // The same list changed once for all its readers, as a selection is.
  const lists = new Map<readonly Range[], readonly Range[]>();
  const changeList = (list: readonly Range[]) => {
    let changed = lists.get(list);
    if (changed === undefined) {
      const point = random(64);
      const has = list.some(([a, b]) => a <= point && point <= b);
      changed = has
        ? subtractRanges(list, [[point, point]])
        : normalizeRanges([...list, [point, point]]);
      lists.set(list, changed);
    }
    return changed;
  };
  for (let k = 0; k < 1 + random(3); k++) {
    const what = random(10);
    const i = random(out.length);
    const rule = out[i];
    if (what < 6 && rule !== undefined) {
      rule.terms = rule.terms.map((t) =>
        random(2) === 0 ? { ...t, addresses: changeList(t.addresses) } : t
      );
    } else if (what === 6 && rule !== undefined) {
      rule.terms = rule.terms.map((t) => ({ ...t, l4: [[[6, 6], [80 + random(4), 90]]] }));
    } else if (what === 7) {
      out.splice(i, 0, { label: { name: next() }, terms: randomRules(random, 1)[0]!.terms });
    } else if (what === 8 && out.length > 1) {
      out.splice(i, 1);
    } else if (out.length > 1) {
      // Two rules trade places: the patch declines, the caller flattens anew.
      const j = random(out.length);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
  }
  return out;
}

Deno.test("patchFirstMatch() gives the boxes of flattenFirstMatch() after random changes of the rules", () => {
  let patched = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const random = seededRandom(seed);
    let names = 100;
    let rules = randomRules(random, 1 + random(8));
    let kept: KeptFlatten<Named, FlatBox<Named>> = { rules, boxes: flattenFirstMatch(rules) };
    for (let step = 0; step < 25; step++) {
      rules = changeRules(random, kept.rules, () => `r${names++}`);
      const want = flattenFirstMatch(rules);
      const patch = patchFirstMatch(kept, rules, namedBoxes);
      if (patch === undefined) {
        kept = { rules, boxes: want };
        continue;
      }
      patched++;
      assertEquals(plain(patch.boxes), plain(want), `seed ${seed}, step ${step}`);
      kept = patch;
    }
  }
  assert(patched > 500, `only ${patched} changes were patched`);
});

Deno.test("patchFirstMatch() keeps the old boxes outside one address that left a shared list", () => {
  const team: Range[] = [[10, 10], [12, 12], [14, 20]];
  const rules = (addresses: Range[]): OrderedRule<Named>[] => [
    { label: { name: "a" }, terms: [term(addresses, [[[6, 6], [80, 80]]])] },
    { label: { name: "b" }, terms: [term(addresses, [[[6, 6], [443, 443]]])] },
  ];
  const before = rules(team);
  const boxes = flattenFirstMatch(before);
  const patch = patchFirstMatch({ rules: before, boxes }, rules([[10, 10], [14, 20]]), namedBoxes)!;
  assertEquals(patch.boxes.map((b) => b.addresses), [[10, 10], [10, 10], [14, 20], [14, 20]]);
  assert(patch.boxes[0] === boxes[0] && patch.boxes[3] === boxes[5], "a box outside was made anew");
  assert(patch.rules[0]!.label === before[0]!.label, "a kept rule has a new label object");
});

Deno.test("patchFirstMatch() declines when kept rules change order", () => {
  const rules: OrderedRule<Named>[] = [
    { label: { name: "a" }, terms: [term([[1, 5]], [[[6, 6], [80, 80]]])] },
    { label: { name: "b" }, terms: [term([[3, 9]], [[[6, 6], [80, 80]]])] },
  ];
  const kept = { rules, boxes: flattenFirstMatch(rules) };
  assertEquals(patchFirstMatch(kept, [rules[1]!, rules[0]!], namedBoxes), undefined);
});
