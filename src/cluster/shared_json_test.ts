import { assert, assertEquals, assertThrows } from "../../test/assert.ts";
import { SharedValues } from "./compact_pod.ts";
import { shareJson } from "./shared_json.ts";

const policySpec = (app: string, except: string) =>
  JSON.parse(JSON.stringify({
    podSelector: { matchLabels: { app } },
    policyTypes: ["Ingress", "Egress"],
    ingress: [{
      from: [{ podSelector: { matchLabels: { app: "peer" } } }],
      ports: [{ protocol: "TCP", port: 8080 }, { protocol: "TCP", port: 9090 }],
    }],
    egress: [{
      to: [{ ipBlock: { cidr: "10.0.0.0/8", except: [except] } }],
      ports: [{ protocol: "UDP", port: 53 }],
    }],
    description: "x".repeat(300),
  }));

Deno.test("shareJson() keeps one frozen copy of each repeated short part", () => {
  const pool = new SharedValues<unknown>();
  const a = shareJson(policySpec("web", "10.1.0.0/16"), pool);
  const b = shareJson(policySpec("web", "10.2.0.0/16"), pool);
  assertEquals(a, policySpec("web", "10.1.0.0/16"));
  assertEquals(b, policySpec("web", "10.2.0.0/16"));
  assert(a.podSelector === b.podSelector);
  assert(a.policyTypes === b.policyTypes);
  assert(a.ingress === b.ingress);
  assert(a.egress[0].ports === b.egress[0].ports);
  assert(a.egress[0].to !== b.egress[0].to, "a part that differs stays apart");
  assert(a.egress[0].to[0].ipBlock.cidr === b.egress[0].to[0].ipBlock.cidr);
  assert(Object.isFrozen(a.podSelector.matchLabels));
  assertThrows(() => a.ingress[0].ports.push({ protocol: "TCP", port: 1 }));
});

Deno.test("shareJson() leaves a part past 256 characters the caller's, its short parts shared", () => {
  const pool = new SharedValues<unknown>();
  const a = shareJson(policySpec("web", "10.1.0.0/16"), pool);
  const b = shareJson(policySpec("web", "10.1.0.0/16"), pool);
  assert(a !== b);
  assertEquals(Object.isFrozen(a), false);
  a.added = true; // the long part stays the caller's to change
  assert(a.egress === b.egress, "the same short egress rules");
});

Deno.test("shareJson() keeps objects that differ only in key order apart", () => {
  const pool = new SharedValues<unknown>();
  const a = shareJson(JSON.parse('{"a":1,"b":2}'), pool);
  const b = shareJson(JSON.parse('{"b":2,"a":1}'), pool);
  assert(a !== b);
  assertEquals(Object.keys(b), ["b", "a"]);
  assertEquals(shareJson("text", pool), "text");
  assertEquals(shareJson(null, pool), null);
  assertEquals(pool.size, 2);
});
