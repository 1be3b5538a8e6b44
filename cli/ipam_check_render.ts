/**
 * `tern ipam check` as text (pure): what was looked at, then each problem with what is wrong and
 * either the repair `--repair` makes and why it is safe, or why there is none and what to do;
 * with `--repair`, what each repair did and what remains.
 * @module
 */
import type { IpamCheckReport, IpamProblem, IpamRepairResponse } from "../src/ipam/ipam_check.ts";

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function heading(p: IpamProblem): string {
  const what = p.ip ?? p.block ?? p.veth ?? "";
  const details: string[] = [];
  if (p.containerID !== undefined) {
    details.push(`containerID ${p.containerID.slice(0, 12)}`, `ifname ${p.ifname ?? "?"}`);
  }
  if (p.pod !== undefined) details.push(`pod ${p.pod}`);
  if (p.veth !== undefined && p.veth !== what) details.push(`veth ${p.veth}`);
  return `${p.kind} ${what}${details.length ? ` (${details.join(", ")})` : ""}`;
}

/** One problem: its heading, what is wrong, and the repair or the advice. */
export function renderProblem(p: IpamProblem): string {
  const repair = p.repair === "none" ? `  ${p.advice}` : `  --repair: ${p.repair}: ${p.advice}`;
  return `${heading(p)}\n  ${p.message}\n${repair}\n`;
}

/** The report as text. */
export function renderIpamCheck(report: IpamCheckReport): string {
  const c = report.counts;
  const seen = [
    plural(c.allocations, "allocation"),
    plural(c.addressRecords, "address record"),
    plural(c.veths, "veth"),
    plural(c.routes, "host route"),
  ];
  if (c.pods !== undefined) seen.push(`${plural(c.pods, "pod")} of the node in the cluster`);
  if (c.blocks !== undefined) seen.push(`${plural(c.blocks, "block")} of the node in the cluster`);
  let text = `node:     ${report.node} (ipam.mode ${report.mode})\n`;
  text += `checked:  ${seen.join(", ")}`;
  text += c.young > 0 ? `; ${c.young} too young to judge (an ADD in flight)\n` : "\n";
  if (c.pods === undefined) text += "pods:     not judged (no cluster source, or not listed yet)\n";
  const repairable = report.problems.filter((p) => p.repair !== "none").length;
  if (report.problems.length === 0) return text + "problems: none\n";
  text += `problems: ${report.problems.length}, ${repairable} repaired by --repair\n\n`;
  return text + report.problems.map(renderProblem).join("\n");
}

/** What `--repair` did: each repair's result, then the check after it. */
export function renderIpamRepair(response: IpamRepairResponse): string {
  let text = "";
  if (response.repairs.length === 0) {
    text += `repairs:  none to make (${
      plural(response.before.problems.length, "problem")
    } found)\n`;
  } else {
    text += "repairs:\n";
    for (const r of response.repairs) {
      const p = r.problem;
      text += `  ${r.result.padEnd(8)} ${p.repair} ${p.ip ?? p.veth ?? p.block ?? ""} (${p.kind})${
        r.error ? `: ${r.error}` : r.result === "skipped" ? ": the records changed meanwhile" : ""
      }\n`;
    }
  }
  return `${text}\nafter the repairs:\n${renderIpamCheck(response.after)}`;
}
