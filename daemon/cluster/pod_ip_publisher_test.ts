import { assertEquals, assertRejects } from "../../test/assert.ts";
import type { PublishedEndpoint } from "../../src/cluster/types.ts";
import { ApiError } from "../../src/kube/errors.ts";
import { podIpPublisher } from "./pod_ip_publisher.ts";

const ep = (name: string, ip: string, namespace = "default"): PublishedEndpoint => ({
  podNamespace: namespace,
  podName: name,
  containerID: `c-${name}`,
  ifname: "eth0",
  ip,
});

function recorder(fail: (ns: string, name: string) => unknown = () => undefined) {
  const calls: string[] = [];
  const annotate = (ns: string, name: string, ips: string[]) => {
    calls.push(`${ns}/${name}=${ips.join(",")}`);
    const err = fail(ns, name);
    return err === undefined ? Promise.resolve() : Promise.reject(err);
  };
  return { calls, annotate };
}

Deno.test("podIpPublisher() patches each pod once per address set", async () => {
  const { calls, annotate } = recorder();
  const publish = podIpPublisher(annotate, () => undefined);
  assertEquals(await publish([ep("a", "10.244.1.2"), ep("b", "10.244.1.3")]), true);
  assertEquals(await publish([ep("a", "10.244.1.2"), ep("b", "10.244.1.3")]), false);
  // b's sandbox was made again with a new address; a is unchanged.
  assertEquals(await publish([ep("a", "10.244.1.2"), ep("b", "10.244.1.9")]), true);
  assertEquals(calls, [
    "default/a=10.244.1.2",
    "default/b=10.244.1.3",
    "default/b=10.244.1.9",
  ]);
});

Deno.test("podIpPublisher() skips a pod whose annotation already shows its addresses", async () => {
  const { calls, annotate } = recorder();
  const publish = podIpPublisher(annotate, (_ns, name) => name === "a" ? "10.244.1.2" : undefined);
  assertEquals(await publish([ep("a", "10.244.1.2"), ep("b", "10.244.1.3")]), true);
  assertEquals(calls, ["default/b=10.244.1.3"]);
});

Deno.test("podIpPublisher() ignores endpoints without a pod and pods that are gone", async () => {
  const { calls, annotate } = recorder((_ns, name) =>
    name === "gone"
      ? new ApiError({ code: 404, reason: "NotFound", message: 'pods "gone" not found' })
      : undefined
  );
  const publish = podIpPublisher(annotate, () => undefined);
  const anonymous: PublishedEndpoint = { containerID: "c", ifname: "eth0", ip: "10.244.1.7" };
  assertEquals(await publish([anonymous, ep("gone", "10.244.1.4")]), false);
  assertEquals(await publish([anonymous, ep("gone", "10.244.1.4")]), false);
  assertEquals(calls, ["default/gone=10.244.1.4"]);
});

Deno.test("podIpPublisher() tries every pod, throws the first failure and retries only the failed", async () => {
  let down = true;
  const { calls, annotate } = recorder((_ns, name) =>
    down && name === "a" ? new Error("API server unreachable") : undefined
  );
  const publish = podIpPublisher(annotate, () => undefined);
  await assertRejects(
    () => publish([ep("a", "10.244.1.2"), ep("b", "10.244.1.3")]),
    Error,
    "API server unreachable",
  );
  down = false;
  assertEquals(await publish([ep("a", "10.244.1.2"), ep("b", "10.244.1.3")]), true);
  assertEquals(calls, ["default/a=10.244.1.2", "default/b=10.244.1.3", "default/a=10.244.1.2"]);
});
