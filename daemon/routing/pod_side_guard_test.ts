import { assertEquals, assertThrows } from "../../test/assert.ts";
import { FakeClock } from "../../src/clock.ts";
import { recordingLogger } from "../../test/recording_logger.ts";
import { NetnsStrandedError } from "../../src/rtnetlink.ts";
import { asAdded, FakePod, HOST_VETH, hostLinks, namespaces } from "./_fake_pod.ts";
import type { PodNamespaces } from "./pod_side.ts";
import { podSidePass, startPodSideGuard, STRANDED_EXIT_CODE } from "./pod_side_guard.ts";

Deno.test("podSidePass() checks each endpoint with a namespace, logs and counts each repair", () => {
  const sound = new FakePod(asAdded());
  const drifted = new FakePod(asAdded().filter((a) => a.kind !== "neighbour"));
  const opened: string[] = [];
  const lines: string[] = [];
  const counted: string[] = [];
  const base = { ip: "10.244.1.5", hostVeth: HOST_VETH, ifname: "eth0" };
  const pass = podSidePass(namespaces({ "/ns/a": sound, "/ns/b": drifted }, opened), hostLinks(), [
    { ...base, containerID: "a", netns: "/ns/a" },
    { ...base, containerID: "b", netns: "/ns/b" },
    { ...base, containerID: "c", netns: "/ns/gone" },
    { ...base, containerID: "d" },
  ], { log: recordingLogger(lines), onRepair: (o) => counted.push(o) });
  assertEquals(opened, ["/ns/a", "/ns/b", "/ns/gone"]);
  assertEquals([pass.checked, pass.gone, pass.failed, pass.repaired], [2, 1, 0, {
    pod_neighbour: 1,
  }]);
  assertEquals(counted, ["pod_neighbour"]);
  assertEquals(lines.length, 1);
  assertEquals(lines[0]!.startsWith("warn Repaired the pod side of an endpoint"), true);
  assertEquals(lines[0]!.includes('"netns":"/ns/b"'), true);
});

Deno.test("podSidePass() ends the process at once when the thread is stranded in a pod's namespace", () => {
  const lines: string[] = [];
  const stranded: PodNamespaces = {
    withSocket: () => {
      throw new NetnsStrandedError("/ns/a", 1);
    },
  };
  const ep = {
    containerID: "a",
    ifname: "eth0",
    ip: "10.244.1.5",
    hostVeth: HOST_VETH,
    netns: "/ns/a",
  };
  class Exited extends Error {}
  let code: number | undefined;
  assertThrows(() =>
    podSidePass(stranded, hostLinks(), [ep, { ...ep, containerID: "b" }], {
      log: recordingLogger(lines),
      exit: (c) => {
        code = c;
        throw new Exited();
      },
    }), Exited);
  assertEquals(code, STRANDED_EXIT_CODE);
  assertEquals(lines.length, 1);
  assertEquals(lines[0]!.startsWith("error Stranded in a pod's network namespace"), true);
});

Deno.test("startPodSideGuard() checks at start-up, then every interval, until stopped", async () => {
  const clock = new FakeClock(0);
  const pod = new FakePod(asAdded());
  const opened: string[] = [];
  const passes: number[] = [];
  const ep = {
    containerID: "a",
    ifname: "eth0",
    ip: "10.244.1.5",
    hostVeth: HOST_VETH,
    netns: "/ns/a",
  };
  const guard = startPodSideGuard(namespaces({ "/ns/a": pod }, opened), hostLinks(), () => [ep], {
    intervalMs: 10_000,
    clock,
    onPass: (pass) => passes.push(pass.checked),
  });
  await clock.tick(0);
  assertEquals(passes, [1], "the start-up pass");
  pod.objects = pod.objects.filter((o) => o.kind !== "neighbour");
  await clock.tick(9_999);
  assertEquals(passes, [1]);
  await clock.tick(1);
  assertEquals(passes, [1, 1]);
  assertEquals(pod.requests.length, 1, "the deleted entry put back");
  await guard.stop();
  await clock.tick(60_000);
  assertEquals(opened.length, 2);
});
