import { assertEquals, assertStringIncludes } from "../test/assert.ts";
import { formatKubeAdmit, type KubeAdmitResult, kubeAdmitSummary } from "./bench_kube_admit.ts";

const RESULT: KubeAdmitResult = {
  statusDelayMs: 1000,
  probeEveryMs: 5,
  series: [
    { publishPodIPs: true, addMs: [100, 120, 110], admitMs: [90, 150, 130] },
    { publishPodIPs: false, addMs: [100, 100, 100], admitMs: [1130, 1150, 1190] },
  ],
};

Deno.test("kubeAdmitSummary() gives each series' p50 and p99, from ADD's start and after it returned", () => {
  assertEquals(kubeAdmitSummary(RESULT), {
    "kubeAdmit.annotation.p50Ms": 130,
    "kubeAdmit.annotation.p99Ms": 150,
    "kubeAdmit.annotation.addP50Ms": 110,
    "kubeAdmit.annotation.afterAddP50Ms": 20,
    "kubeAdmit.annotation.afterAddP99Ms": 30,
    "kubeAdmit.statusOnly.p50Ms": 1150,
    "kubeAdmit.statusOnly.p99Ms": 1190,
    "kubeAdmit.statusOnly.addP50Ms": 100,
    "kubeAdmit.statusOnly.afterAddP50Ms": 1050,
    "kubeAdmit.statusOnly.afterAddP99Ms": 1090,
  });
});

Deno.test("formatKubeAdmit() names both series and the status write's delay", () => {
  const text = formatKubeAdmit(RESULT);
  assertStringIncludes(text, "kubelet's status write 1000 ms after ADD returns");
  assertStringIncludes(text, "annotation (publishPodIPs)");
  assertStringIncludes(text, "status only (kubelet)");
});
