import { assertEquals } from "../assert.ts";
import { READY_GROUP } from "../../src/policy/render.ts";
import { auditFindings, inRanges, type NodeSnapshot, singleAddresses } from "./audit.ts";

/** A clean node: two live programmed pods with veths, routes and marks, and the daemon's monitor. */
function clean(): NodeSnapshot {
  return {
    node: "n1",
    attachments: [
      { containerID: "a", ifname: "eth0", ip: "10.244.1.2", state: "programmed", veth: "terna" },
      { containerID: "b", ifname: "eth0", ip: "10.244.1.3", state: "programmed", veth: "ternb" },
    ],
    ipKeys: new Map([["10.244.1.2", "a/eth0"], ["10.244.1.3", "b/eth0"]]),
    veths: new Map([["terna", READY_GROUP], ["ternb", READY_GROUP]]),
    routes: [{ dst: "10.244.1.2", dev: "terna" }, { dst: "10.244.1.3", dev: "ternb" }],
    ruleAddresses: ["10.244.1.2"],
    nftTable: true,
    nftVeths: [],
    nftAddresses: ["10.244.1.3"],
    processes: [{ pid: 10, cmdline: "ternd", daemonTree: true }],
    live: [
      { containerID: "a", ifname: "eth0", ip: "10.244.1.2", podAddresses: ["10.244.1.2"] },
      { containerID: "b", ifname: "eth0", ip: "10.244.1.3", podAddresses: ["10.244.1.3"] },
    ],
  };
}

Deno.test("auditFindings finds nothing on a node whose KV, kernel and pods agree", () => {
  assertEquals(auditFindings(clean(), { readyMarks: true }), {
    counts: { duplicates: 0, leaks: 0, strays: 0, missing: 0, orphans: 0 },
    problems: [],
  });
});

Deno.test("auditFindings counts an address held twice and two routes to one address as duplicates", () => {
  const snap = clean();
  snap.attachments.push({
    containerID: "c",
    ifname: "eth0",
    ip: "10.244.1.2",
    state: "allocated",
    veth: "ternc",
  });
  snap.routes.push({ dst: "10.244.1.3", dev: "ternb" });
  const report = auditFindings({ ...snap, live: undefined });
  assertEquals(report.counts.duplicates, 2);
});

Deno.test("auditFindings counts a held address of a gone pod and a dangling claim as leaks", () => {
  const snap = clean();
  snap.live = snap.live!.slice(0, 1);
  snap.ipKeys.set("10.244.1.9", "z/eth0");
  const report = auditFindings(snap);
  assertEquals(report.counts.leaks, 2, report.problems.join("\n"));
});

Deno.test("auditFindings counts kernel objects no attachment accounts for as strays", () => {
  const snap = clean();
  snap.veths.set("ternx", READY_GROUP); // veth + its mark
  snap.routes.push({ dst: "10.244.1.8", dev: "ternx" });
  snap.ruleAddresses.push("10.244.1.8");
  snap.nftVeths.push("ternx");
  snap.nftAddresses.push("10.244.1.8");
  const report = auditFindings(snap);
  assertEquals(report.counts.strays, 6, report.problems.join("\n"));
  assertEquals(report.counts.leaks, 0);
});

Deno.test("auditFindings counts what a live pod lacks as missing", () => {
  const snap = clean();
  snap.routes = snap.routes.slice(1); // a's route
  snap.veths.set("ternb", 0); // b's mark
  snap.live![1]!.podAddresses = [];
  const report = auditFindings(snap, { readyMarks: true });
  assertEquals(report.counts.missing, 3, report.problems.join("\n"));
});

Deno.test("auditFindings counts processes outside the running daemon's tree as orphans", () => {
  const snap = clean();
  snap.processes.push({ pid: 11, cmdline: "ip monitor route rule link", daemonTree: false });
  assertEquals(auditFindings(snap).counts.orphans, 1);
});

Deno.test("singleAddresses skips the ends of ranges and prefixes", () => {
  const listing = "ip saddr { 10.244.1.4, 10.244.1.6-10.244.1.9, 10.0.0.0/8 } 10.244.1.10 }";
  assertEquals(singleAddresses(listing), ["10.244.1.4", "10.244.1.10"]);
});

Deno.test("inRanges tells whether an address lies in one of the CIDRs", () => {
  assertEquals(inRanges("10.244.1.7", ["10.244.1.0/24"]), true);
  assertEquals(inRanges("10.244.2.7", ["10.244.1.0/24", "10.244.3.0/26"]), false);
  assertEquals(inRanges("10.244.3.63", ["10.244.3.0/26"]), true);
});
