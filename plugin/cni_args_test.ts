import { assertEquals, assertThrows } from "../test/assert.ts";
import { parseCniArgs } from "./cni_args.ts";

Deno.test("parseCniArgs() reads the Kubernetes pod identity that runtimes pass", () => {
  assertEquals(
    parseCniArgs(
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;" +
        "K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=1234-5678",
    ),
    {
      ignoreUnknown: true,
      podNamespace: "default",
      podName: "web-0",
      podInfraContainerId: "abc",
      podUid: "1234-5678",
    },
  );
});

Deno.test("parseCniArgs() accepts an empty string and a trailing separator", () => {
  assertEquals(parseCniArgs(""), { ignoreUnknown: false });
  assertEquals(parseCniArgs("K8S_POD_NAME=a;"), { ignoreUnknown: false, podName: "a" });
});

Deno.test("parseCniArgs() skips unknown keys only with IgnoreUnknown", () => {
  assertEquals(parseCniArgs("FOO=bar;IgnoreUnknown=true"), { ignoreUnknown: true });
  assertThrows(() => parseCniArgs("FOO=bar;BAZ=1"), TypeError, "unknown keys FOO, BAZ");
  assertThrows(() => parseCniArgs("FOO=bar;IgnoreUnknown=0"), TypeError, "unknown key FOO");
});

Deno.test("parseCniArgs() rejects a pair without a key or an equals sign", () => {
  assertThrows(
    () => parseCniArgs("K8S_POD_NAME"),
    TypeError,
    `pair "K8S_POD_NAME" is not KEY=VALUE`,
  );
  assertThrows(() => parseCniArgs("=x"), TypeError, "is not KEY=VALUE");
  assertThrows(() => parseCniArgs("IgnoreUnknown=maybe"), TypeError, "IgnoreUnknown must be");
});
