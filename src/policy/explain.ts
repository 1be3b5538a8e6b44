/**
 * Explains the verdict on one flow: for the sender's egress and the receiver's ingress, and for
 * each layer (security groups, NetworkPolicy), whether the layer applies and, if it does, which
 * rule decided (policy, rule, priority, action) or that nothing matched (default deny). The
 * answer is looked up in the same boxes the renderer turns into nftables elements (the node's
 * model for its own pods, the same compiler for the others), so explain and the datapath cannot
 * disagree. Pure.
 * @module
 */
import { isIp, parseIp } from "../cidr.ts";
import type { Pod } from "../cluster/types.ts";
import { compilePodLayers, PROTOCOL_NUMBERS } from "./compile.ts";
import type {
  Box,
  Direction,
  Layer,
  LayerPolicy,
  LocalEndpoint,
  PolicyModel,
  RuleRef,
} from "./model.ts";
import { type ClusterView, PolicyContext } from "./policy_context.ts";
import { describeRule } from "./render.ts";

/** An end of a flow: a pod by namespace and name, or an address. */
export type FlowEndpoint = { namespace: string; name: string } | { ip: string };

/** What to explain. */
export interface Flow {
  src: FlowEndpoint;
  dst: FlowEndpoint;
  protocol: "tcp" | "udp" | "sctp" | "icmp";
  /** The destination port; required for tcp, udp and sctp. */
  port?: number;
  /** ICMP type (default 8, echo request) and code (default 0). */
  icmpType?: number;
  icmpCode?: number;
}

/** An end of the flow, resolved. */
export interface ResolvedEndpoint {
  ip: string;
  /** The pod behind the address, if any (`namespace/name`), and its node. */
  pod?: string;
  node?: string;
}

/** The answer of one layer on one side. */
export interface ExplainStep {
  /** `egress` of the sender or `ingress` of the receiver. */
  direction: Direction;
  /** The pod on that side (`namespace/name`); absent when that end is not a pod. */
  pod?: string;
  layer: Layer;
  /**
   * `unaffected`: the layer does not apply to the pod that way (or that end is no pod);
   * `allow`/`deny`: `rule` decided; `default-deny`: the layer applies and no rule matched.
   */
  outcome: "unaffected" | "allow" | "deny" | "default-deny";
  rule?: RuleRef;
  /** What puts the pod in this layer: its security groups, or the NetworkPolicies selecting it. */
  selectedBy: string[];
  /** True when the answer came from the node's programmed model rather than a fresh compile. */
  programmed: boolean;
  /** One line for the operator. */
  text: string;
}

/** The verdict and its reasons. */
export interface Explanation {
  verdict: "allow" | "deny";
  flow: Flow;
  src: ResolvedEndpoint;
  dst: ResolvedEndpoint;
  /** Sender egress (security groups, NetworkPolicy), then receiver ingress (the same). */
  steps: ExplainStep[];
  /**
   * Set when the flow never reaches the forward hook, so no policy applies: a pod to itself,
   * a node to its own pods or back. `steps` is then empty and the verdict `allow`.
   */
  bypass?: string;
}

/** A flow that cannot be explained: an unknown pod, a pod without address, a missing port. */
export class ExplainError extends Error {
  /** @param message what was wrong, then the detail after a colon */
  constructor(message: string) {
    super(message);
    this.name = "ExplainError";
  }
}

/** Options of {@linkcode explainFlow}. */
export interface ExplainOptions {
  /** The node's programmed model: its pods are answered from it. */
  model?: PolicyModel;
  /** The node's endpoints, so that their addresses resolve before the cluster state has them. */
  endpoints?: readonly LocalEndpoint[];
}

/** Explains the verdict on `flow` (see the module doc). Throws {@linkcode ExplainError}. */
export function explainFlow(
  state: ClusterView,
  flow: Flow,
  options: ExplainOptions = {},
): Explanation {
  const endpoints = options.endpoints ?? options.model?.pods ?? [];
  const ctx = new PolicyContext(state, { endpoints });
  if (flow.protocol !== "icmp" && flow.port === undefined) {
    throw new ExplainError(
      `Cannot explain ${flow.protocol} without a port: give ${flow.protocol}/<port>`,
    );
  }
  const src = resolve(ctx, flow.src);
  const dst = resolve(ctx, flow.dst);
  const bypass = bypassOf(ctx, src, dst);
  if (bypass !== undefined) {
    return {
      verdict: "allow",
      flow,
      src: publicEndpoint(src),
      dst: publicEndpoint(dst),
      steps: [],
      bypass,
    };
  }
  const icmp = flow.protocol === "icmp";
  const key = {
    space: icmp ? "icmp" as const : "l4" as const,
    first: icmp ? flow.icmpType ?? 8 : PROTOCOL_NUMBERS[flow.protocol],
    second: icmp ? flow.icmpCode ?? 0 : flow.port!,
  };
  const steps = [
    ...side(ctx, { direction: "egress", self: src, peer: dst, key, model: options.model }),
    ...side(ctx, { direction: "ingress", self: dst, peer: src, key, model: options.model }),
  ];
  const verdict = steps.some((s) => s.outcome === "deny" || s.outcome === "default-deny")
    ? "deny"
    : "allow";
  return {
    verdict,
    flow,
    src: publicEndpoint(src),
    dst: publicEndpoint(dst),
    steps,
  };
}

/** The explanation as text: a headline, then one line per step. */
export function formatExplanation(e: Explanation): string {
  const what = e.flow.protocol === "icmp"
    ? `icmp type ${e.flow.icmpType ?? 8} code ${e.flow.icmpCode ?? 0}`
    : `${e.flow.protocol}/${e.flow.port}`;
  const end = (r: ResolvedEndpoint) =>
    r.pod === undefined ? r.ip : `${r.pod} (${r.ip}${r.node === undefined ? "" : ` on ${r.node}`})`;
  return [
    `${what} from ${end(e.src)} to ${end(e.dst)}: ${e.verdict.toUpperCase()}`,
    ...(e.bypass === undefined ? [] : [`  ${e.bypass}`]),
    ...e.steps.map((s) => `  ${s.text}`),
    "",
  ].join("\n");
}

/**
 * Parses `tcp/80`, `udp/53`, `sctp/9`, `icmp`, `icmp/8` or `icmp/3/1` (type and code) into the
 * protocol part of a {@linkcode Flow}. Throws {@linkcode ExplainError}.
 */
export function parseFlowSpec(
  text: string,
): Pick<Flow, "protocol" | "port" | "icmpType" | "icmpCode"> {
  const [protocol, ...rest] = text.toLowerCase().split("/");
  const number = (value: string, max: number, what: string) => {
    if (!/^\d{1,5}$/.test(value) || Number(value) > max) {
      throw new ExplainError(
        `Invalid flow ${JSON.stringify(text)}: ${what} must be 0..${max}: got ${
          JSON.stringify(value)
        }`,
      );
    }
    return Number(value);
  };
  if (protocol === "icmp") {
    if (rest.length > 2) {
      throw new ExplainError(`Invalid flow ${JSON.stringify(text)}: expected icmp[/type[/code]]`);
    }
    const out: Pick<Flow, "protocol" | "icmpType" | "icmpCode"> = { protocol: "icmp" };
    if (rest[0] !== undefined) out.icmpType = number(rest[0], 255, "the ICMP type");
    if (rest[1] !== undefined) out.icmpCode = number(rest[1], 255, "the ICMP code");
    return out;
  }
  if (protocol !== "tcp" && protocol !== "udp" && protocol !== "sctp") {
    throw new ExplainError(
      `Invalid flow ${JSON.stringify(text)}: the protocol must be tcp, udp, sctp or icmp`,
    );
  }
  if (rest.length !== 1) {
    throw new ExplainError(`Invalid flow ${JSON.stringify(text)}: expected ${protocol}/<port>`);
  }
  const port = number(rest[0]!, 65535, "the port");
  if (port === 0) {
    throw new ExplainError(
      `Invalid flow ${JSON.stringify(text)}: the port must be 1..65535: got 0`,
    );
  }
  return { protocol, port };
}

/** Parses `namespace/name`, a bare pod name (namespace `default`), or an IPv4 address. */
export function parseFlowEndpoint(text: string): FlowEndpoint {
  if (isIp(text)) return { ip: text };
  const parts = text.split("/");
  if (parts.length > 2 || parts.some((p) => p === "")) {
    throw new ExplainError(
      `Invalid endpoint ${JSON.stringify(text)}: expected namespace/pod, pod or an IPv4 address`,
    );
  }
  return parts.length === 2
    ? { namespace: parts[0]!, name: parts[1]! }
    : { namespace: "default", name: parts[0]! };
}

// ---- internals ---------------------------------------------------------------------------------

interface Resolved extends ResolvedEndpoint {
  object?: Pod;
}

function publicEndpoint(r: Resolved): ResolvedEndpoint {
  const out: ResolvedEndpoint = { ip: r.ip };
  if (r.pod !== undefined) out.pod = r.pod;
  if (r.node !== undefined) out.node = r.node;
  return out;
}

function resolve(ctx: PolicyContext, end: FlowEndpoint): Resolved {
  if ("ip" in end) {
    if (!isIp(end.ip)) {
      throw new ExplainError(`Invalid address ${JSON.stringify(end.ip)}: expected IPv4`);
    }
    const pod = ctx.podByIp(end.ip);
    return pod === undefined ? { ip: end.ip } : withPod(end.ip, pod);
  }
  const pod = ctx.pod(end.namespace, end.name);
  if (pod === undefined) {
    throw new ExplainError(`Unknown pod: ${end.namespace}/${end.name} is not in the cluster state`);
  }
  if (pod.hostNetwork) {
    throw new ExplainError(
      `Cannot explain pod ${end.namespace}/${end.name}: it is host-network; give its node's address`,
    );
  }
  const [address] = ctx.addressesOf(pod);
  if (address === undefined) {
    throw new ExplainError(
      `Cannot explain pod ${end.namespace}/${end.name}: it has no IPv4 address yet`,
    );
  }
  const ip = [address >>> 24, (address >>> 16) & 255, (address >>> 8) & 255, address & 255].join(
    ".",
  );
  return withPod(ip, pod);
}

function withPod(ip: string, pod: Pod): Resolved {
  const out: Resolved = { ip, pod: `${pod.namespace}/${pod.name}`, object: pod };
  if (pod.nodeName !== undefined) out.node = pod.nodeName;
  return out;
}

/** Why the flow does not pass the forward hook (see `Explanation.bypass`), if it does not. */
function bypassOf(ctx: PolicyContext, src: Resolved, dst: Resolved): string | undefined {
  if (src.pod !== undefined && src.pod === dst.pod) {
    return "always allowed: a pod's traffic to itself never leaves it";
  }
  const local = (node: Resolved, pod: Resolved) =>
    node.pod === undefined && pod.node !== undefined &&
    ctx.nodeAddresses(pod.node).includes(node.ip);
  if (local(src, dst) || local(dst, src)) {
    return "always allowed: traffic between a node and its own pods does not pass the forward hook";
  }
  return undefined;
}

const LAYER_WORDS: Record<Layer, string> = {
  securityGroup: "security groups",
  networkPolicy: "NetworkPolicy",
};

function side(
  ctx: PolicyContext,
  at: {
    direction: Direction;
    self: Resolved;
    peer: Resolved;
    key: { space: "l4" | "icmp"; first: number; second: number };
    model: PolicyModel | undefined;
  },
): ExplainStep[] {
  const { direction, self, peer, key, model } = at;
  const pod = self.object;
  if (pod === undefined) {
    return (["securityGroup", "networkPolicy"] as const).map((layer) => ({
      direction,
      layer,
      outcome: "unaffected",
      selectedBy: [],
      programmed: false,
      text: `${direction} of ${self.ip}, ${
        LAYER_WORDS[layer]
      }: unaffected: not a pod, no ${direction} policy applies`,
    }));
  }
  const local =
    model?.pods.find((p) => `${p.namespace}/${p.name}` === self.pod && p.ip === self.ip) ??
      model?.pods.find((p) => `${p.namespace}/${p.name}` === self.pod);
  const layers: LayerPolicy[] = local !== undefined
    ? local[direction]
    : compilePodLayers(ctx, pod)[direction];
  const peerAddress = parseIp(peer.ip);
  const steps: ExplainStep[] = [];
  for (const layer of ["securityGroup", "networkPolicy"] as const) {
    const head = `${direction} of ${self.pod}, ${LAYER_WORDS[layer]}:`;
    const selectedBy = layer === "securityGroup"
      ? ctx.groupsOf(pod).filter((id) => ctx.resources.securityGroups.has(id))
      : ctx.networkPoliciesFor(pod, direction).map((np) => `${np.namespace}/${np.name}`);
    const found = layers.find((l) => l.layer === layer);
    const base = { direction, pod: self.pod!, layer, selectedBy, programmed: local !== undefined };
    if (found === undefined) {
      const why = layer === "securityGroup"
        ? `${self.pod} is in no security group`
        : `no NetworkPolicy selects ${self.pod} for ${direction}`;
      steps.push({ ...base, outcome: "unaffected", text: `${head} unaffected: ${why}` });
      continue;
    }
    const box = lookup(found.boxes, { ...key, peer: peerAddress });
    if (box === undefined) {
      const why = layer === "securityGroup"
        ? noGroupRuleMatches(ctx, pod)
        : `selected by ${plural("NetworkPolicy", selectedBy)} ${
          selectedBy.join(", ")
        }, none allows this`;
      steps.push({ ...base, outcome: "default-deny", text: `${head} default deny: ${why}` });
      continue;
    }
    const priority = box.rule.priority === undefined ? "" : ` (priority ${box.rule.priority})`;
    steps.push({
      ...base,
      outcome: box.rule.action,
      rule: box.rule,
      text: `${head} ${box.rule.action} by ${describeRule(box.rule)}${priority}`,
    });
  }
  return steps;
}

function noGroupRuleMatches(ctx: PolicyContext, pod: Pod): string {
  const ids = ctx.groupsOf(pod);
  const missing = ids.filter((id) => !ctx.resources.securityGroups.has(id));
  return `no rule of ${plural("group", ids)} ${ids.join(", ")} matches${
    missing.length === 0 ? "" : ` (no SecurityGroup ${missing.join(", ")}: no rules)`
  }`;
}

function plural(word: string, list: readonly string[]): string {
  if (list.length === 1) return word;
  return word.endsWith("y") ? `${word.slice(0, -1)}ies` : `${word}s`;
}

/** The box holding the packet, as the kernel's interval-map lookup finds it. */
function lookup(
  boxes: readonly Box[],
  packet: { space: "l4" | "icmp"; peer: number; first: number; second: number },
): Box | undefined {
  const { space, peer, first, second } = packet;
  return boxes.find((b) =>
    b.space === space && b.addresses[0] <= peer && peer <= b.addresses[1] &&
    b.first[0] <= first && first <= b.first[1] && b.second[0] <= second && second <= b.second[1]
  );
}
