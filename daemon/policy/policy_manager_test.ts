import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../test/assert.ts";
import type { ClusterState } from "../../src/cluster/state.ts";
import { hostVethName } from "../../src/names.ts";
import { FakeClock } from "../../src/clock.ts";
import { Nft } from "../../src/nft.ts";
import { stateFrom } from "../../test/cluster_fixtures.ts";
import {
  applyText,
  endpoint,
  eventually,
  FakeNft,
  FakeVethGroups,
  podYaml,
  sleep,
} from "./_policy_testing.ts";
import type { LocalEndpoint } from "../../src/local_endpoints.ts";
import { PolicyManager, type PolicyManagerDeps } from "./policy_manager.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import { PolicyChanges } from "../../src/policy/policy_changes.ts";
import { PolicyViewBuilder } from "./policy_view.ts";
import { READY_GROUP } from "../../src/policy/render.ts";

const NAMESPACES = `
{apiVersion: v1, kind: Namespace, metadata: {name: x}}
---
{apiVersion: v1, kind: Namespace, metadata: {name: y}}
`;
const DENY_ALL_X =
  `{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny-all, namespace: x}, spec: {podSelector: {}}}`;
const WEB_FROM_Y = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}]}]
`;

interface Fixture {
  nft: FakeNft;
  groups: FakeVethGroups;
  manager: PolicyManager;
  cluster: ClusterState | undefined;
  policyDir: ClusterState | undefined;
  endpoints: LocalEndpoint[];
}

async function withManager(
  setup: { cluster?: ClusterState; policyDir?: ClusterState; endpoints?: LocalEndpoint[] },
  fn: (f: Fixture) => Promise<void>,
  options: {
    backoffMs?: number;
    intervalMs?: number;
    debounceMs?: number;
    clock?: FakeClock;
    /** Follow the fake's generation id and commits. */
    generation?: boolean;
    onApply?: PolicyManagerDeps["onApply"];
  } = {},
): Promise<void> {
  const nft = new FakeNft();
  const endpoints = setup.endpoints ?? [];
  const groups = new FakeVethGroups(nft, () => endpoints.map((e) => e.hostVeth));
  // As the daemon does: the compiler follows the states' changes, not every pod each run.
  const changes = new PolicyChanges();
  setup.cluster?.subscribe((change) => changes.observe(change));
  setup.policyDir?.subscribe((change) => changes.observe(change));
  const manager = new PolicyManager({
    nft: new Nft(nft.run),
    groups,
    delta: () => changes.take(),
    ...(options.generation ? { generation: nft.watch } : {}),
    ...(options.onApply ? { onApply: options.onApply } : {}),
    inputs: () => ({
      cluster: setup.cluster,
      policyDir: setup.policyDir,
      endpoints,
      nodeName: "node-1",
    }),
  }, {
    logRate: 5,
    intervalMs: options.intervalMs ?? 3_600_000,
    debounceMs: options.debounceMs ?? 5,
    backoff: { initialMs: options.backoffMs ?? 3_600_000, maxMs: options.backoffMs ?? 3_600_000 },
    ...(options.clock ? { clock: options.clock } : {}),
  });
  try {
    await fn({
      nft,
      groups,
      manager,
      cluster: setup.cluster,
      policyDir: setup.policyDir,
      endpoints,
    });
  } finally {
    await manager.stop();
  }
}

Deno.test("PolicyManager.start() applies the whole table in one transaction", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", { app: "web" }), DENY_ALL_X);
  await withManager({ cluster, endpoints: [a] }, async ({ nft, manager }) => {
    await manager.start();
    assertEquals(nft.transactions.length, 1);
    const [text] = nft.transactions;
    assert(text!.startsWith("# tern: the whole policy table"), text);
    assertStringIncludes(text!, "table inet tern {}\ndelete table inet tern\n");
    assertStringIncludes(text!, `"${a.hostVeth}"`);
    assertEquals(manager.status().wholeApplies, 1);
    assertEquals(manager.model?.pods.map((p) => p.ifname), [a.hostVeth]);
  });
});

Deno.test("PolicyManager applies only an incremental transaction when a pod appears", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const b = await endpoint("x", "b", "10.244.1.11");
  const cluster = stateFrom(
    NAMESPACES,
    podYaml("x", "a", { app: "web" }),
    podYaml("x", "b", { app: "db" }),
    DENY_ALL_X,
  );
  await withManager({ cluster, endpoints: [a] }, async ({ nft, groups, manager, endpoints }) => {
    await manager.start();
    endpoints.push(b);
    manager.request("endpoints");
    assertEquals(await manager.programmed(b.hostVeth), { state: "ready" });
    assertEquals(nft.transactions.length, 2);
    const update = nft.transactions[1]!;
    assert(!update.includes("delete table"), update);
    assertStringIncludes(update, `add chain inet tern p_`);
    // b's veth is marked ready after the transaction that programmed it, and only b's.
    assertEquals(groups.sets.at(-1), {
      changes: new Map([[b.hostVeth, READY_GROUP]]),
      afterTransactions: 2,
    });
    assert(!update.includes(a.hostVeth), "nothing of x/a is touched");
    assertEquals(manager.status().lastApply?.kind, "incremental");
  });
});

Deno.test("PolicyManager applies a label change as an incremental transaction", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const c = await endpoint("y", "c", "10.244.1.20");
  const cluster = stateFrom(
    NAMESPACES,
    podYaml("x", "a", { app: "db" }),
    podYaml("y", "c", {}),
    WEB_FROM_Y,
  );
  await withManager({ cluster, endpoints: [a, c] }, async ({ nft, manager }) => {
    await manager.start();
    assertEquals(manager.model?.pods.find((p) => p.name === "a")?.ingress, []);
    cluster.subscribe(() => manager.request("cluster"));
    applyText(cluster, podYaml("x", "a", { app: "web" }));
    assert(await eventually(() => nft.transactions.length === 2), "one more transaction");
    const update = nft.transactions[1]!;
    assert(!update.includes("delete table"), update);
    assertStringIncludes(update, `add element inet tern pod_ingress { "${a.hostVeth}" : jump p_`);
    assertStringIncludes(update, "10.244.1.20 . 0 . 0-65535 : accept");
  });
});

Deno.test("PolicyManager coalesces a burst of changes into one transaction", async () => {
  const eps = await Promise.all(
    [1, 2, 3, 4, 5].map((i) => endpoint("x", `p${i}`, `10.244.1.${i + 10}`)),
  );
  const cluster = stateFrom(NAMESPACES, ...eps.map((_, i) => podYaml("x", `p${i + 1}`, {})));
  applyText(cluster, DENY_ALL_X);
  await withManager({ cluster, endpoints: [] }, async ({ nft, groups, manager, endpoints }) => {
    await manager.start();
    for (const ep of eps) {
      endpoints.push(ep);
      manager.request("endpoints");
    }
    const waits = eps.map((ep) => manager.programmed(ep.hostVeth));
    assertEquals(await Promise.all(waits), eps.map(() => ({ state: "ready" as const })));
    assertEquals(nft.transactions.length, 2);
    // One run marked them all (each ADD's answer then marks its own veth again, in case it was
    // made anew: those are the later, single-veth sets).
    assertEquals([...groups.sets[0]!.changes.keys()].sort(), eps.map((e) => e.hostVeth).sort());
    assert(groups.sets.slice(1).every((s) => s.changes.size === 1));
  });
});

Deno.test("PolicyManager programs a pod that no policy isolates by its ready mark alone", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  await withManager({ endpoints: [] }, async ({ nft, groups, manager, endpoints }) => {
    await manager.start();
    endpoints.push(a);
    manager.request("endpoints");
    assertEquals(await manager.programmed(a.hostVeth), { state: "ready" });
    assertEquals(nft.transactions.length, 1, "the table does not change: only the mark does");
    assertEquals(groups.links.get(a.hostVeth), READY_GROUP);
    assertEquals(manager.status().lastApply?.kind, "none");
  });
});

Deno.test("programmed() answers only after the transaction that carries the pod was applied", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", {}), DENY_ALL_X);
  await withManager({ cluster, endpoints: [] }, async ({ nft, groups, manager, endpoints }) => {
    await manager.start();
    const gate = Promise.withResolvers<void>();
    nft.gate = gate.promise;
    endpoints.push(a);
    manager.request("endpoints");
    let answered = false;
    const wait = manager.programmed(a.hostVeth).then((s) => {
      answered = true;
      return s;
    });
    assert(await eventually(() => nft.transactions.length === 2), "the update is being applied");
    await sleep(30);
    assertEquals(answered, false, "nft has not returned yet");
    assert(groups.links.get(a.hostVeth) !== READY_GROUP, "not marked before nft returned");
    gate.resolve();
    assertEquals(await wait, { state: "ready" });
    assertEquals(groups.links.get(a.hostVeth), READY_GROUP);
  });
});

Deno.test("programmed() brings a debounced run forward: an ADD does not wait for the debounce", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const clock = new FakeClock();
  await withManager({ endpoints: [] }, async ({ groups, manager, endpoints }) => {
    await manager.start();
    endpoints.push(a);
    manager.request("endpoints");
    const started = clock.now();
    const state = manager.programmed(a.hostVeth);
    await clock.tick(0);
    assertEquals(await state, { state: "ready" });
    assertEquals(clock.now(), started, "answered without waiting for the 60 s debounce");
    assertEquals(groups.links.get(a.hostVeth), READY_GROUP);
  }, { debounceMs: 60_000, clock });
});

Deno.test("PolicyManager falls back to the whole table when an update fails, keeping the old model until then", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const b = await endpoint("x", "b", "10.244.1.11");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", {}), podYaml("x", "b", {}), DENY_ALL_X);
  await withManager({ cluster, endpoints: [a] }, async ({ nft, manager, endpoints }) => {
    await manager.start();
    nft.failNext = 1;
    endpoints.push(b);
    manager.request("endpoints");
    assertEquals(await manager.programmed(b.hostVeth), { state: "ready" });
    assertEquals(nft.transactions.length, 3);
    assert(!nft.transactions[1]!.includes("delete table"), "first the update");
    assert(nft.transactions[2]!.includes("delete table inet tern"), "then the whole table");
    assertEquals(manager.status().wholeApplies, 2);
  });
});

Deno.test("PolicyManager retries a failing whole table with backoff and rejects waiting ADDs", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", {}), DENY_ALL_X);
  const clock = new FakeClock();
  await withManager({ cluster, endpoints: [] }, async ({ nft, manager, endpoints }) => {
    await manager.start();
    nft.failNext = 3; // the update, the whole table, the first retry
    endpoints.push(a);
    manager.request("endpoints");
    const rejected = assertRejects(
      () => manager.programmed(a.hostVeth),
      Error,
      "exit 1: Error: Could not process rule",
    );
    await clock.tick(0);
    await rejected;
    assertEquals(manager.model?.pods.length, 0, "the model nft refused is not kept");
    const failing = manager.status().failing;
    assertEquals([failing?.attempts, failing?.retryAt! - clock.now()], [1, 40]);
    await clock.tick(39);
    assertEquals(nft.whole.length, 2, "not retried before the backoff's wait");
    await clock.tick(1);
    assert(await eventually(() => nft.whole.length === 3), "the first retry");
    // nft has seen the retry; its failure reaches the status a few turns of the loop later.
    assert(await eventually(() => manager.status().failing?.attempts === 2), "the retry failed");
    assertEquals(manager.status().failing?.retryAt! - clock.now(), 40, "the wait is at its bound");
    await clock.tick(40);
    assert(await eventually(() => manager.model?.pods.length === 1), "retried until it worked");
    assertEquals(nft.whole.length, 4, "start, then the fallback and two retries, all whole");
    assertEquals(manager.status().failing, undefined);
    assertEquals(await manager.programmed(a.hostVeth), { state: "ready" });
  }, { backoffMs: 40, clock });
});

Deno.test("PolicyManager.start() fails when nft refuses the table", async () => {
  await withManager({ endpoints: [] }, async ({ nft, manager }) => {
    nft.failNext = 1;
    nft.failWith = "nft: command not found";
    await assertRejects(
      () => manager.start(),
      Error,
      "exit 1: nft: command not found",
    );
  });
});

Deno.test("PolicyManager restores a deleted table", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", {}), DENY_ALL_X);
  await withManager({ cluster, endpoints: [a] }, async ({ nft, manager }) => {
    await manager.start();
    nft.listing = undefined; // someone ran `nft delete table inet tern`
    assertEquals(await manager.check(), ["table inet tern is missing"]);
    assert(await eventually(() => nft.whole.length === 2), "applied whole again");
    assertEquals(manager.status().restores, 1);
    assertEquals(manager.status().lastRestore?.differences, ["table inet tern is missing"]);
  });
});

/**
 * The scenario of testdata/policy/sg-priority-deny: its cluster, node-1's endpoints, and its
 * golden table as the kernel listed it.
 */
async function goldenScenario() {
  const testdata = new URL("../../testdata/policy/", import.meta.url);
  const read = (f: string) => Deno.readTextFile(new URL(f, testdata));
  const cluster = stateFrom(await read("cluster.yaml"), await read("sg-priority-deny.yaml"));
  const published = cluster.nodeEndpoints().find((e) => e.node === "node-1")!.endpoints;
  const endpoints = await Promise.all(published.map(async (ep) => ({
    ...ep,
    hostVeth: await hostVethName(ep.containerID, ep.ifname),
  })));
  const listing: unknown = JSON.parse(await read("sg-priority-deny.counters.json"));
  return { cluster, endpoints, listing };
}

Deno.test("PolicyManager leaves a table that matches its model alone", async () => {
  const { cluster, endpoints, listing } = await goldenScenario();
  await withManager({ cluster, endpoints }, async ({ nft, manager }) => {
    await manager.start();
    nft.listing = listing;
    assertEquals(await manager.check(), []);
    await sleep(20);
    assertEquals(nft.transactions.length, 1, "nothing applied again");
    assertEquals(manager.status().checks, 1);
    assertEquals(manager.status().restores, 0);
  });
});

Deno.test("PolicyManager checks the table periodically and restores a changed one", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const clock = new FakeClock();
  await withManager({ endpoints: [a] }, async ({ nft, manager }) => {
    await manager.start();
    // A table with someone else's chain and without tern's ready set.
    nft.listing = { nftables: [{ chain: { family: "inet", table: "tern", name: "theirs" } }] };
    await clock.tick(29_999);
    assertEquals(nft.listings, 0, "no check before the interval");
    await clock.tick(1);
    assert(await eventually(() => manager.status().restores === 1), "found and restored");
    await clock.tick(0);
    assert(await eventually(() => nft.whole.length === 2), "applied whole again");
    assertEquals(nft.listings, 1);
  }, { intervalMs: 30_000, clock });
});

Deno.test("PolicyManager holds a pod whose Pod object is missing when a policy of its namespace could select it", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const cluster = stateFrom(NAMESPACES, WEB_FROM_Y);
  await withManager({ cluster, endpoints: [a] }, async ({ nft, manager }) => {
    await manager.start();
    const state = await manager.programmed(a.hostVeth);
    assertEquals(state.state, "pending");
    assertStringIncludes(
      (state as { reason: string }).reason,
      "Pod x/a is not in the cluster state and NetworkPolicy x/web could select it",
    );
    assert(!nft.transactions[0]!.includes(`\t\t\t"${a.hostVeth}"`), "not in ready");
    assertEquals(manager.status().pending.map((p) => p.name), ["a"]);
    // The Pod object arrives while ADD waits for it.
    cluster.subscribe(() => manager.request("cluster"));
    const wait = manager.programmed(a.hostVeth, { waitMs: 2_000 });
    await sleep(20);
    applyText(cluster, podYaml("x", "a", { app: "web" }));
    assertEquals(await wait, { state: "ready" });
    assertEquals(manager.status().pending, []);
  });
});

Deno.test("PolicyManager programs a pod whose Pod object is missing when nothing in its namespace could select it", async () => {
  const a = await endpoint("z", "a", "10.244.1.10");
  const cluster = stateFrom(NAMESPACES, WEB_FROM_Y); // a policy in x only
  await withManager({ cluster, endpoints: [a] }, async ({ manager }) => {
    await manager.start();
    assertEquals(await manager.programmed(a.hostVeth), { state: "ready" });
    assertEquals(manager.model?.pods[0]?.ingress, []);
  });
});

Deno.test("PolicyManager on a single node takes pods as label-less and applies policy.dir to them", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const policyDir = stateFrom(DENY_ALL_X);
  await withManager({ policyDir, endpoints: [a] }, async ({ manager }) => {
    await manager.start();
    assertEquals(await manager.programmed(a.hostVeth), { state: "ready" });
    const pod = manager.model!.pods[0]!;
    assertEquals(pod.ingress.map((l) => [l.layer, l.boxes.length]), [["networkPolicy", 0]]);
  });
});

Deno.test("PolicyManager's table check puts back a lost ready mark and takes away a foreign one, without the whole table", async () => {
  const { cluster, endpoints, listing } = await goldenScenario();
  await withManager({ cluster, endpoints }, async ({ nft, groups, manager }) => {
    await manager.start();
    nft.listing = listing;
    assertEquals(await manager.check(), [], "table and marks agree");
    const veth = endpoints[0]!.hostVeth;
    groups.links.set(veth, 0); // someone cleared a programmed veth's mark
    groups.links.set("tern0000000000f", READY_GROUP); // and marked a veth tern never programmed
    assertEquals(await manager.check(), [
      `veth ${veth} has programmed policy but not the ready group ${READY_GROUP}`,
      `veth tern0000000000f has the ready group ${READY_GROUP} but no programmed policy`,
    ]);
    // The table agrees: the marks alone are corrected, in one `ip` batch, no transaction.
    assertEquals(groups.links.get(veth), READY_GROUP);
    assertEquals(groups.links.get("tern0000000000f"), 0);
    assertEquals(
      [...groups.sets.at(-1)!.changes].sort(),
      [
        ["tern0000000000f", 0],
        [veth, READY_GROUP],
      ].sort(),
    );
    assertEquals(nft.transactions.length, 1, "the table was not applied again");
    assertEquals(manager.status().restores, 1);
    assertEquals(await manager.check(), [], "nothing left to correct");
  });
});

Deno.test("programmed() marks a ready pod's veth again when it was made anew without a change to the model", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  await withManager({ endpoints: [a] }, async ({ groups, manager }) => {
    await manager.start();
    assertEquals(groups.links.get(a.hostVeth), READY_GROUP);
    groups.links.set(a.hostVeth, 0); // the runtime retried ADD: a new veth of the same name
    assertEquals(await manager.programmed(a.hostVeth), { state: "ready" });
    assertEquals(groups.links.get(a.hostVeth), READY_GROUP);
  });
});

Deno.test("a mark that cannot be set after the transaction fails the run, keeps the new table as the model and marks nothing by the old one", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const b = await endpoint("x", "b", "10.244.1.11");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", {}), podYaml("x", "b", {}), DENY_ALL_X);
  await withManager({ cluster, endpoints: [a] }, async ({ nft, groups, manager, endpoints }) => {
    await manager.start();
    // b comes and a goes in one run; setting b's mark fails after the transaction.
    endpoints.splice(0, 1, b);
    groups.failIf = (changes) => changes.get(b.hostVeth) === READY_GROUP ? "boom" : undefined;
    manager.request("endpoints");
    await assertRejects(() => manager.programmed(b.hostVeth), Error, "boom");
    assertEquals(nft.transactions.length, 2, "the update went in");
    assertEquals(
      manager.model?.pods.map((p) => p.ifname),
      [b.hostVeth],
      "the model is the table's",
    );
    assertEquals(groups.links.get(a.hostVeth), 0, "a's mark came off before");
    // Once marks can be set again, the whole table follows; an ADD of a finds it absent, and
    // nothing ever marked a again.
    groups.failIf = undefined;
    assertEquals(await manager.programmed(a.hostVeth), { state: "absent" });
    assertEquals(groups.links.get(a.hostVeth), 0);
    assertEquals(groups.links.get(b.hostVeth), READY_GROUP);
    assertEquals(manager.status().wholeApplies, 2);
  }, { backoffMs: 3_600_000 });
});

Deno.test("an update that falls back to the whole table corrects every mark after it", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const b = await endpoint("x", "b", "10.244.1.11");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", {}), podYaml("x", "b", {}), DENY_ALL_X);
  await withManager({ cluster, endpoints: [a] }, async ({ nft, groups, manager, endpoints }) => {
    await manager.start();
    groups.links.set("tern0000000000f", READY_GROUP); // someone's mark on a veth without policy
    nft.failNext = 1;
    endpoints.push(b);
    manager.request("endpoints");
    assertEquals(await manager.programmed(b.hostVeth), { state: "ready" });
    assertEquals(manager.status().wholeApplies, 2, "the update failed, the whole table went in");
    assertEquals(groups.links.get(b.hostVeth), READY_GROUP);
    assertEquals(groups.links.get("tern0000000000f"), 0, "the whole table's marks are all right");
  });
});

/** Fires the fake time's due timers until `check` holds (at most `ms` of real time). */
async function untilTicking(clock: FakeClock, check: () => boolean, ms = 2_000): Promise<boolean> {
  for (let i = 0; i < ms / 5 && !check(); i++) {
    await sleep(5);
    await clock.tick(0);
  }
  return check();
}

Deno.test("someone else's nftables commit checks the table at once, tern's own does not", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const b = await endpoint("x", "b", "10.244.1.11");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", {}), podYaml("x", "b", {}), DENY_ALL_X);
  const clock = new FakeClock();
  await withManager({ cluster, endpoints: [a] }, async ({ nft, manager, endpoints }) => {
    await manager.start();
    // tern's own transaction commits: no check.
    endpoints.push(b);
    manager.request("endpoints");
    await clock.tick(5);
    assert(await eventually(() => nft.transactions.length === 2), "b's update went in");
    assertEquals(await untilTicking(clock, () => nft.listings > 0, 200), false, "no check");
    // Someone else commits (deletes the table): checked at once, without any time passing.
    nft.commit();
    assert(await untilTicking(clock, () => manager.status().restores === 1), "found at once");
    assert(await untilTicking(clock, () => nft.whole.length === 2), "restored at once");
    assertEquals(nft.listings, 1);
  }, { clock, generation: true });
});

Deno.test("a commit of someone else's during tern's own transaction is still checked", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const b = await endpoint("x", "b", "10.244.1.11");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", {}), podYaml("x", "b", {}), DENY_ALL_X);
  const clock = new FakeClock();
  await withManager({ cluster, endpoints: [a] }, async ({ nft, manager, endpoints }) => {
    await manager.start();
    const gate = Promise.withResolvers<void>();
    nft.gate = gate.promise;
    endpoints.push(b);
    manager.request("endpoints");
    await clock.tick(5);
    assert(await eventually(() => nft.transactions.length === 2), "b's update is being applied");
    nft.commit(); // someone else, while tern's transaction waits
    await clock.tick(200);
    assertEquals(nft.listings, 0, "not judged during tern's transaction");
    gate.resolve();
    assert(await untilTicking(clock, () => nft.listings === 1), "checked when it ended");
  }, { clock, generation: true });
});

Deno.test("PolicyManager removes a released pod with an incremental transaction", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const b = await endpoint("x", "b", "10.244.1.11");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", {}), podYaml("x", "b", {}), DENY_ALL_X);
  await withManager({ cluster, endpoints: [a, b] }, async ({ nft, groups, manager, endpoints }) => {
    await manager.start();
    assertEquals(groups.links.get(b.hostVeth), READY_GROUP);
    endpoints.splice(endpoints.indexOf(b), 1); // released: DEL, GC or the sweep
    manager.request("endpoints");
    assertEquals(await manager.programmed(b.hostVeth), { state: "absent" });
    const update = nft.transactions[1]!;
    assert(!update.includes("delete table"), update);
    // b's mark came off before the transaction that took its policy away.
    assertEquals(groups.sets.at(-1), {
      changes: new Map([[b.hostVeth, 0]]),
      afterTransactions: 1,
    });
    assertStringIncludes(update, `delete element inet tern pod_ingress { "${b.hostVeth}" }`);
    assertStringIncludes(update, "delete chain inet tern p_");
    assert(!update.includes(a.hostVeth), "x/a is untouched");
    assertEquals(manager.model?.pods.map((p) => p.name), ["a"]);
  });
});

Deno.test("a change does not wait behind a table check's listing, and that listing is not judged", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", {}));
  const fake = new FakeNft();
  let release = () => {};
  let listingHeld: Promise<void> | undefined;
  const runner: typeof fake.run = async (argv, options) => {
    if (argv.includes("list") && listingHeld) await listingHeld; // a listing of a large table
    return await fake.run(argv, options);
  };
  const manager = new PolicyManager({
    nft: new Nft(runner),
    groups: new FakeVethGroups(fake),
    inputs: () => ({ cluster, policyDir: undefined, endpoints: [a], nodeName: "node-1" }),
  }, { logRate: 5, intervalMs: 3_600_000, debounceMs: 5 });
  try {
    await manager.start();
    listingHeld = new Promise((resolve) => release = resolve);
    fake.listing = undefined; // what the held listing will print: judged, it would restore
    const check = manager.check();
    applyText(cluster, DENY_ALL_X);
    manager.request("cluster", 0);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stuck = new Promise<"stuck">((resolve) =>
      timer = setTimeout(() => resolve("stuck"), 5_000)
    );
    const state = await Promise.race([manager.programmed(a.hostVeth), stuck]);
    clearTimeout(timer);
    assertEquals(state, { state: "ready" }, "the change waited behind the held listing");
    assertEquals(fake.transactions.length, 2, "the change was applied while the listing ran");
    release();
    assertEquals(await check, [], "a listing that overlapped a transaction is not judged");
    assertEquals(manager.status().restores, 0);
  } finally {
    release();
    await manager.stop();
  }
});

Deno.test("PolicyManager applies a new peer's address and no transaction for a pod that no selection holds", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", { app: "web" }), WEB_FROM_Y);
  await withManager({ cluster, endpoints: [a] }, async ({ nft, manager, endpoints }) => {
    await manager.start();
    cluster.subscribe(() => manager.request("cluster"));
    const withIp = (namespace: string, name: string, ip: string) =>
      podYaml(namespace, name, {}).replace("spec:", `status: {podIPs: [{ip: ${ip}}]}, spec:`);
    applyText(cluster, withIp("x", "other", "10.244.2.7")); // namespace x: not a peer of x/a
    assert(await eventually(() => manager.status().lastApply?.trigger === "cluster"), "a run");
    assertEquals(nft.transactions.length, 1);
    applyText(cluster, withIp("y", "peer", "10.244.2.8"));
    assert(await eventually(() => nft.transactions.length === 2), "one more transaction");
    assertStringIncludes(nft.transactions[1]!, "10.244.2.8 . 0 . 0-65535 : accept");
    const view = new PolicyViewBuilder().build({
      cluster,
      policyDir: undefined,
      endpoints,
      nodeName: "node-1",
    });
    const expected = compilePolicy(view.view, { endpoints: view.endpoints, logRate: 5 }).pods;
    // nft has the transaction; the manager keeps its model a few turns of the loop later.
    await eventually(() => JSON.stringify(manager.model?.pods) === JSON.stringify(expected));
    assertEquals(manager.model?.pods, expected);
  });
});

Deno.test("PolicyManager tells each run, and how long its oldest change took to reach the kernel, failed runs included", async () => {
  const a = await endpoint("x", "a", "10.244.1.10");
  const b = await endpoint("x", "b", "10.244.1.11");
  const cluster = stateFrom(NAMESPACES, podYaml("x", "a", {}), podYaml("x", "b", {}), DENY_ALL_X);
  const clock = new FakeClock();
  const told: [string, number | undefined, number | undefined][] = [];
  await withManager({ cluster, endpoints: [] }, async ({ nft, manager, endpoints }) => {
    await manager.start();
    endpoints.push(a);
    manager.request("endpoints");
    await clock.tick(10);
    manager.request("endpoints"); // the same burst: the first request's time counts
    await clock.tick(10);
    assert(await eventually(() => told.length === 2));
    nft.failNext = 2; // the update and its fallback, the whole table; retried 40 ms later
    endpoints.push(b);
    manager.request("endpoints");
    await clock.tick(20);
    assert(await eventually(() => told.length === 3), JSON.stringify(told));
    await clock.tick(40); // the retry carries b: 60 ms after it was asked for
    assert(await eventually(() => told.length === 4), JSON.stringify(told));
  }, {
    clock,
    debounceMs: 20,
    backoffMs: 40,
    onApply: (apply, ms, stages) => told.push([apply.kind, ms, stages?.waitMs]),
  });
  assertEquals(told, [
    ["whole", undefined, undefined], // start: no change asked for it
    ["incremental", 20, 20], // all of it waiting: the fake clock stands still in the run
    ["failed", undefined, undefined],
    ["whole", 60, 60],
  ]);
});
