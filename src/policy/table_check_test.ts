import { assert, assertEquals } from "../../test/assert.ts";
import { compileScenario, TESTDATA } from "./_testing.ts";
import { READY_GROUP } from "./render.ts";
import { checkPolicyTable } from "./table_check.ts";

// Listings of the golden tables taken in a namespace with `nft -j -n list table inet tern`
// (the same files the counters tests read; their counters are not zero, which must not matter).
async function listing(name: string): Promise<{ nftables: Record<string, unknown>[] }> {
  return JSON.parse(await Deno.readTextFile(new URL(`${name}.counters.json`, TESTDATA)));
}

type Obj = Record<string, Record<string, unknown>>;

Deno.test("checkPolicyTable() finds no difference between a golden table's listing and its model", async () => {
  for (const scenario of ["both-layers", "sg-priority-deny"]) {
    const model = await compileScenario(`${scenario}.yaml`);
    assertEquals(checkPolicyTable(model, await listing(scenario)), [], scenario);
  }
});

Deno.test("checkPolicyTable() reports a missing table", async () => {
  const model = await compileScenario("both-layers.yaml");
  assertEquals(checkPolicyTable(model, undefined), ["table inet tern is missing"]);
});

Deno.test("checkPolicyTable() reports a flushed chain, a deleted rule and a foreign chain", async () => {
  const model = await compileScenario("both-layers.yaml");
  const list = await listing("both-layers");
  const rules = list.nftables.filter((o) => (o as Obj).rule?.chain === "forward");
  // Someone flushed `forward` and added a chain of their own.
  list.nftables = list.nftables.filter((o) => !rules.includes(o));
  list.nftables.push({ chain: { family: "inet", table: "tern", name: "mine", handle: 99 } });
  const diffs = checkPolicyTable(model, list);
  assertEquals(diffs.length, 2, diffs.join("\n"));
  assert(diffs[0]!.startsWith("chain forward has 0 rules [], expected 6"), diffs[0]);
  assertEquals(diffs[1], "chain mine is not tern's");
});

Deno.test("checkPolicyTable() reports a ready check that compares another group, a foreign set and an element with another verdict", async () => {
  const model = await compileScenario("sg-priority-deny.yaml");
  const list = await listing("sg-priority-deny");
  const rule = list.nftables.find((o) =>
    JSON.stringify((o as Obj).rule?.expr ?? []).includes('"iifgroup"')
  ) as Obj;
  const groupMatch = (rule.rule!.expr as { match: { right: number } }[])[0]!;
  groupMatch.match.right = 0;
  list.nftables.push({ set: { family: "inet", table: "tern", name: "ready", elem: [] } });
  const map = list.nftables.find((o) => {
    const m = (o as Obj).map;
    return typeof m?.name === "string" && m.name.endsWith("_in_sg_l4");
  }) as Obj;
  const element = (map.map!.elem as unknown[][])[0]!;
  element[1] = { drop: null };
  const diffs = checkPolicyTable(model, list);
  assertEquals(diffs.length, 3, diffs.join("\n"));
  assert(diffs[0]!.startsWith("chain forward has 6 rules"), diffs[0]);
  assert(diffs[0]!.includes("iifgroup != 0 counter drop"), diffs[0]);
  assert(diffs[0]!.includes(`iifgroup != ${READY_GROUP} counter drop`), diffs[0]);
  assert(diffs[1]!.includes("1 with another verdict"), diffs[1]);
  assert(diffs[1]!.includes("drop instead of"), diffs[1]);
  assertEquals(diffs[2], "set ready is not tern's");
});

Deno.test("checkPolicyTable() ignores counters and handles", async () => {
  const model = await compileScenario("both-layers.yaml");
  const text = JSON.stringify(await listing("both-layers"))
    .replace(/"packets":\d+/g, '"packets":12345')
    .replace(/"handle":\d+/g, '"handle":777');
  assertEquals(checkPolicyTable(model, JSON.parse(text)), []);
});

Deno.test("checkPolicyTable() sees a table that holds another model's policy", async () => {
  const model = await compileScenario("none.yaml");
  const diffs = checkPolicyTable(model, await listing("both-layers"));
  assert(
    diffs.some((d) => d.startsWith("map pod_egress: elements 1 not tern's")),
    diffs.join("\n"),
  );
  assert(diffs.some((d) => d.includes("is not tern's")), diffs.join("\n"));
});
