import { assertEquals } from "../test/assert.ts";
import type { PolicyCountersResponse, PolicyEnforcement } from "../src/api.ts";
import type { RuleRef } from "../src/policy/model.ts";
import { renderPolicyCounters, renderPolicyStatus } from "./policy_render.ts";

const NOW = 1_000_000;

const enforcement: PolicyEnforcement = {
  enabled: true,
  table: "inet tern",
  logRate: 5,
  pods: 3,
  pending: [{
    namespace: "x",
    name: "late",
    ifname: "tern0123456789a",
    ip: "10.244.1.9",
    reason: "Pod x/late is not in the cluster state and NetworkPolicy x/web could select it",
    sinceMs: 12_000,
  }],
  problems: 1,
  applies: 7,
  wholeApplies: 2,
  upToDate: true,
  lastApply: {
    at: NOW - 3_000,
    trigger: "endpoints",
    kind: "incremental",
    durationMs: 6.4,
    computeMs: 1.1,
    lines: 4,
    pods: 3,
    pending: 1,
  },
  checks: 40,
  lastCheck: NOW - 5_000,
  restores: 1,
  lastRestore: { at: NOW - 120_000, differences: ["table inet tern is missing"] },
};

Deno.test("renderPolicyStatus() shows enforcement, held pods, the last restore, then each policy", () => {
  const text = renderPolicyStatus({
    enforcement,
    policies: [{
      kind: "NetworkPolicy",
      namespace: "x",
      name: "web",
      state: "enforced",
      pods: ["x/a"],
      enforced: ["selects app=web in x", "ingress: 1 allow rule"],
      problems: [],
    }],
  }, { now: NOW });
  assertEquals(
    text,
    [
      "policy:    enforced in table inet tern: 3 pods programmed, 1 held; 1 problem; drops logged at most 5/s per rule",
      "applied:   3s ago (endpoints, 6.4 ms): an update, 4 lines; 7 transactions, 2 whole",
      "checked:   5s ago; 40 checks, 1 restore",
      "",
      "held closed (their veths drop everything):",
      "  x/late tern0123456789a 10.244.1.9, for 12s: Pod x/late is not in the cluster state and NetworkPolicy x/web could select it",
      "",
      "last restore 2m 0s ago, the table differed:",
      "  table inet tern is missing",
      "",
      "NetworkPolicy x/web: enforced",
      "  selects app=web in x",
      "  ingress: 1 allow rule",
      "  pods: x/a",
      "",
    ].join("\n"),
  );
});

Deno.test("renderPolicyStatus() says when the whole table keeps failing", () => {
  const text = renderPolicyStatus({
    enforcement: {
      ...enforcement,
      pending: [],
      lastRestore: undefined as never,
      upToDate: false,
      lastApply: { ...enforcement.lastApply!, kind: "failed", error: "nft: command not found" },
      failing: {
        error: "nft: command not found",
        attempts: 3,
        since: NOW - 7_000,
        retryAt: NOW + 4_000,
      },
    },
    policies: [],
  }, { now: NOW });
  assertEquals(
    text.split("\n").slice(1, 3),
    [
      "applied:   3s ago (endpoints, 6.4 ms): FAILED: nft: command not found; 7 transactions, 2 whole; changes waiting",
      "failing:   nft: command not found (3 attempts since 7s ago, next in 4s)",
    ],
  );
});

const allow: RuleRef = {
  kind: "NetworkPolicy",
  namespace: "x",
  name: "web",
  direction: "ingress",
  index: 0,
  action: "allow",
};
const deny: RuleRef = {
  kind: "SecurityGroup",
  name: "sg-strict",
  direction: "ingress",
  index: 1,
  priority: 100,
  action: "deny",
};

const counters: PolicyCountersResponse = {
  rules: [{ rule: allow, packets: 12, bytes: 720 }, { rule: deny, packets: 0, bytes: 0 }],
  perPod: [
    { namespace: "x", name: "a", layer: "networkPolicy", rule: allow, packets: 12, bytes: 720 },
  ],
  defaultDeny: [
    {
      namespace: "x",
      name: "a",
      direction: "ingress",
      layer: "networkPolicy",
      packets: 2,
      bytes: 120,
    },
  ],
  notReady: { packets: 4, bytes: 240 },
  unmatched: 0,
  at: NOW,
};

Deno.test("renderPolicyCounters() lists rules, pods and default denies that counted packets", () => {
  assertEquals(
    renderPolicyCounters(counters),
    [
      "RULE                                ACTION  PACKETS  BYTES",
      "NetworkPolicy/x/web ingress rule 0  allow   12       720",
      "",
      "POD  LAYER          RULE                                PACKETS  BYTES",
      "x/a  NetworkPolicy  NetworkPolicy/x/web ingress rule 0  12       720",
      "",
      "POD  DIRECTION  LAYER          DEFAULT DENY PACKETS  BYTES",
      "x/a  ingress    NetworkPolicy  2                     120",
      "",
      "not ready (veths without programmed policy): 4 packets, 240 bytes dropped",
      "",
    ].join("\n"),
  );
});

Deno.test("renderPolicyCounters({ all }) keeps rules that counted nothing", () => {
  const text = renderPolicyCounters(counters, { all: true });
  assertEquals(text.split("\n")[2], "SecurityGroup/sg-strict ingress rule 1  deny    0        0");
});

Deno.test("renderPolicyCounters() names every pod of a shared map on its row", () => {
  const shared: PolicyCountersResponse = {
    ...counters,
    perPod: [{ ...counters.perPod[0]!, sharedWith: ["x/b", "x/c"] }],
  };
  const lines = renderPolicyCounters(shared).split("\n");
  assertEquals(
    lines[3],
    "POD            LAYER          RULE                                PACKETS  BYTES",
  );
  assertEquals(
    lines[4],
    "x/a, x/b, x/c  NetworkPolicy  NetworkPolicy/x/web ingress rule 0  12       720",
  );
});
