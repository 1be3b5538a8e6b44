/**
 * The other pods as policy reads them, kept between computations: every pod that can be a peer
 * (not host-network, not finished, with an IPv4 address) with its addresses, the indexes that
 * selections start from (label values, named ports, security group members), and the result of
 * every selection asked so far. {@linkcode PeerIndex.update} takes the pods that changed (or, not
 * told, compares them all) and tests each against every kept selection and index, so that a pod
 * event costs O(selections), not O(pods); it returns the reads whose answer changed, as tokens
 * ({@linkcode peerReadToken}), so that a compiler recomputes only the local pods that made them.
 * A fresh index answers exactly as a kept one: results are sets, whose order no reader depends
 * on. Pure, apart from the caches it keeps.
 * @module
 */
import { isIp, parseIp } from "../cidr.ts";
import { NAMESPACE_NAME_LABEL } from "../cluster/manifest.ts";
import type { Container, Namespace, Pod } from "../cluster/types.ts";
import type { ClusterState } from "../cluster/state.ts";
import { problem } from "./_parse.ts";
import { LabelIndex } from "./label_index.ts";
import { SlotTable } from "./slot_table.ts";
import type { LocalEndpoint, PolicyProblem } from "./model.ts";
import { normalizeRanges, type Range, withoutValue, withValue } from "./ranges.ts";
import { compare, type PolicyResources } from "./resources.ts";
import type { SecurityGroupPolicy } from "./security_group_policy.ts";
import {
  isEmptySelector,
  type LabelSelector,
  matchesSelector,
  matchesSelectorKnowing,
} from "./selector.ts";

/**
 * The reads the policy layer makes of the cluster state. `peer`, when present, answers for the
 * pods that `pods()` lists only (a view may know pods by name that are nobody's peer); absent,
 * `pod` does.
 */
export type ClusterView =
  & Pick<ClusterState, "pods" | "pod" | "podIPs" | "podByIp" | "namespace" | "others" | "node">
  & { peer?: (namespace: string, name: string) => Pod | undefined };

/** A pod that can be a peer, with its IPv4 addresses as integers (sorted). */
export interface PeerPod {
  pod: Pod;
  addresses: number[];
}

/** What selects peer pods: see `PolicyContext.selectPods`. */
export interface PeerSelection {
  action: "allow" | "deny";
  namespace?: string;
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
}

/** A pod's security groups and the problems met finding them. */
export interface PodGroups {
  /** Sorted, no repeats. */
  groups: string[];
  problems: PolicyProblem[];
}

/** What changed since the last {@linkcode PeerIndex.update}. */
export interface PeerIndexUpdate {
  /** This node's attachments (their addresses count as their pods'). */
  endpoints: readonly LocalEndpoint[];
  /**
   * The policy resources now (new security group policies, groups or service accounts: groups
   * are found again).
   */
  resources: PolicyResources;
  /** Keys `namespace/name` of the pods that may have changed; absent: compare every pod. */
  pods?: Iterable<string>;
  /** Names of the namespaces that may have changed; absent: compare every one read. */
  namespaces?: Iterable<string>;
}

/**
 * The token of a read, as {@linkcode PeerIndex.update} reports changes: every peer
 * (`peers`), the group registry (`groups`), the problems of finding the peers' groups
 * (`groupProblems`), one selection, one group's members, the peers with
 * one named port, one namespace's labels.
 */
export function peerReadToken(
  read:
    | { type: "peers" | "groups" | "groupProblems" }
    | { type: "selection"; key: string }
    | { type: "members"; group: string }
    | { type: "namedPort"; protocol: string; name: string }
    | { type: "namespace"; name: string },
): string {
  switch (read.type) {
    case "peers":
    case "groups":
    case "groupProblems":
      return read.type;
    case "selection":
      return `s:${read.key}`;
    case "members":
      return `g:${read.group}`;
    case "namedPort":
      return `p:${read.protocol}/${read.name}`;
    case "namespace":
      return `n:${read.name}`;
  }
}

const PEERS = peerReadToken({ type: "peers" });
const GROUPS = peerReadToken({ type: "groups" });
const GROUP_PROBLEMS = peerReadToken({ type: "groupProblems" });

const TERMINATED = new Set(["Succeeded", "Failed"]);

/** What is certain of a namespace the state does not hold (yet): its name label. */
const KNOWN_WITHOUT_NAMESPACE: ReadonlySet<string> = new Set([NAMESPACE_NAME_LABEL]);

interface KeptSelection {
  selection: PeerSelection;
  /** Namespace → whether it is in the selection (as asked so far). */
  namespaces: Map<string, boolean>;
  /** The members' slots. */
  members: Set<number>;
  list: PeerPod[] | undefined;
  /** The members' addresses as normalized ranges, once asked (then patched on each change). */
  ranges: readonly Range[] | undefined;
}

interface Members {
  /** Group → its members' slots. */
  byGroup: Map<string, Set<number>>;
  lists: Map<string, PeerPod[]>;
  ranges: Map<string, Range[]>;
  /** The problems of finding every peer's groups, by message, with how many peers met each. */
  problems: Map<string, { problem: PolicyProblem; count: number }>;
}

/** No address: a slot whose addresses are several (in `#multi`), or free. */
const NO_ADDRESS = 0;

/**
 * The peers, their indexes and the selections asked, kept between updates. A peer is a _slot_,
 * a small integer: the slot's Pod and its address are kept in two arrays (the address in a
 * `Uint32Array`; a pod with several addresses has them in a map beside it), the peers are found
 * by namespace and name in a {@linkcode SlotTable} (keyed by the pods' own strings), every label
 * index is a {@linkcode LabelIndex} and every other index a `Set` of slots. So a peer costs no
 * object and no key string of its own (at 150 000 pods a `{ pod, addresses }` and its one-address
 * array were 13.4 MiB of ternd's heap, the label indexes' sets 7.5, the peers map 5.5;
 * docs/benchmarks.md, "A smaller peer index"). A slot is given back when its pod stops being a
 * peer, once every index has let it go; a pod that stays a peer keeps its slot.
 */
export class PeerIndex {
  #view: ClusterView | undefined;
  #resources: PolicyResources | undefined;
  #extra = new Map<string, string[]>();
  /** The endpoints of the last update, compared by identity with the next's. */
  #endpoints: readonly LocalEndpoint[] = [];
  /** Slot → its peer's Pod (undefined: a free slot). */
  readonly #pod: (Pod | undefined)[] = [];
  /** Namespace and name → slot (the keys are the slots' pods' own strings). */
  readonly #slots = new SlotTable((slot) => this.#pod[slot]!);
  /** Slot → its peer's one address, or `NO_ADDRESS` when it has several (in `#multi`). */
  #address = new Uint32Array(1024);
  /** Slot → its peer's addresses (sorted), for the peers with more than one. */
  readonly #multi = new Map<number, number[]>();
  /** Slots given back, to be used again. */
  readonly #free: number[] = [];
  #list: PeerPod[] | undefined;
  /** Label key → value → peers with it; a key is indexed when a selector first asks for it. */
  readonly #byLabel = new Map<string, LabelIndex>();
  /** `protocol/name` → peers with a container port of that name, and their list once asked. */
  readonly #byPort = new Map<string, { peers: Set<number>; list: PeerPod[] | undefined }>();
  readonly #selections = new Map<string, KeptSelection>();
  /** Namespaces read so far, as read (undefined: not in the state). */
  readonly #namespaces = new Map<string, Namespace | undefined>();
  #groups = new WeakMap<Pod, PodGroups>();
  #members: Members | undefined;

  /**
   * Brings the index to `view` and returns the tokens of the reads whose answer may have
   * changed. The first update reads every pod.
   */
  update(view: ClusterView, changes: PeerIndexUpdate): Set<string> {
    const dirty = new Set<string>();
    this.#view = view;
    const before = this.#resources;
    const now = changes.resources;
    this.#resources = now;
    // Groups are found from the security group policies and service accounts, and the group
    // registry is theirs and the groups': a NetworkPolicy changed alone keeps them.
    if (
      before === undefined || before.securityGroupPolicies !== now.securityGroupPolicies ||
      before.serviceAccounts !== now.serviceAccounts || before.securityGroups !== now.securityGroups
    ) {
      this.#groups = new WeakMap();
      this.#members = undefined;
      dirty.add(GROUPS);
    }
    // Endpoints change their pods' addresses, and on a single node are the peers themselves.
    const local = this.#endpointsChanged(changes.endpoints);
    this.#namespacesChanged(view, changes.namespaces, dirty);
    if (changes.pods === undefined) {
      const listed = new Map<string, Map<string, Pod>>();
      for (const pod of view.pods()) {
        let names = listed.get(pod.namespace);
        if (names === undefined) listed.set(pod.namespace, names = new Map());
        names.set(pod.name, pod);
      }
      let count = 0;
      for (const names of listed.values()) count += names.size;
      this.#slots.reserve(count);
      const gone: Pod[] = [];
      for (const slot of this.#everySlot()) {
        const pod = this.#pod[slot]!;
        if (!listed.get(pod.namespace)?.has(pod.name)) gone.push(pod);
      }
      for (const pod of gone) this.#podChanged(pod.namespace, pod.name, dirty);
      for (const [namespace, names] of listed) {
        for (const [name, pod] of names) this.#podChanged(namespace, name, dirty, pod);
      }
    } else {
      for (const key of changes.pods) {
        if (!local.has(key)) this.#podChanged(...splitKey(key), dirty);
      }
    }
    for (const key of local) this.#podChanged(...splitKey(key), dirty);
    return dirty;
  }

  /**
   * Brings the local endpoints' addresses to `endpoints` and returns the keys of the pods whose
   * endpoints changed. Endpoints are compared by identity (a caller replaces an endpoint, never
   * mutates it), in order: what lies between the longest common head and tail of the two lists
   * changed, so adding or removing one endpoint costs a pointer comparison per endpoint and the
   * update of one pod, not of every local pod.
   */
  #endpointsChanged(endpoints: readonly LocalEndpoint[]): Set<string> {
    const before = this.#endpoints;
    // A copy: a caller may change its array in place before the next update.
    this.#endpoints = [...endpoints];
    let head = 0;
    const shorter = Math.min(before.length, endpoints.length);
    while (head < shorter && before[head] === endpoints[head]) head++;
    let tail = 0;
    while (
      tail < shorter - head &&
      before[before.length - 1 - tail] === endpoints[endpoints.length - 1 - tail]
    ) tail++;
    const changed = new Set<string>();
    for (let i = head; i < before.length - tail; i++) {
      const ep = before[i]!;
      const key = `${ep.namespace}/${ep.name}`;
      const ips = this.#extra.get(key) ?? [];
      const at = ips.indexOf(ep.ip);
      const left = at < 0 ? ips : [...ips.slice(0, at), ...ips.slice(at + 1)];
      if (left.length === 0) this.#extra.delete(key);
      else this.#extra.set(key, left);
      changed.add(key);
    }
    for (let i = head; i < endpoints.length - tail; i++) {
      const ep = endpoints[i]!;
      const key = `${ep.namespace}/${ep.name}`;
      this.#extra.set(key, [...(this.#extra.get(key) ?? []), ep.ip]);
      changed.add(key);
    }
    return changed;
  }

  /** The pod behind an IPv4 address: a known pod's, or a local endpoint's. */
  podByIp(ip: string): Pod | undefined {
    const view = this.#viewNow();
    const known = view.podByIp(ip);
    if (known !== undefined) return known;
    for (const [key, ips] of this.#extra) {
      if (!ips.includes(ip)) continue;
      const slash = key.indexOf("/");
      return view.pod(key.slice(0, slash), key.slice(slash + 1));
    }
    return undefined;
  }

  /** A pod's IPv4 addresses (cluster state and local endpoints), as sorted integers. */
  addressesOf(pod: Pod): number[] {
    const known = this.#viewNow().podIPs(pod);
    const extra = this.#extra.size > 0
      ? this.#extra.get(`${pod.namespace}/${pod.name}`)
      : undefined;
    // Without the lists of lists for the usual pod (one address, no endpoint).
    if (extra === undefined && known.length === 1) {
      const text = known[0]!;
      return text.includes(":") || !isIp(text) ? [] : [parseIp(text)];
    }
    const out: number[] = [];
    for (const texts of extra === undefined ? [known] : [known, extra]) {
      for (const text of texts) {
        if (text.includes(":") || !isIp(text)) continue;
        const n = parseIp(text);
        if (!out.includes(n)) out.push(n);
      }
    }
    // Kept for a pod with several: made at its final length (a pushed array keeps spare slots).
    return out.length === 0 ? [] : out.sort((a, b) => a - b).slice();
  }

  /** Every peer, by namespace then name. */
  peers(): readonly PeerPod[] {
    if (this.#list === undefined) {
      const pods = this.#pod;
      const slots = [...this.#everySlot()].sort((a, b) =>
        compare(pods[a]!.namespace, pods[b]!.namespace) || compare(pods[a]!.name, pods[b]!.name)
      );
      this.#list = slots.map((slot) => this.#peerPod(slot));
    }
    return this.#list;
  }

  /** Whether namespace `name` matches `selector` (see `PolicyContext.namespaceMatches`). */
  namespaceMatches(name: string, selector: LabelSelector, matchUnknown: boolean): boolean {
    const namespace = this.#viewNow().namespace(name);
    this.#namespaces.set(name, namespace);
    if (namespace !== undefined) return matchesSelector(selector, namespace.labels);
    return matchesSelectorKnowing(
      selector,
      { [NAMESPACE_NAME_LABEL]: name },
      KNOWN_WITHOUT_NAMESPACE,
    ) ?? matchUnknown;
  }

  /** The key that names `selection` in its read token. */
  selectionKey(selection: PeerSelection): string {
    return JSON.stringify([
      selection.action,
      selection.namespace ?? null,
      selection.podSelector ?? null,
      selection.namespaceSelector ?? null,
    ]);
  }

  /** The peers `selection` picks, kept and updated pod by pod from then on. */
  select(selection: PeerSelection): readonly PeerPod[] {
    const kept = this.#kept(selection);
    return kept.list ??= this.#peerPods(kept.members);
  }

  /**
   * The addresses of {@linkcode PeerIndex.select}'s peers, as normalized ranges; kept, and
   * patched address by address as peers come and go (a new array each time).
   */
  selectedRanges(selection: PeerSelection): readonly Range[] {
    const kept = this.#kept(selection);
    return kept.ranges ??= this.#pointRanges(kept.members);
  }

  #kept(selection: PeerSelection): KeptSelection {
    const key = this.selectionKey(selection);
    let kept = this.#selections.get(key);
    if (kept === undefined) {
      kept = {
        selection,
        namespaces: new Map(),
        members: new Set(),
        list: undefined,
        ranges: undefined,
      };
      for (const slot of this.#candidates(selection.podSelector)) {
        if (this.#matches(kept, this.#pod[slot]!)) kept.members.add(slot);
      }
      this.#selections.set(key, kept);
    }
    return kept;
  }

  /** The peers with a container port named `name` for `protocol`. */
  withNamedPort(name: string, protocol: string): readonly PeerPod[] {
    const index = this.#portIndex(`${protocol}/${name}`);
    return index.list ??= this.#peerPods(index.peers);
  }

  /** The security groups of `pod` by the resources of the last update. */
  groupsOf(pod: Pod): PodGroups {
    let found = this.#groups.get(pod);
    if (found === undefined) {
      const set = new Set<string>();
      const problems: PolicyProblem[] = [];
      for (const sgp of this.#resourcesNow().securityGroupPolicies) {
        const { selects, problem } = sgpSelection(sgp, { pod, resources: this.#resourcesNow() });
        if (problem !== undefined) problems.push(problem);
        if (selects) { for (const id of sgp.groupIds) set.add(id); }
      }
      found = { groups: [...set].sort(compare), problems };
      this.#groups.set(pod, found);
    }
    return found;
  }

  /**
   * The peers in group `id`, and the problems of finding every peer's groups (which finding
   * the members meets).
   */
  membersOf(id: string): { members: readonly PeerPod[]; problems: PolicyProblem[] } {
    const members = this.#membersNow();
    let list = members.lists.get(id);
    if (list === undefined) {
      list = this.#peerPods(members.byGroup.get(id) ?? []);
      members.lists.set(id, list);
    }
    return { members: list, problems: this.groupProblems() };
  }

  /** The problems of finding every peer's groups (which finding a group's members meets). */
  groupProblems(): PolicyProblem[] {
    return [...this.#membersNow().problems.values()].map((p) => p.problem);
  }

  /** The addresses of {@linkcode PeerIndex.membersOf}'s peers, as normalized ranges. */
  memberRanges(id: string): readonly Range[] {
    const kept = this.#membersNow();
    let ranges = kept.ranges.get(id);
    if (ranges === undefined) {
      ranges = this.#pointRanges(kept.byGroup.get(id) ?? []);
      kept.ranges.set(id, ranges);
    }
    return ranges;
  }

  #viewNow(): ClusterView {
    if (this.#view === undefined) throw new Error("PeerIndex used before its first update");
    return this.#view;
  }

  #resourcesNow(): PolicyResources {
    if (this.#resources === undefined) {
      throw new Error("PeerIndex used before its first update");
    }
    return this.#resources;
  }

  #namespacesChanged(
    view: ClusterView,
    names: Iterable<string> | undefined,
    dirty: Set<string>,
  ): void {
    const changed: string[] = [];
    if (names === undefined) {
      for (const [name, seen] of this.#namespaces) {
        if (view.namespace(name) !== seen) changed.push(name);
      }
    } else {
      for (const name of names) if (this.#namespaces.has(name)) changed.push(name);
    }
    for (const name of changed) {
      this.#namespaces.delete(name);
      dirty.add(peerReadToken({ type: "namespace", name }));
      for (const [key, kept] of this.#selections) {
        if (!kept.namespaces.has(name)) continue;
        // A selection that asked about the namespace is found again when next asked.
        this.#selections.delete(key);
        dirty.add(peerReadToken({ type: "selection", key }));
      }
    }
  }

  /**
   * Compares pod `namespace/name` now (`listed`, when the caller has it) with its peer; updates
   * all.
   */
  #podChanged(namespace: string, name: string, dirty: Set<string>, listed?: Pod): void {
    const slot = this.#slots.get(namespace, name);
    let pod = listed;
    if (pod === undefined) {
      const view = this.#viewNow();
      pod = view.peer !== undefined ? view.peer(namespace, name) : view.pod(namespace, name);
    }
    let now: number[] | undefined;
    if (pod !== undefined && !pod.hostNetwork && !TERMINATED.has(pod.phase ?? "")) {
      const addresses = this.addressesOf(pod);
      if (addresses.length > 0) now = addresses;
    }
    if (slot === undefined && now === undefined) return;
    const oldPod = slot === undefined ? undefined : this.#pod[slot]!;
    const sameAddresses = slot !== undefined && now !== undefined &&
      this.#hasAddresses(slot, now);
    if (oldPod === pod && sameAddresses) return;
    dirty.add(PEERS);
    this.#list = undefined;
    // Readers of a selection take its pods' addresses and service accounts: a pod changed in
    // nothing else (an annotation, a label no selector reads) changes no answer.
    const sameAnswer = sameAddresses &&
      oldPod!.serviceAccountName === pod!.serviceAccountName;
    const gone = slot === undefined || sameAddresses ? [] : this.#addressesAt(slot);
    // The slot stays the pod's while it is a peer; every index lets it go before it is reused.
    const newPod = now === undefined ? undefined : pod;
    const at = slot ?? this.#newSlot(newPod!);
    if (newPod !== undefined) this.#setPeer(at, newPod, now!);
    for (const [label, index] of this.#byLabel) {
      if (oldPod !== undefined && Object.hasOwn(oldPod.labels, label)) {
        index.delete(oldPod.labels[label]!, at);
      }
      if (newPod !== undefined && Object.hasOwn(newPod.labels, label)) {
        index.add(newPod.labels[label]!, at);
      }
    }
    for (const [port, index] of this.#byPort) {
      const had = oldPod !== undefined && hasNamedPort(oldPod, port);
      const has = newPod !== undefined && hasNamedPort(newPod, port);
      if (had) index.peers.delete(at);
      if (has) index.peers.add(at);
      if (had || has) index.list = undefined;
      const same = had && has && sameAnswer &&
        (oldPod.containers === newPod.containers ||
          JSON.stringify(oldPod.containers) === JSON.stringify(newPod.containers));
      if ((had || has) && !same) {
        const slash = port.indexOf("/");
        dirty.add(peerReadToken({
          type: "namedPort",
          protocol: port.slice(0, slash),
          name: port.slice(slash + 1),
        }));
      }
    }
    for (const [selectionKey, kept] of this.#selections) {
      const was = oldPod !== undefined && kept.members.delete(at);
      const is = newPod !== undefined && this.#matches(kept, newPod);
      if (is) kept.members.add(at);
      if (was || is) {
        kept.list = undefined;
        if (kept.ranges !== undefined && !(was && is && sameAddresses)) {
          kept.ranges = this.#movedAddresses(kept, {
            gone: was ? (sameAddresses ? now! : gone) : [],
            added: is ? now! : [],
          });
        }
      }
      if ((was || is) && !(was && is && sameAnswer)) {
        dirty.add(peerReadToken({ type: "selection", key: selectionKey }));
      }
    }
    const members = this.#members;
    if (members !== undefined) {
      // A group whose member stays with the same addresses has the same answer.
      const stays = sameAnswer ? this.groupsOf(oldPod!).groups : [];
      const quiet = stays.length > 0 && newPod !== undefined
        ? new Set(this.groupsOf(newPod).groups.filter((id) => stays.includes(id)))
        : undefined;
      if (oldPod !== undefined) {
        this.#joinGroups(members, { slot: at, pod: oldPod, sign: -1, dirty, quiet });
      }
      if (newPod !== undefined) {
        this.#joinGroups(members, { slot: at, pod: newPod, sign: +1, dirty, quiet });
      }
    }
    if (newPod === undefined) this.#freeSlot(at, namespace, name);
  }

  /** A slot for `pod`, which becomes a peer (its addresses are kept by `#setPeer`). */
  #newSlot(pod: Pod): number {
    const slot = this.#free.pop() ?? this.#pod.length;
    if (slot >= this.#address.length) {
      const grown = new Uint32Array(this.#address.length * 2);
      grown.set(this.#address);
      this.#address = grown;
    }
    this.#pod[slot] = pod;
    this.#slots.add(slot);
    return slot;
  }

  /** Keeps `pod` and its `addresses` (sorted, at least one) in `slot`. */
  #setPeer(slot: number, pod: Pod, addresses: number[]): void {
    this.#pod[slot] = pod;
    if (addresses.length === 1) {
      this.#address[slot] = addresses[0]!;
      this.#multi.delete(slot);
    } else {
      this.#address[slot] = NO_ADDRESS;
      this.#multi.set(slot, addresses);
    }
  }

  /** Gives back the slot of pod `namespace/name`, which is no peer any more. */
  #freeSlot(slot: number, namespace: string, name: string): void {
    this.#slots.delete(namespace, name);
    this.#pod[slot] = undefined;
    this.#address[slot] = NO_ADDRESS;
    this.#multi.delete(slot);
    this.#free.push(slot);
  }

  /** The addresses kept in `slot` (a new array). */
  #addressesAt(slot: number): number[] {
    const one = this.#address[slot]!;
    return one !== NO_ADDRESS ? [one] : [...this.#multi.get(slot)!];
  }

  /** Whether `slot` keeps exactly `addresses` (sorted). */
  #hasAddresses(slot: number, addresses: readonly number[]): boolean {
    const one = this.#address[slot]!;
    if (one !== NO_ADDRESS) return addresses.length === 1 && addresses[0] === one;
    return sameNumbers(this.#multi.get(slot)!, addresses);
  }

  /** A peer as readers take it; made when asked (a list's, kept until its answer changes). */
  #peerPod(slot: number): PeerPod {
    return { pod: this.#pod[slot]!, addresses: this.#addressesAt(slot) };
  }

  #peerPods(slots: Iterable<number>): PeerPod[] {
    const list: PeerPod[] = [];
    for (const slot of slots) list.push(this.#peerPod(slot));
    return list;
  }

  /** The addresses of the peers in `slots`, as normalized ranges. */
  #pointRanges(slots: Iterable<number>): Range[] {
    const points: Range[] = [];
    for (const slot of slots) {
      const one = this.#address[slot]!;
      if (one !== NO_ADDRESS) points.push([one, one]);
      else for (const a of this.#multi.get(slot)!) points.push([a, a]);
    }
    return normalizeRanges(points);
  }

  /**
   * A selection's kept ranges after a peer's addresses `gone` left it and `added` entered it (its
   * members already updated): an address leaves only when no other member still has it.
   */
  #movedAddresses(
    kept: KeptSelection,
    change: { gone: readonly number[]; added: readonly number[] },
  ): readonly Range[] {
    let ranges = kept.ranges!;
    const { gone, added } = change;
    if (sameNumbers(gone, added)) return ranges;
    const leaving = gone.filter((a) => !added.includes(a));
    if (leaving.length > 0) {
      const held = new Set<number>();
      for (const slot of kept.members) {
        const one = this.#address[slot]!;
        if (one !== NO_ADDRESS) {
          if (leaving.includes(one)) held.add(one);
        } else {
          for (const a of this.#multi.get(slot)!) if (leaving.includes(a)) held.add(a);
        }
      }
      for (const a of leaving) if (!held.has(a)) ranges = withoutValue(ranges, a);
    }
    for (const a of added) ranges = withValue(ranges, a);
    return ranges;
  }

  /** Every peer's slot, in no particular order. */
  *#everySlot(): Iterable<number> {
    const pods = this.#pod;
    for (let slot = 0; slot < pods.length; slot++) if (pods[slot] !== undefined) yield slot;
  }

  /** Adds (`sign` +1) or removes (-1) a peer from its groups' members and their problems. */
  #joinGroups(
    members: Members,
    change: {
      slot: number;
      /** The peer's pod (as it was, when it leaves). */
      pod: Pod;
      sign: 1 | -1;
      /** Where the changed groups' tokens go. */
      dirty?: Set<string>;
      /** Groups whose answer stays the same (the member kept its addresses). */
      quiet?: ReadonlySet<string> | undefined;
    },
  ): void {
    const { slot, pod, sign, dirty, quiet } = change;
    const { groups, problems } = this.groupsOf(pod);
    for (const id of groups) {
      let group = members.byGroup.get(id);
      if (group === undefined) members.byGroup.set(id, group = new Set());
      if (sign > 0) group.add(slot);
      else group.delete(slot);
      members.lists.delete(id);
      members.ranges.delete(id);
      if (!quiet?.has(id)) dirty?.add(peerReadToken({ type: "members", group: id }));
    }
    for (const p of problems) {
      const counted = members.problems.get(p.message);
      const count = (counted?.count ?? 0) + sign;
      if (count <= 0) members.problems.delete(p.message);
      else members.problems.set(p.message, { problem: counted?.problem ?? p, count });
      if (count <= 0 || counted === undefined) dirty?.add(GROUP_PROBLEMS);
    }
  }

  #membersNow(): Members {
    if (this.#members === undefined) {
      const members: Members = {
        byGroup: new Map(),
        lists: new Map(),
        ranges: new Map(),
        problems: new Map(),
      };
      for (const slot of this.#everySlot()) {
        this.#joinGroups(members, { slot, pod: this.#pod[slot]!, sign: +1 });
      }
      this.#members = members;
    }
    return this.#members;
  }

  #matches(kept: KeptSelection, pod: Pod): boolean {
    const { namespace, podSelector, namespaceSelector, action } = kept.selection;
    if (podSelector !== undefined && !matchesSelector(podSelector, pod.labels)) return false;
    if (namespace !== undefined) return pod.namespace === namespace;
    if (namespaceSelector === undefined || isEmptySelector(namespaceSelector)) return true;
    let yes = kept.namespaces.get(pod.namespace);
    if (yes === undefined) {
      yes = this.namespaceMatches(pod.namespace, namespaceSelector, action === "deny");
      kept.namespaces.set(pod.namespace, yes);
    }
    return yes;
  }

  /**
   * The slots of the peers that can match `selector`: those with its rarest `matchLabels` label
   * or `In` requirement (the peers with any of its values), or all.
   */
  #candidates(selector: LabelSelector | undefined): Iterable<number> {
    let best: Iterable<number> = this.#everySlot();
    let size = this.#slots.size;
    for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) {
      const index = this.#labelIndex(key);
      const count = index.count(value);
      if (count === 0) return [];
      if (count < size) [best, size] = [index.get(value), count];
    }
    for (const requirement of selector?.matchExpressions ?? []) {
      if (requirement.operator !== "In") continue;
      const index = this.#labelIndex(requirement.key);
      // A pod has one value per key: the values' peers are disjoint.
      const values = [...new Set(requirement.values)];
      const count = values.reduce((n, v) => n + index.count(v), 0);
      if (count < size) [best, size] = [values.flatMap((v) => index.get(v)), count];
    }
    return best;
  }

  /** Value → peers, for one label key, built on first use and kept up to date. */
  #labelIndex(label: string): LabelIndex {
    let index = this.#byLabel.get(label);
    if (index === undefined) {
      index = new LabelIndex();
      for (const slot of this.#everySlot()) {
        const labels = this.#pod[slot]!.labels;
        if (Object.hasOwn(labels, label)) index.add(labels[label]!, slot);
      }
      this.#byLabel.set(label, index);
    }
    return index;
  }

  #portIndex(port: string): { peers: Set<number>; list: PeerPod[] | undefined } {
    let index = this.#byPort.get(port);
    if (index === undefined) {
      const peers = new Set<number>();
      for (const slot of this.#everySlot()) {
        if (hasNamedPort(this.#pod[slot]!, port)) peers.add(slot);
      }
      this.#byPort.set(port, index = { peers, list: undefined });
    }
    return index;
  }
}

/**
 * Whether `sgp` selects `pod`: same namespace, and every selector it has matches; with the
 * problem met when the pod's service account is not in the cluster state.
 */
export function sgpSelection(
  sgp: SecurityGroupPolicy,
  at: { pod: Pod; resources: PolicyResources },
): { selects: boolean; problem?: PolicyProblem } {
  const { pod, resources } = at;
  if (sgp.namespace !== pod.namespace) return { selects: false };
  if (sgp.podSelector !== undefined && !matchesSelector(sgp.podSelector, pod.labels)) {
    return { selects: false };
  }
  const sa = sgp.serviceAccountSelector;
  if (sa === undefined) return { selects: true };
  if (sa.matchNames !== undefined && !sa.matchNames.includes(pod.serviceAccountName)) {
    return { selects: false };
  }
  if (isEmptySelector(sa.selector)) return { selects: true };
  const labels = resources.serviceAccounts.get(`${pod.namespace}/${pod.serviceAccountName}`);
  const selects = matchesSelector(sa.selector, labels ?? {});
  if (labels !== undefined) return { selects };
  return {
    selects,
    problem: problem({ kind: sgp.kind, namespace: sgp.namespace, name: sgp.name }, {
      severity: "unresolved",
      key: "spec.serviceAccountSelector",
      text:
        `ServiceAccount "${pod.namespace}/${pod.serviceAccountName}" is not in the cluster state: its labels are taken as empty`,
    }),
  };
}

/**
 * The `protocol/name` of every named port of a containers list, found once per list: pods made
 * from one template share their (frozen) list, so this is once per template, not per pod.
 */
const namedPortsOf = new WeakMap<readonly Container[], ReadonlySet<string>>();

function hasNamedPort(pod: Pod, port: string): boolean {
  let names = namedPortsOf.get(pod.containers);
  if (names === undefined) {
    const found = new Set<string>();
    for (const container of pod.containers) {
      for (const p of container.ports) {
        if (p.name !== undefined) found.add(`${p.protocol}/${p.name}`);
      }
    }
    namedPortsOf.set(pod.containers, names = found);
  }
  return names.has(port);
}

/** `namespace/name` as its two parts. */
function splitKey(key: string): [string, string] {
  const slash = key.indexOf("/");
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
