import { assertEquals } from "../../test/assert.ts";
import { compileScenario, TESTDATA } from "./_testing.ts";
import { policyCounters } from "./counters.ts";
import { describeRule } from "./render.ts";

// The listings were taken with `nft -j -n list table inet tern` in a throwaway netns after
// loading the scenario's golden file and probing from y/a (10.244.1.20): TCP 80, TCP 81, one
// ping and one UDP datagram to port 80, then one ping back from the receiver.

async function listing(name: string): Promise<unknown> {
  return JSON.parse(await Deno.readTextFile(new URL(`${name}.counters.json`, TESTDATA)));
}

Deno.test("policyCounters() attributes element counters to the rules that decided them", async () => {
  const model = await compileScenario("sg-priority-deny.yaml");
  const counters = policyCounters(model, await listing("sg-priority-deny"));
  const hits = counters.rules.filter((r) => r.packets > 0)
    .map((r) => [describeRule(r.rule), r.rule.action, r.packets, r.bytes]);
  assertEquals(hits, [
    ["SecurityGroup/sg-no-udp ingress rule 0", "deny", 1, 30], // UDP: deny at 1000 wins
    ["SecurityGroup/sg-strict ingress rule 0", "allow", 1, 60], // TCP 81: allow at 100
    ["SecurityGroup/sg-strict ingress rule 1", "deny", 1, 60], // TCP 80 from y/a: deny at 100
    ["SecurityGroup/sg-strict ingress rule 3", "allow", 1, 84], // ping: allow all at 1000
  ]);

  assertEquals(counters.unmatched, 0);
  assertEquals(counters.notReady, { packets: 0, bytes: 0 });
  assertEquals(
    counters.defaultDeny.filter((d) => d.packets > 0),
    [{
      namespace: "z",
      name: "a",
      direction: "egress",
      layer: "securityGroup",
      packets: 1,
      bytes: 84,
    }],
  );
  assertEquals(
    counters.perPod.filter((p) => p.packets > 0).map((p) => `${p.namespace}/${p.name} ${p.layer}`),
    Array(4).fill("z/a securityGroup"),
  );
});

Deno.test("policyCounters() counts each layer's default deny apart", async () => {
  const model = await compileScenario("both-layers.yaml");
  const counters = policyCounters(model, await listing("both-layers"));
  assertEquals(
    counters.defaultDeny.filter((d) => d.packets > 0).map((
      d,
    ) => [d.direction, d.layer, d.packets, d.bytes]),
    [["ingress", "securityGroup", 2, 114], ["ingress", "networkPolicy", 1, 60]],
  );
  assertEquals(
    counters.rules.filter((r) => r.packets > 0).map((r) => [describeRule(r.rule), r.packets]),
    [
      ["NetworkPolicy/x/web-from-y ingress rule 0", 1],
      ["SecurityGroup/sg-tcp egress rule 0", 1],
      ["SecurityGroup/sg-tcp ingress rule 0", 2],
    ],
  );
});

Deno.test("policyCounters() reads symbolic names as nft prints them without -n", async () => {
  const model = await compileScenario("sg-priority-deny.yaml");
  const text = JSON.stringify(await listing("sg-priority-deny"));
  const symbolic = text.replace(/("concat":\[[^\]]*?\]?\}?,)6,/g, '$1"tcp",')
    .replace(/("concat":\[[^\]]*?\]?\}?,)17,/g, '$1"udp",');
  assertEquals(symbolic.includes('"tcp"') && symbolic.includes('"udp"'), true);
  assertEquals(
    policyCounters(model, JSON.parse(symbolic)),
    policyCounters(model, JSON.parse(text)),
  );
});

Deno.test("policyCounters() counts elements the model does not have as unmatched", async () => {
  const model = await compileScenario("sg-priority-deny.yaml");
  const stale = { ...model, pods: model.pods.map((p) => ({ ...p, ingress: [] })) };
  const counters = policyCounters(stale, await listing("sg-priority-deny"));
  assertEquals(counters.unmatched, 0, "maps of layers the model lacks are skipped, not unmatched");
  const fewer = {
    ...model,
    pods: model.pods.map((p) => ({
      ...p,
      ingress: p.ingress.map((l) => ({ ...l, boxes: l.boxes.slice(1) })),
    })),
  };
  assertEquals(policyCounters(fewer, await listing("sg-priority-deny")).unmatched, 1);
});
