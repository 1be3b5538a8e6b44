/**
 * Text rendering of `tern policy status`, `tern policy counters` and `tern policy explain`: pure
 * functions from the daemon's answers to text. Loaded only by the `policy` commands (it pulls
 * in the policy layer's formatting), so other commands start without it.
 * @module
 */
import type {
  ExplainResponse,
  PolicyCountersResponse,
  PolicyEnforcement,
  PolicyStatusResponse,
} from "../src/api.ts";
import { formatExplanation } from "../src/policy/explain.ts";
import { describeRule } from "../src/policy/render.ts";
import { formatPolicyStatus } from "../src/policy/status.ts";
import { formatDuration, renderTable } from "./render.ts";

const LAYER_WORDS = { securityGroup: "security groups", networkPolicy: "NetworkPolicy" } as const;

/**
 * `tern policy status`: how the node enforces (table, pods programmed and held, last
 * transaction, checks and restores, what keeps failing), then each policy with the pods it
 * applies to, what is enforced and what is not. `options.now` (default `Date.now`) dates events.
 */
export function renderPolicyStatus(
  status: PolicyStatusResponse,
  options: { now?: number } = {},
): string {
  const now = options.now ?? Date.now();
  const e = status.enforcement;
  if (!e.enabled) {
    return "policy:    disabled (policy.enabled is false in ternd.yaml): nothing is enforced\n";
  }
  let text = enforcementFields(e, now).map(([k, v]) => `${`${k}:`.padEnd(11)}${v}\n`).join("");
  if (e.pending.length > 0) {
    text += "\nheld closed (their veths drop everything):\n";
    text += e.pending.map((p) =>
      `  ${p.namespace}/${p.name} ${p.ifname} ${p.ip}, for ${
        formatDuration(p.sinceMs)
      }: ${p.reason}\n`
    ).join("");
  }
  if (e.lastRestore) {
    text += `\nlast restore ${ago(e.lastRestore.at, now)}, the table differed:\n`;
    text += e.lastRestore.differences.map((d) => `  ${d}\n`).join("");
  }
  if (status.rejected !== undefined && status.rejected.length > 0) {
    text +=
      `\nrejected policy manifests (latest ${status.rejected.length}; a last valid version stays enforced):\n`;
    text += status.rejected.map((r) => `  ${r}\n`).join("");
  }
  return `${text}\n${formatPolicyStatus(status.policies)}`;
}

function enforcementFields(e: PolicyEnforcement, now: number): [string, string][] {
  const fields: [string, string][] = [
    [
      "policy",
      `enforced in table ${e.table}: ${e.pods} pod${
        e.pods === 1 ? "" : "s"
      } programmed, ${e.pending.length} held; ${e.problems} problem${
        e.problems === 1 ? "" : "s"
      }; drops logged ${e.logRate === 0 ? "never" : `at most ${e.logRate}/s per rule`}`,
    ],
  ];
  const a = e.lastApply;
  if (a) {
    const what = a.kind === "failed"
      ? `FAILED: ${a.error ?? "unknown error"}`
      : a.kind === "none"
      ? "nothing changed"
      : `${a.kind === "whole" ? "the whole table" : "an update"}, ${a.lines} lines`;
    fields.push([
      "applied",
      `${
        ago(a.at, now)
      } (${a.trigger}, ${a.durationMs} ms): ${what}; ${e.applies} transactions, ${e.wholeApplies} whole${
        e.upToDate ? "" : "; changes waiting"
      }`,
    ]);
  }
  if (e.failing) {
    fields.push([
      "failing",
      `${e.failing.error} (${e.failing.attempts} attempt${
        e.failing.attempts === 1 ? "" : "s"
      } since ${ago(e.failing.since, now)}, next in ${
        formatDuration(Math.max(0, e.failing.retryAt - now))
      })`,
    ]);
  }
  fields.push([
    "checked",
    `${
      e.lastCheck === undefined ? "not yet" : ago(e.lastCheck, now)
    }; ${e.checks} checks, ${e.restores} restore${e.restores === 1 ? "" : "s"}`,
  ]);
  return fields;
}

/**
 * `tern policy counters`: packets and bytes per rule (all pods), per pod and rule (per group of
 * replicas whose chains share a map: one row naming them all), each pod layer's default deny, and
 * drops of veths not yet programmed. Rows with no packets are left out
 * unless `options.all`.
 */
export function renderPolicyCounters(
  counters: PolicyCountersResponse,
  options: { all?: boolean } = {},
): string {
  const keep = (c: { packets: number }) => options.all || c.packets > 0;
  let text = "";
  const rules = counters.rules.filter(keep);
  text += rules.length === 0
    ? `no rule ${options.all ? "in the model" : "has counted a packet"}\n`
    : renderTable(
      ["RULE", "ACTION", "PACKETS", "BYTES"],
      rules.map((r) => [describeRule(r.rule), r.rule.action, String(r.packets), String(r.bytes)]),
    );
  const perPod = counters.perPod.filter(keep);
  if (perPod.length > 0) {
    text += "\n" + renderTable(
      ["POD", "LAYER", "RULE", "PACKETS", "BYTES"],
      // Replicas sharing a map have one counter per element: the row names them all.
      perPod.map((p) => [
        [`${p.namespace}/${p.name}`, ...p.sharedWith ?? []].join(", "),
        LAYER_WORDS[p.layer],
        describeRule(p.rule),
        String(p.packets),
        String(p.bytes),
      ]),
    );
  }
  const denies = counters.defaultDeny.filter(keep);
  if (denies.length > 0) {
    text += "\n" + renderTable(
      ["POD", "DIRECTION", "LAYER", "DEFAULT DENY PACKETS", "BYTES"],
      denies.map((d) => [
        `${d.namespace}/${d.name}`,
        d.direction,
        LAYER_WORDS[d.layer],
        String(d.packets),
        String(d.bytes),
      ]),
    );
  }
  text +=
    `\nnot ready (veths without programmed policy): ${counters.notReady.packets} packets, ${counters.notReady.bytes} bytes dropped\n`;
  if (counters.unmatched > 0) {
    text +=
      `${counters.unmatched} elements of the table are not in the model (it changed meanwhile)\n`;
  }
  return text;
}

/** `tern policy explain`: the verdict, then one line per layer and side. */
export function renderExplanation(explanation: ExplainResponse): string {
  return formatExplanation(explanation);
}

function ago(at: number, now: number): string {
  return `${formatDuration(now - at)} ago`;
}
