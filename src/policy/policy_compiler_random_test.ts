/**
 * The incremental compile against the compile from scratch, on random clusters with random
 * churn: a seeded generator makes namespaces, pods (labels, service accounts, addresses, named
 * ports, host network, phases), NetworkPolicies, SecurityGroupPolicies, SecurityGroups, service
 * accounts, published endpoints and this node's endpoints, then changes them a few at a time; after
 * every step the model of a `PolicyCompiler` fed the changes (and of one told nothing) must equal
 * `compilePolicy()` of the same state, and the table that the incremental updates rendered
 * between its models (element by element, as nft applies them) must equal the whole table of
 * the model from scratch.
 * @module
 */
import { assert, assertEquals } from "../../test/assert.ts";
import { ClusterState } from "../cluster/state.ts";
import type { Namespace, NodeEndpoints, OtherResource, Pod, Resource } from "../cluster/types.ts";
import { compilePolicy } from "./compile.ts";
import type { LocalEndpoint, PolicyModel } from "./model.ts";
import { PolicyChanges } from "./policy_changes.ts";
import { PolicyCompiler } from "./policy_compiler.ts";
import { elementKey, policyTableObjects, RenderCache, renderPolicyUpdate } from "./render.ts";
import { sharedLayerMaps } from "./shared_layer_maps.ts";
import { seededRandomFunction } from "../../test/chaos/seeded_random.ts";

type Rng = () => number;

const pick = <T>(r: Rng, items: readonly T[]): T => items[Math.floor(r() * items.length)]!;
const chance = (r: Rng, p: number) => r() < p;

const NAMESPACES = ["n0", "n1", "n2", "n3"];
const LABELS: Record<string, string[]> = {
  app: ["web", "db", "api"],
  tier: ["front", "back"],
  env: ["prod", "dev"],
};
const ACCOUNTS = ["default", "sa1", "sa2"];
const GROUPS = ["sg-a", "sg-b", "sg-c"];

function labels(r: Rng): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, values] of Object.entries(LABELS)) {
    if (chance(r, 0.6)) out[key] = pick(r, values);
  }
  return out;
}

function selector(r: Rng): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (chance(r, 0.7)) {
    const key = pick(r, Object.keys(LABELS));
    out.matchLabels = { [key]: pick(r, LABELS[key]!) };
  }
  if (chance(r, 0.3)) {
    const key = pick(r, Object.keys(LABELS));
    const operator = pick(r, ["In", "NotIn", "Exists", "DoesNotExist"]);
    out.matchExpressions = [{
      key,
      operator,
      ...(operator === "In" || operator === "NotIn" ? { values: [pick(r, LABELS[key]!)] } : {}),
    }];
  }
  return out;
}

function namespaceSelector(r: Rng): Record<string, unknown> {
  return chance(r, 0.3) ? {} : { matchLabels: { team: pick(r, ["a", "b"]) } };
}

function address(r: Rng): string {
  return `10.1.${Math.floor(r() * 3)}.${1 + Math.floor(r() * 12)}`;
}

function pod(r: Rng, namespace: string, name: string): Pod {
  const ports = [];
  if (chance(r, 0.5)) {
    ports.push({
      name: pick(r, ["http", "metrics"]),
      containerPort: pick(r, [80, 8080, 9090]),
      protocol: pick(r, ["TCP", "UDP"] as const),
    });
  }
  return {
    kind: "Pod",
    namespace,
    name,
    labels: labels(r),
    annotations: {},
    serviceAccountName: pick(r, ACCOUNTS),
    nodeName: pick(r, ["node-1", "node-2"]),
    hostNetwork: chance(r, 0.05),
    phase: pick(r, ["Running", "Running", "Running", "Pending", "Succeeded"]),
    podIPs: chance(r, 0.9) ? [address(r)] : [],
    containers: [{ name: "c", ports }],
  };
}

function namespace(r: Rng, name: string): Namespace {
  return {
    kind: "Namespace",
    name,
    labels: { "kubernetes.io/metadata.name": name, team: pick(r, ["a", "b"]) },
  };
}

function other(
  apiVersion: string,
  kind: string,
  meta: { name: string; namespace?: string; labels?: Record<string, string> },
  spec?: Record<string, unknown>,
): OtherResource {
  const resource: OtherResource = {
    kind: "Other",
    apiVersion,
    resourceKind: kind,
    name: meta.name,
    raw: { apiVersion, kind, metadata: meta, ...(spec !== undefined ? { spec } : {}) },
  };
  if (meta.namespace !== undefined) resource.namespace = meta.namespace;
  return resource;
}

function port(r: Rng): Record<string, unknown> {
  return chance(r, 0.4)
    ? { protocol: pick(r, ["TCP", "UDP"]), port: pick(r, ["http", "metrics"]) }
    : { protocol: "TCP", port: pick(r, [80, 443, 8080]) };
}

function networkPolicyPeer(r: Rng): Record<string, unknown> {
  switch (Math.floor(r() * 4)) {
    case 0:
      return { ipBlock: { cidr: "10.1.0.0/23", except: ["10.1.1.0/28"] } };
    case 1:
      return { namespaceSelector: namespaceSelector(r) };
    case 2:
      return { namespaceSelector: namespaceSelector(r), podSelector: selector(r) };
    default:
      return { podSelector: selector(r) };
  }
}

function networkPolicy(r: Rng, name: string): OtherResource {
  const rule = (direction: "from" | "to") => ({
    ...(chance(r, 0.8) ? { [direction]: [networkPolicyPeer(r), networkPolicyPeer(r)] } : {}),
    ...(chance(r, 0.6) ? { ports: [port(r)] } : {}),
  });
  const types = pick(r, [["Ingress"], ["Egress"], ["Ingress", "Egress"]]);
  return other("networking.k8s.io/v1", "NetworkPolicy", {
    name,
    namespace: pick(r, NAMESPACES),
  }, {
    podSelector: chance(r, 0.2) ? {} : selector(r),
    policyTypes: types,
    ingress: chance(r, 0.8) ? [rule("from")] : [],
    egress: chance(r, 0.8) ? [rule("to")] : [],
  });
}

function securityGroupPolicy(r: Rng, name: string): OtherResource {
  const spec: Record<string, unknown> = {
    securityGroups: { groupIds: [pick(r, GROUPS), ...(chance(r, 0.3) ? [pick(r, GROUPS)] : [])] },
  };
  if (chance(r, 0.6)) spec.podSelector = selector(r);
  if (!spec.podSelector || chance(r, 0.3)) {
    spec.serviceAccountSelector = chance(r, 0.5)
      ? { matchNames: [pick(r, ACCOUNTS)] }
      : { matchLabels: { role: pick(r, ["x", "y"]) } };
  }
  return other("vpcresources.k8s.aws/v1beta1", "SecurityGroupPolicy", {
    name,
    namespace: pick(r, NAMESPACES),
  }, spec);
}

function securityGroup(r: Rng, name: string): OtherResource {
  const peer = (): Record<string, unknown> => {
    switch (Math.floor(r() * 5)) {
      case 0:
        return { cidr: "10.1.0.0/24" };
      case 1:
        return { securityGroup: pick(r, GROUPS) };
      case 2:
        return { podSelector: selector(r), namespaceSelector: namespaceSelector(r) };
      case 3:
        return { serviceAccount: { namespace: pick(r, NAMESPACES), name: pick(r, ACCOUNTS) } };
      default:
        return { podSelector: selector(r) };
    }
  };
  const rule = (direction: "from" | "to") => ({
    action: chance(r, 0.3) ? "deny" : "allow",
    priority: pick(r, [10, 100, 1000]),
    protocol: pick(r, ["tcp", "udp", "all"]),
    [direction]: [peer(), ...(chance(r, 0.5) ? [peer()] : [])],
  });
  return other("tern.dev/v1alpha1", "SecurityGroup", { name }, {
    ingress: [rule("from"), ...(chance(r, 0.5) ? [rule("from")] : [])],
    egress: [rule("to")],
  });
}

function serviceAccount(r: Rng, namespace: string, name: string): OtherResource {
  return other("v1", "ServiceAccount", {
    name,
    namespace,
    labels: { role: pick(r, ["x", "y"]) },
  });
}

function published(r: Rng, pods: Pod[]): NodeEndpoints {
  const endpoints = pods.filter(() => chance(r, 0.2)).map((p, i) => ({
    podNamespace: p.namespace,
    podName: p.name,
    containerID: `c${i}`,
    ifname: "eth0",
    ip: address(r),
  }));
  return { kind: "NodeEndpoints", node: "node-2", endpoints };
}

/** A random world: the state, this node's endpoints, and how to change both. */
class World {
  readonly state = new ClusterState();
  endpoints: LocalEndpoint[] = [];
  #version = 0;
  #names = 0;
  readonly #r: Rng;

  constructor(r: Rng) {
    this.#r = r;
  }

  apply(resource: Resource, type: "added" | "deleted" = "added"): void {
    this.state.apply({ type, resource, resourceVersion: String(++this.#version) });
  }

  fill(): void {
    const r = this.#r;
    for (const name of NAMESPACES) if (chance(r, 0.8)) this.apply(namespace(r, name));
    for (let i = 0; i < 30; i++) this.apply(pod(r, pick(r, NAMESPACES), `p${this.#names++}`));
    for (let i = 0; i < 4; i++) this.apply(networkPolicy(r, `np${i}`));
    for (let i = 0; i < 2; i++) this.apply(securityGroupPolicy(r, `sgp${i}`));
    for (const name of GROUPS.slice(0, 2)) this.apply(securityGroup(r, name));
    for (const ns of NAMESPACES) if (chance(r, 0.5)) this.apply(serviceAccount(r, ns, "sa1"));
    this.localEndpoints();
  }

  localEndpoints(): void {
    const r = this.#r;
    const pods = this.state.pods();
    // A veth belongs to one pod (its name comes from the container's id), as in the daemon.
    this.endpoints = pods.filter(() => chance(r, 0.12)).map((p) => ({
      namespace: p.namespace,
      name: p.name,
      ifname: `tern-${p.namespace}-${p.name}`,
      ip: chance(r, 0.8) && p.podIPs[0] !== undefined ? p.podIPs[0] : address(r),
    }));
    if (chance(r, 0.3)) {
      this.endpoints.push({ namespace: "n0", name: "missing", ifname: "ternx", ip: address(r) });
    }
  }

  /** One random change; returns what it was. */
  change(): string {
    const r = this.#r;
    const pods = this.state.pods();
    const some = pods.length > 0 ? pick(r, pods) : undefined;
    switch (Math.floor(r() * 17)) {
      case 0:
      case 1: {
        const created = pod(r, pick(r, NAMESPACES), `p${this.#names++}`);
        this.apply(created);
        return `add pod ${created.namespace}/${created.name}`;
      }
      case 2:
        if (some === undefined) return "nothing";
        this.apply(some, "deleted");
        return `delete pod ${some.namespace}/${some.name}`;
      case 3:
      case 4:
        if (some === undefined) return "nothing";
        this.apply({ ...some, labels: labels(r) });
        return `relabel pod ${some.namespace}/${some.name}`;
      case 5:
        if (some === undefined) return "nothing";
        this.apply({ ...some, podIPs: chance(r, 0.8) ? [address(r)] : [] });
        return `readdress pod ${some.namespace}/${some.name}`;
      case 6: {
        if (some === undefined) return "nothing";
        const fresh = pod(r, some.namespace, some.name);
        this.apply(fresh);
        return `replace pod ${some.namespace}/${some.name}`;
      }
      case 7: {
        const name = pick(r, NAMESPACES);
        const now = this.state.namespace(name);
        if (now !== undefined && chance(r, 0.3)) this.apply(now, "deleted");
        else this.apply(namespace(r, name));
        return `namespace ${name}`;
      }
      case 8: {
        const name = `np${Math.floor(r() * 5)}`;
        const np = networkPolicy(r, name);
        const existing = this.state.others({ kind: "NetworkPolicy" }).find((o) => o.name === name);
        if (existing !== undefined && chance(r, 0.3)) this.apply(existing, "deleted");
        else {
          if (existing !== undefined) this.apply(existing, "deleted");
          this.apply(np);
        }
        return `policy ${name}`;
      }
      case 9: {
        const name = `sgp${Math.floor(r() * 3)}`;
        const existing = this.state.others({ kind: "SecurityGroupPolicy" })
          .find((o) => o.name === name);
        if (existing !== undefined) this.apply(existing, "deleted");
        if (existing === undefined || chance(r, 0.7)) this.apply(securityGroupPolicy(r, name));
        return `security group policy ${name}`;
      }
      case 10: {
        const name = pick(r, GROUPS);
        const existing = this.state.others({ kind: "SecurityGroup" }).find((o) => o.name === name);
        if (existing !== undefined && chance(r, 0.3)) this.apply(existing, "deleted");
        else this.apply(securityGroup(r, name));
        return `security group ${name}`;
      }
      case 11: {
        const ns = pick(r, NAMESPACES);
        const name = pick(r, ACCOUNTS);
        const existing = this.state.others({ kind: "ServiceAccount" })
          .find((o) => o.namespace === ns && o.name === name);
        if (existing !== undefined && chance(r, 0.4)) this.apply(existing, "deleted");
        else this.apply(serviceAccount(r, ns, name));
        return `service account ${ns}/${name}`;
      }
      case 12:
        this.apply(published(r, pods));
        return "published endpoints";
      // One endpoint attached, detached or readdressed, the others the same objects (as the
      // daemon's registry keeps them), at a random place in the list.
      case 13: {
        const taken = new Set(this.endpoints.map((ep) => `${ep.namespace}/${ep.name}`));
        const free = pods.filter((p) => !taken.has(`${p.namespace}/${p.name}`));
        const p = free.length > 0 && chance(r, 0.9) ? pick(r, free) : undefined;
        const ep = p === undefined
          ? { namespace: "n1", name: `gone${this.#names++}`, ifname: "terny", ip: address(r) }
          : {
            namespace: p.namespace,
            name: p.name,
            ifname: `tern-${p.namespace}-${p.name}`,
            ip: chance(r, 0.8) && p.podIPs[0] !== undefined ? p.podIPs[0] : address(r),
          };
        const at = Math.floor(r() * (this.endpoints.length + 1));
        this.endpoints = [...this.endpoints.slice(0, at), ep, ...this.endpoints.slice(at)];
        return `attach ${ep.namespace}/${ep.name}`;
      }
      case 14: {
        if (this.endpoints.length === 0) return "nothing";
        const at = Math.floor(r() * this.endpoints.length);
        const ep = this.endpoints[at]!;
        this.endpoints = this.endpoints.filter((_, i) => i !== at);
        return `detach ${ep.namespace}/${ep.name}`;
      }
      case 15: {
        if (this.endpoints.length === 0) return "nothing";
        const at = Math.floor(r() * this.endpoints.length);
        const ep = { ...this.endpoints[at]!, ip: address(r) };
        this.endpoints = this.endpoints.map((old, i) => i === at ? ep : old);
        return `readdress endpoint ${ep.namespace}/${ep.name}`;
      }
      default:
        this.localEndpoints();
        return "local endpoints";
    }
  }
}

/** An `inet tern` table as the kernel would hold it: chains' rules, maps' elements (key → verdict). */
interface FakeTable {
  chains: Map<string, string[]>;
  maps: Map<string, Map<string, string>>;
}

/** The table {@linkcode renderPolicyTable} would leave for `model`. */
function tableOf(model: PolicyModel, cache?: RenderCache): FakeTable {
  const objects = policyTableObjects(model, { cache });
  const maps = new Map<string, Map<string, string>>();
  for (const [name, boxes] of objects.maps) {
    maps.set(name, new Map(boxes.map(({ box, verdict }) => [elementKey(box), verdict])));
  }
  const entries = (m: Map<string, string>) => new Map([...m].map(([k, v]) => [`"${k}"`, v]));
  maps.set("pod_egress", entries(objects.podEgress));
  maps.set("pod_ingress", entries(objects.podIngress));
  return { chains: new Map([...objects.chains].map(([k, v]) => [k, [...v]])), maps };
}

/**
 * Applies an update transaction to `table` as nft would, failing where nft would refuse it: an
 * element added twice or deleted when absent, a chain or map created twice, deleted when absent or
 * while a rule or an element still names it.
 */
function applyUpdate(table: FakeTable, text: string): void {
  for (const line of text.split("\n").filter((l) => l !== "")) {
    const m = line.match(/^(add|delete|flush) (chain|rule|map|element) inet tern (\S+)(?: (.*))?$/);
    if (m === null) throw new Error(`Unexpected line: ${line}`);
    const [, verb, what, name, rest = ""] = m;
    if (what === "chain") {
      const chain = table.chains.get(name!);
      if (verb === "add") {
        assert(chain === undefined, `chain ${name} added twice`);
        table.chains.set(name!, []);
      } else if (verb === "flush") {
        assert(chain !== undefined, `flush of absent chain ${name}`);
        chain.length = 0;
      } else {
        assert(chain !== undefined, `delete of absent chain ${name}`);
        assert(!referenced(table, new RegExp(`(goto|jump) ${name}$`)), `chain ${name} in use`);
        table.chains.delete(name!);
      }
    } else if (what === "rule") {
      const chain = table.chains.get(name!);
      assert(chain !== undefined, `rule added to absent chain ${name}`);
      chain.push(rest);
    } else if (what === "map") {
      if (verb === "add") {
        assert(!table.maps.has(name!), `map ${name} added twice`);
        table.maps.set(name!, new Map());
      } else {
        assert(!referenced(table, new RegExp(`@${name}$`)), `map ${name} in use`);
        assert(table.maps.delete(name!), `delete of absent map ${name}`);
      }
    } else {
      const map = table.maps.get(name!);
      assert(map !== undefined, `element of absent map ${name}`);
      for (const element of rest.replace(/^\{ | \}$/g, "").split(", ")) {
        const [key, verdict] = element.split(" : ");
        if (verb === "add") {
          assert(!map.has(key!), `element ${key} added twice to ${name}`);
          map.set(key!, verdict!);
        } else {
          assert(map.delete(key!), `delete of absent element ${key} of ${name}`);
        }
      }
    }
  }
}

/** Whether a rule or a map element's verdict of `table` matches `pattern`. */
function referenced(table: FakeTable, pattern: RegExp): boolean {
  for (const rules of table.chains.values()) if (rules.some((r) => pattern.test(r))) return true;
  for (const map of table.maps.values()) {
    for (const verdict of map.values()) if (pattern.test(verdict)) return true;
  }
  return false;
}

/**
 * How many of `before`'s shared groups have a follower that looks up other maps in `after` (its
 * leader left, or its layer split off).
 */
/** Shared groups of `before` that a pod left (went away, or its layer moved to other maps). */
function groupsLeft(before: PolicyModel, after: PolicyModel): number {
  const now = sharedLayerMaps(after).byPod;
  let count = 0;
  for (const group of sharedLayerMaps(before).groups.values()) {
    if (group.pods.length < 2 || !group.last) continue;
    const left = group.pods.some((pod) => !now.get(pod.id)?.[group.direction].includes(group.name));
    if (left) count++;
  }
  return count;
}

function comparable(model: PolicyModel) {
  return {
    ...model,
    problems: model.problems.map((p) => p.message).sort(),
  };
}

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  Deno.test(`PolicyCompiler.compile() fed the changes equals compilePolicy() after each random change (seed ${seed})`, () => {
    const r = seededRandomFunction(seed);
    const world = new World(r);
    const changes = new PolicyChanges();
    world.state.subscribe((change) => changes.observe(change));
    world.fill();
    const told = new PolicyCompiler();
    const untold = new PolicyCompiler();
    const history: string[] = ["fill"];
    // The table as the daemon keeps it: a whole table first, then each run's update.
    const cache = new RenderCache();
    let table: FakeTable | undefined;
    let last: PolicyModel | undefined;
    // How often the replayed updates met shared maps, and a pod leaving a shared map.
    let shared = 0;
    let left = 0;
    for (let step = 0; step < 150; step++) {
      const endpoints = world.endpoints;
      const fresh = compilePolicy(world.state, { endpoints });
      const want = comparable(fresh);
      const got = told.compile(world.state, { endpoints, changes: changes.take() });
      const where = `seed ${seed}, step ${step}: ${history.slice(-4).join("; ")}`;
      assertEquals(comparable(got), want, `fed the changes, ${where}`);
      if (table === undefined || last === undefined) table = tableOf(got, cache);
      else applyUpdate(table, renderPolicyUpdate(last, got, { cache }));
      const groups = [...sharedLayerMaps(got).groups.values()];
      if (groups.some((g) => g.pods.length > 1)) shared++;
      if (last !== undefined) left += groupsLeft(last, got);
      last = got;
      assertEquals(table, tableOf(fresh), `the table after the updates, ${where}`);
      assertEquals(comparable(untold.compile(world.state, { endpoints })), want, where);
      const count = 1 + Math.floor(r() * 3);
      for (let i = 0; i < count; i++) history.push(world.change());
      if (chance(r, 0.02)) {
        world.state.reset(world.state.snapshot());
        history.push("reset");
      }
    }
    assert(shared > 0, `seed ${seed}: no step had maps shared by two pods`);
    assert(left > 0, `seed ${seed}: no pod left a shared map`);
  });
}
