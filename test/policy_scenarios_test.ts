/**
 * The policy scenarios' data, without root: every manifest is valid for the cluster source and the
 * policy layer (so a kernel failure is never a typo), names are unique, and every scenario's
 * hand-written table is what it claims on the lab's layout (the scenarios that deny something deny
 * at least one cell, and every flow is one the agents serve).
 */
import { assert, assertEquals } from "./assert.ts";
import { parseManifestObject } from "../src/cluster/manifest.ts";
import { parsePolicyResource } from "../src/policy/resources.ts";
import { AGENT_PORTS } from "./policy_agent.ts";
import { type LabPod, LAYOUT } from "./policy_lab.ts";
import { SCENARIOS } from "./policy_scenarios.ts";

const pods: LabPod[] = Object.entries(LAYOUT).flatMap(([node, list]) =>
  list.map(([ns, name]) => ({ id: `${ns}/${name}`, ns, name, node: Number(node), ip: "" }))
);

Deno.test("policy scenarios: at least 30, unique names, every manifest valid", () => {
  assert(SCENARIOS.length >= 30, `${SCENARIOS.length} scenarios`);
  assertEquals(new Set(SCENARIOS.map((s) => s.name)).size, SCENARIOS.length);
  for (const scenario of SCENARIOS) {
    for (const item of scenario.items) {
      const parsed = parseManifestObject(item, { file: `${scenario.name}.yaml` });
      assertEquals(parsed.errors.map((e) => e.message), [], scenario.name);
      for (const resource of parsed.resources) {
        assert(resource.kind === "Other", `${scenario.name}: a policy kind`);
        const result = parsePolicyResource(resource);
        assert(result !== undefined, `${scenario.name}: ${resource.resourceKind} is read`);
        assert(
          result.ok,
          `${scenario.name}: ${resource.resourceKind} ${resource.name}: ${
            result.ok ? "" : result.problems.map((p) => p.message).join("; ")
          }`,
        );
      }
    }
  }
});

Deno.test("policy scenarios: nine pods on three nodes, tables that deny something, flows the agents serve", () => {
  assertEquals(pods.length, 9);
  assertEquals(new Set(pods.map((p) => p.id)).size, 9);
  const allAllowed = ["np-allow-all-ingress", "sg-priority-allow-first"];
  for (const scenario of SCENARIOS) {
    let denied = 0;
    for (const flow of scenario.flows) {
      if (flow !== "icmp") assert(AGENT_PORTS.includes(Number(flow.split("/")[1])), flow);
      for (const a of pods) {
        for (const b of pods) if (a !== b && !scenario.expect(a, b, flow)) denied++;
      }
    }
    if (allAllowed.includes(scenario.name)) assertEquals(denied, 0, scenario.name);
    else assert(denied > 0, `${scenario.name} denies something`);
  }
});
