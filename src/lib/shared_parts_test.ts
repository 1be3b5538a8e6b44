import { assert, assertEquals, assertThrows } from "../../test/assert.ts";

/** `actual` is `expected` itself, not a copy. */
function assertSame(actual: unknown, expected: unknown): void {
  assert(Object.is(actual, expected), "expected the same object, got another");
}
import { SharedParts } from "./shared_parts.ts";

/** A NetworkPolicy's parsed shape, as `parseNetworkPolicy` makes it, named `name`. */
function policy(name: string, port = 8080) {
  return {
    kind: "NetworkPolicy",
    namespace: "team-a",
    name,
    podSelector: { matchLabels: { app: "web" }, matchExpressions: [] },
    policyTypes: ["Ingress", "Egress"],
    ingress: [{
      peers: [{ type: "pods", podSelector: { matchLabels: { app: "api" }, matchExpressions: [] } }],
      ports: [{ protocol: "TCP", port }],
    }],
    egress: [],
  };
}

Deno.test("shareProperties() gives two policies with the same rules the same frozen parts", () => {
  const parts = new SharedParts();
  const a = parts.shareProperties(policy("a"));
  const b = parts.shareProperties(policy("b"));
  assertEquals(a, policy("a"));
  assertEquals(b, policy("b"));
  assertSame(a.ingress, b.ingress);
  assertSame(a.podSelector, b.podSelector);
  assertSame(a.policyTypes, b.policyTypes);
  assert(Object.isFrozen(a.ingress[0]!.peers[0]!.podSelector.matchLabels));
  // The root keeps its own name and stays open.
  assert(!Object.isFrozen(a));
  assertEquals([a.name, b.name], ["a", "b"]);
  assertThrows(() => (a.policyTypes as string[]).push("x"), TypeError);
});

Deno.test("shareProperties() shares the equal parts of rules that differ", () => {
  const parts = new SharedParts();
  const a = parts.shareProperties(policy("a", 8080));
  const b = parts.shareProperties(policy("b", 9090));
  assert(a.ingress !== b.ingress);
  assertEquals(b.ingress[0]!.ports, [{ protocol: "TCP", port: 9090 }]);
  assertSame(a.ingress[0]!.peers, b.ingress[0]!.peers);
  // Empty lists of different places are one.
  assertSame(a.egress, b.podSelector.matchExpressions);
});

Deno.test("share() tells values apart by type, key order, holes and undefined", () => {
  const parts = new SharedParts();
  const distinct: unknown[] = [
    [1],
    ["1"],
    [true],
    [null],
    [undefined],
    [],
    [-0],
    { a: 1, b: 2 },
    { b: 2, a: 1 },
    { a: undefined },
    {},
    { "a:1": 1 },
  ];
  const shared = distinct.map((v) => parts.share(structuredClone(v)));
  for (let i = 0; i < shared.length; i++) {
    assertEquals(shared[i], distinct[i]);
    for (let j = 0; j < i; j++) assert(shared[i] !== shared[j], `${i} and ${j} were merged`);
  }
  assertEquals(Object.keys(shared[8] as object), ["b", "a"]);
  assert(Object.is((shared[6] as number[])[0], -0));
  // A sparse array is not JSON-like: kept as it is, not frozen.
  // deno-lint-ignore no-sparse-arrays
  const sparse = [1, , 3];
  assertSame(parts.share(sparse), sparse);
  assert(!Object.isFrozen(sparse));
});

Deno.test("share() keeps what is not JSON-like, and whatever holds it, as it is", () => {
  const parts = new SharedParts();
  const map = new Map([["a", 1]]);
  const holder = { set: map, port: { protocol: "TCP", port: 1 } };
  const out = parts.share(holder);
  assertSame(out, holder);
  assertSame(out.set, map);
  assert(!Object.isFrozen(holder));
  class Box {
    constructor(readonly n: number) {}
  }
  const box = new Box(1);
  assertSame(parts.share([box])[0], box);
  // Its JSON-like siblings are still shared elsewhere.
  assertSame(
    parts.share({ protocol: "TCP", port: 1 }),
    parts.share({ protocol: "TCP", port: 1 }),
  );
});

Deno.test("share() starts afresh past its bound and keeps what it handed out intact", () => {
  const parts = new SharedParts(3);
  const first = parts.share({ port: [1] });
  for (let i = 0; i < 10; i++) parts.share({ port: [i + 100] });
  assert(parts.size <= 3);
  assertEquals(first, { port: [1] });
  // A part made before the restart and one made after hold the same content apart or together,
  // never mixed up: a parent made after the restart from an old child's id still says its content.
  const again = parts.share({ port: [1] });
  assertEquals(again, { port: [1] });
  assertEquals(parts.share({ outer: { port: [1] } }), { outer: { port: [1] } });
});
