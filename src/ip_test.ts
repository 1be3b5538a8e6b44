import { assertEquals, assertRejects } from "../test/assert.ts";
import { Ip } from "./ip.ts";
import { CommandError, type Runner } from "./runner.ts";

Deno.test("Ip.batch() runs through nsenter for a pod namespace and feeds the lines on stdin", async () => {
  const calls: { argv: readonly string[]; stdin: string | undefined }[] = [];
  const fake: Runner = (argv, options) => {
    calls.push({ argv, stdin: options?.stdin });
    return Promise.resolve({ code: 0, stdout: "", stderr: "" });
  };
  await new Ip(fake).batch(["link set lo up"], { netns: "/proc/42/ns/net" });
  assertEquals(calls, [{
    argv: ["nsenter", "--net=/proc/42/ns/net", "ip", "-batch", "-"],
    stdin: "link set lo up\n",
  }]);
});

Deno.test("Ip.argv() enters a namespace bound under /run/netns with ip -n, others with nsenter", () => {
  const ip = new Ip(() => Promise.resolve({ code: 0, stdout: "", stderr: "" }));
  assertEquals(ip.argv({ netns: "/var/run/netns/cni-1234" }), ["ip", "-n", "cni-1234"]);
  assertEquals(ip.argv({ netns: "/run/netns/pod" }), ["ip", "-n", "pod"]);
  assertEquals(ip.argv({ netns: "/proc/42/ns/net" }), ["nsenter", "--net=/proc/42/ns/net", "ip"]);
  assertEquals(ip.argv({ netns: "/var/run/netns/a/b" }), [
    "nsenter",
    "--net=/var/run/netns/a/b",
    "ip",
  ]);
  assertEquals(ip.argv(), ["ip"]);
});

Deno.test("Ip.batch() throws a CommandError carrying stderr when ip fails", async () => {
  const fake: Runner = () =>
    Promise.resolve({ code: 2, stdout: "", stderr: "RTNETLINK answers: File exists" });
  await assertRejects(() => new Ip(fake).batch(["x"]), CommandError, "File exists");
});

Deno.test("Ip.link() returns undefined for a missing device and parses a present one", async () => {
  const missing: Runner = () =>
    Promise.resolve({ code: 1, stdout: "", stderr: 'Device "x" does not exist.' });
  assertEquals(await new Ip(missing).link("x"), undefined);
  const present: Runner = () =>
    Promise.resolve({ code: 0, stdout: '[{"ifindex":7,"ifname":"x","mtu":1500}]', stderr: "" });
  assertEquals((await new Ip(present).link("x"))?.ifindex, 7);
});
