import { assertEquals } from "../../test/assert.ts";
import { diffRoutes } from "./diff.ts";
import { desiredOwnPodCIDRRoutes } from "./own_pod_cidr_routes.ts";
import { parseRoutes } from "./parse.ts";

Deno.test("desiredOwnPodCIDRRoutes() makes each IPv4 pod CIDR unreachable once, skipping IPv6", () => {
  assertEquals(
    desiredOwnPodCIDRRoutes(
      ["10.244.1.0/24", "fd00::/64", "10.244.1.0/24", "10.245.0.0/26"],
      "unreachable",
    ),
    [
      { table: 254, dst: "10.244.1.0/24", type: "unreachable" },
      { table: 254, dst: "10.245.0.0/26", type: "unreachable" },
    ],
  );
  assertEquals(desiredOwnPodCIDRRoutes(["10.244.1.0/24"], "blackhole"), [
    { table: 254, dst: "10.244.1.0/24", type: "blackhole" },
  ]);
  assertEquals(desiredOwnPodCIDRRoutes(["10.244.1.0/24"], "none"), []);
});

Deno.test("desiredOwnPodCIDRRoutes() is satisfied by the kernel's listing of the route it renders", () => {
  // `ip -json -4 -N route show proto 116 table all` after `route replace unreachable 10.244.1.0/24
  // table 254 proto 116` (iproute2 6.1): numeric type, no scope key (global).
  const have = parseRoutes('[{"type":"7","dst":"10.244.1.0/24","flags":[]}]', { protocol: 116 });
  const want = desiredOwnPodCIDRRoutes(["10.244.1.0/24"], "unreachable");
  assertEquals(diffRoutes(have, want), { add: [], del: [], replace: [] });
});
