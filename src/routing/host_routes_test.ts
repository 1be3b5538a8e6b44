import { assertEquals } from "../../test/assert.ts";
import { desiredHostRoutes } from "./host_routes.ts";

Deno.test("desiredHostRoutes() routes each endpoint with a veth as a link-scope /32, by address", () => {
  assertEquals(
    desiredHostRoutes([
      { ip: "10.244.1.10", hostVeth: "tern00000000010" },
      { ip: "10.244.1.9", hostVeth: "tern00000000009" },
      { ip: "10.244.1.11", hostVeth: "" },
    ]),
    [
      { table: 254, dst: "10.244.1.9/32", dev: "tern00000000009", scope: "link" },
      { table: 254, dst: "10.244.1.10/32", dev: "tern00000000010", scope: "link" },
    ],
  );
});
