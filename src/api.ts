/**
 * The contract between the plugin and the daemon: HTTP/1.1 + JSON on the daemon's Unix socket.
 * Types only, shared by `plugin/` (the client) and `daemon/` (the handler). Every error response
 * is `{ "error": message, "reason": ApiReason }` with a 4xx/5xx status.
 *
 * | method | path | body → response |
 * | --- | --- | --- |
 * | GET | /v1/status | → {@linkcode StatusResponse} |
 * | POST | /v1/endpoints/attach | {@linkcode AttachRequest} → {@linkcode AddResponse} (ADD's veth pair and daemon side) |
 * | POST | /v1/endpoints/add | {@linkcode AddRequest} → {@linkcode AddResponse} (ADD's whole daemon side) |
 * | POST | /v1/ipam/allocate | {@linkcode AllocateRequest} → {@linkcode AllocateResponse} |
 * | POST | /v1/endpoints | {@linkcode ProgramRequest} → {@linkcode Endpoint} (host route, rules, policy) |
 * | GET | /v1/endpoints | → `{ endpoints: Endpoint[] }` |
 * | GET | /v1/endpoints/{containerID}/{ifname} | → {@linkcode Endpoint} or 404 |
 * | POST | /v1/endpoints/release | {@linkcode ReleaseRequest} → {@linkcode ReleaseResponse} (idempotent) |
 * | POST | /v1/gc | {@linkcode GcRequest} → {@linkcode GcResponse} |
 * | GET | /v1/ipam/check | → `IpamCheckReport` (src/ipam/ipam_check.ts) |
 * | POST | /v1/ipam/repair | → `IpamRepairResponse`: the safe repairs applied, and a check after |
 * | GET | /v1/policy/status | → {@linkcode PolicyStatusResponse} |
 * | GET | /v1/policy/counters | → {@linkcode PolicyCountersResponse} |
 * | POST | /v1/policy/explain | {@linkcode ExplainRequest} → {@linkcode ExplainResponse} |
 * @module
 */
import type { PolicyCounters } from "./policy/counters.ts";
import type { Explanation } from "./policy/explain.ts";
import type { PolicyStatus } from "./policy/status.ts";

/** Default path of the daemon's socket. */
export const DEFAULT_SOCKET = "/run/tern/ternd.sock";

/** Why a request failed, machine-readable; the plugin maps it to a CNI error code. */
export type ApiReason =
  | "invalid" // the request is malformed (400)
  | "not_found" // no such endpoint or path (404)
  | "conflict" // the identity or address is taken in a way that forbids the request (409)
  | "exists" // attach: the host veth or the pod's interface already exists (409)
  | "unsupported" // attach: this daemon cannot make the veth pair (no rtnetlink, netns not seen) (422)
  | "exhausted" // no free address in the node's pod CIDRs (503)
  | "too_large" // body over the cap (413)
  | "unavailable" // the daemon is starting or stopping (503)
  | "internal"; // anything else (500)

/** Error body of every non-2xx response. */
export interface ApiError {
  error: string;
  reason: ApiReason;
}

/** The identity of an attachment, as the CNI spec defines it. */
export interface AttachmentId {
  containerID: string;
  ifname: string;
}

/** Ask for the address of an attachment; repeated calls for one identity return one address. */
export interface AllocateRequest extends AttachmentId {
  /** The network config's `name`. */
  network: string;
  /** Path of the pod's network namespace (`CNI_NETNS`). */
  netns: string;
  /** Optional: Kubernetes pod identity from `CNI_ARGS` (K8S_POD_NAMESPACE, K8S_POD_NAME). */
  podNamespace?: string;
  podName?: string;
}

/** The address the daemon claimed. */
export interface AllocateResponse {
  /** The pod's IPv4 address (no prefix). */
  ip: string;
  /** The pod CIDR it came from. */
  podCIDR: string;
  /** The gateway the pod routes through (169.254.1.1). */
  gateway: string;
  /** False when the identity already held this address (repeated ADD). */
  created: boolean;
}

/** Program the host side of an attachment whose veth exists. */
export interface ProgramRequest extends AttachmentId {
  network: string;
  netns: string;
  /** Host-side veth name. */
  hostVeth: string;
  /** MAC of the pod-side interface, recorded for CHECK and status. */
  podMac: string;
  /** The address returned by allocate; the daemon refuses one that the identity does not own. */
  ip: string;
}

/**
 * ADD's whole daemon side in one request, once the host veth exists: claim the address (or find
 * the one the identity holds), install the host route and rules, program the policy and the ready
 * mark, and commit the endpoint, programmed, in one durable KV commit that runs beside the kernel
 * work. On an error answer nothing of it is left on the daemon's side.
 */
export interface AddRequest extends AllocateRequest {
  /** Host-side veth name; must be the one tern derives from the identity. */
  hostVeth: string;
  /** MAC of the pod-side interface, recorded for CHECK and status. */
  podMac: string;
}

/**
 * ADD's whole node side in one request: the daemon makes the veth pair (host end `hostVeth`, pod
 * end `ifname` in `netns`, both with `mtu`) while it claims the address, then programs the host
 * side as for {@linkcode AddRequest}. On an error nothing of it is left.
 */
export interface AttachRequest extends AddRequest {
  mtu: number;
}

/** The programmed endpoint, and whether this request claimed its address. */
export interface AddResponse extends Endpoint {
  /** False when the identity already held this address (repeated ADD). */
  created: boolean;
}

/** What the daemon knows of an attachment. */
export interface Endpoint extends AttachmentId {
  network: string;
  netns: string;
  ip: string;
  podCIDR: string;
  /** Empty until programmed. */
  hostVeth: string;
  podMac: string;
  podNamespace?: string;
  podName?: string;
  /** `allocated`: address claimed, host side not yet programmed; `programmed`: ready. */
  state: "allocated" | "programmed";
  /**
   * In the answer to program only: `ready` (the veth passes traffic under its policy),
   * `pending` (held closed until its Pod object arrives, see docs/policy.md), `off` (policy
   * disabled).
   */
  policy?: "ready" | "pending" | "off";
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
}

/**
 * Release an attachment: remove its rules, delete its host veth if it is still there (the kernel
 * takes the host route with it), then free its address.
 */
export interface ReleaseRequest extends AttachmentId {
  network?: string;
}

/** `released` is false when there was nothing to release (already gone is success). */
export interface ReleaseResponse {
  released: boolean;
  ip?: string;
}

/** CNI GC: release every attachment of `network` that is not in `valid`. */
export interface GcRequest {
  network: string;
  valid: AttachmentId[];
}

/** The attachments GC released. */
export interface GcResponse {
  released: (AttachmentId & { ip: string })[];
}

/** One pod CIDR of the node and how full it is. */
export interface PoolStatus {
  cidr: string;
  /** Addresses that may be handed out (network and broadcast excluded). */
  capacity: number;
  used: number;
  free: number;
}

/** Daemon health, for STATUS and `tern status`. */
export interface StatusResponse {
  ready: boolean;
  version: string;
  node: string;
  pools: PoolStatus[];
  /** Sum of `free` over pools. */
  free: number;
  endpoints: number;
  /** Milliseconds since the daemon started. */
  uptimeMs: number;
  /** Routing between nodes and the reconciler; absent from daemons before issue 3. */
  routing?: RoutingStatus;
  /** The cluster source; absent on a single node (no `cluster` in the config). */
  cluster?: ClusterStatus;
  /** Policy enforcement in brief; absent from daemons before issue 4. */
  policy?: PolicySummary;
  /** While the daemon starts: what it is waiting for (the first lists from the API server, …). */
  starting?: string;
}

/** Something that kept a route or rule out, or that the operator should know. */
export interface RoutingProblem {
  /** `cidr_conflict`, `no_address`, `no_pod_cidr`, `unknown_egress_table`, `no_local_node`, `pod_cidr_mismatch`. */
  kind: string;
  message: string;
}

/** Another node, as this node routes to it. */
export interface PeerStatus {
  node: string;
  /** The address its pod CIDRs are routed via, when it has one of the configured types. */
  address?: string;
  /** Its IPv4 pod CIDRs. */
  podCIDRs: string[];
  /** Those routed via `address` (none in `native` mode or when in conflict). */
  routed: string[];
}

/** One reconcile pass. Times are ms since the epoch. */
export interface ReconcilePass {
  /** What asked for it: `start`, `periodic`, `cluster`, `endpoints`, `monitor`, `retry`, joined by `,`. */
  trigger: string;
  startedAt: number;
  durationMs: number;
  added: number;
  replaced: number;
  deleted: number;
  /** Changes that failed this time (retried with backoff). */
  failed: number;
  /** Failing changes not attempted this time: their backoff had not run out. */
  deferred: number;
  /** Set when the pass itself failed (the kernel could not be listed). */
  error?: string;
}

/** A change the reconciler keeps failing to make. */
export interface ReconcileFailure {
  /** The `ip -batch` line. */
  item: string;
  error: string;
  attempts: number;
  /** When it first failed and when it is tried next, ms since the epoch. */
  since: number;
  retryAt: number;
}

/** The reconciler: its last pass, what it owns, what keeps failing. */
export interface ReconcileStatus {
  passes: number;
  /** The periodic pass's interval. */
  intervalMs: number;
  /** `ip monitor`: `off` (config), `running`, or `restarting` after it died. */
  monitor: "off" | "running" | "restarting";
  lastPass?: ReconcilePass;
  /** The last pass that changed something. */
  lastChange?: ReconcilePass;
  /** Routes and rules carrying tern's protocol after the last pass. */
  ownedRoutes: number;
  ownedRules: number;
  failing: ReconcileFailure[];
}

/** Routing between nodes and the policy routing of the node's pods. */
export interface RoutingStatus {
  mode: "routes" | "native";
  /** Where the node's pod CIDRs came from. */
  podCIDRsFrom: "config" | "node" | "blocks";
  /** Every other node the cluster source knows, by name. */
  peers: PeerStatus[];
  problems: RoutingProblem[];
  reconcile: ReconcileStatus;
}

/** The cluster source and this node's publication of its endpoints. */
export interface ClusterStatus {
  /** `files:/etc/tern/cluster`. */
  source: string;
  nodes: number;
  pods: number;
  /** The most recent bad manifests (at most 10), oldest first. */
  errors: string[];
  publishEndpoints: boolean;
  /** The last publication: when, how many endpoints, whether it failed. */
  published?: { at: number; endpoints: number; error?: string };
  /** `kubernetes` source: whether the first list of every kind is in (the daemon waits for it). */
  synced?: boolean;
  /**
   * `kubernetes` source, before the first lists: the API server refuses tern's credentials (401)
   * or permissions (403) for a kind, and what to fix; retried with backoff while it lasts.
   */
  refused?: string;
  /** `kubernetes` source: each kind's list+watch, for seeing how stale the node's view is. */
  kinds?: ClusterKindStatus[];
}

/** One kind the `kubernetes` source follows. */
export interface ClusterKindStatus {
  /** `Pod`, `NetworkPolicy`, … */
  kind: string;
  apiVersion: string;
  /** The first list is in. */
  synced: boolean;
  /** The API server does not serve the kind (its CRD is not installed); retried. */
  missing: boolean;
  /** A watch is open now. */
  watching: boolean;
  /** Objects held (valid or not). */
  objects: number;
  /** Objects tern could not use. */
  invalid: number;
  /** 0 while a watch is open; else seconds since the API server last answered for this kind. */
  staleSeconds?: number;
  /** Watches and lists started again after a failure or a clean end. */
  reconnects: number;
  /** Lists after the first (410 Gone, a kind that came back). */
  relists: number;
  /** Lists and watches that failed; absent from daemons before the metrics. */
  errors?: number;
  /** When the last event or bookmark arrived, ms since the epoch. */
  lastEventAt?: number;
  /** The last failure, while it lasts. */
  lastError?: string;
}

/** Policy in brief, for `tern status`. */
export interface PolicySummary {
  /** False when `policy.enabled` is false: no table, nothing enforced. */
  enabled: boolean;
  /** Policy resources (valid or not) the node reads. */
  policies?: number;
  /** Local pods whose policy is programmed, and those held closed. */
  pods?: number;
  pending?: number;
  /** Problems (invalid, unsupported, unresolved) found while compiling. */
  problems?: number;
  /** False while a change is waiting to be applied, or the table keeps failing. */
  upToDate?: boolean;
  lastApply?: PolicyApplyStatus;
}

/** One policy run: what it applied, or why it failed. Times are ms since the epoch. */
export interface PolicyApplyStatus {
  at: number;
  /** What asked for it: `start`, `endpoints`, `cluster`, `policy`, `restore`, `retry`, joined by `,`. */
  trigger: string;
  /** `whole`: the whole table; `incremental`: only what changed; `none`: nothing had changed. */
  kind: "whole" | "incremental" | "none" | "failed";
  durationMs: number;
  /** Of which compiling the model. */
  computeMs: number;
  /** Lines of the transaction. */
  lines: number;
  pods: number;
  pending: number;
  error?: string;
}

/** A local pod whose veth is held closed. */
export interface PolicyPendingPod {
  namespace: string;
  name: string;
  ifname: string;
  ip: string;
  reason: string;
  /** How long it has been held. */
  sinceMs: number;
}

/** The daemon's enforcement of policy. */
export interface PolicyEnforcement {
  enabled: true;
  table: "inet tern";
  /** Drop log lines per second per rule; 0: none. */
  logRate: number;
  /** Local pods whose policy is programmed. */
  pods: number;
  pending: PolicyPendingPod[];
  problems: number;
  /** Transactions applied, and how many of them were the whole table. */
  applies: number;
  wholeApplies: number;
  upToDate: boolean;
  lastApply?: PolicyApplyStatus;
  lastError?: { at: number; error: string };
  /** The whole table keeps failing; retried with backoff. */
  failing?: { error: string; attempts: number; since: number; retryAt: number };
  /** Checks of the kernel's table against the model, and restores after a difference. */
  checks: number;
  lastCheck?: number;
  restores: number;
  lastRestore?: { at: number; differences: string[] };
}

/** `GET /v1/policy/status`: enforcement, then each policy with its pods and problems. */
export interface PolicyStatusResponse {
  enforcement: PolicyEnforcement | { enabled: false };
  policies: PolicyStatus[];
  /**
   * The latest policy manifests the sources rejected (file, line, field), oldest first; the last
   * valid version of each, if any, is what `policies` shows and the node enforces.
   */
  rejected?: string[];
}

/** `GET /v1/policy/counters`: the kernel's counters, by policy and rule, pod and layer. */
export interface PolicyCountersResponse extends PolicyCounters {
  /** When they were read, ms since the epoch. */
  at: number;
}

/** `POST /v1/policy/explain`: the verdict on one flow. */
export interface ExplainRequest {
  /** A pod as `namespace/name` (or `name` in `default`), or an IPv4 address. */
  src: string;
  dst: string;
  proto: "tcp" | "udp" | "sctp" | "icmp";
  /** The destination port: required for tcp, udp and sctp. */
  port?: number;
  /** ICMP type (default 8) and code (default 0). */
  icmpType?: number;
  icmpCode?: number;
}

/** The explanation, as `src/policy/explain.ts` computes it with the node's programmed model. */
export type ExplainResponse = Explanation;
