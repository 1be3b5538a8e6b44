import { assertEquals, assertRejects, assertThrows } from "../../test/assert.ts";
import { parseManifests } from "./manifest.ts";
import {
  endpointsFileName,
  publishEndpoints,
  renderNodeEndpoints,
  unpublishEndpoints,
} from "./publish_endpoints.ts";
import type { NodeEndpoints, PublishedEndpoint } from "./types.ts";

const endpoints: PublishedEndpoint[] = [
  { podNamespace: "b", podName: "y", containerID: "c2", ifname: "eth0", ip: "10.244.1.3" },
  { containerID: "c9", ifname: "eth0", ip: "10.244.1.9" },
  { podNamespace: "a", podName: "x", containerID: "c1", ifname: "eth0", ip: "10.244.1.2" },
];

Deno.test("renderNodeEndpoints() output parses back to the same endpoints, sorted by pod", () => {
  const text = renderNodeEndpoints("node-1", endpoints);
  const out = parseManifests(text, { file: "endpoints-node-1.yaml" });
  assertEquals(out.errors, []);
  const [published] = out.resources as NodeEndpoints[];
  assertEquals(published!.node, "node-1");
  assertEquals(published!.endpoints, [endpoints[1], endpoints[2], endpoints[0]]);
});

Deno.test("renderNodeEndpoints() renders the same bytes whatever the input order", () => {
  assertEquals(
    renderNodeEndpoints("node-1", endpoints),
    renderNodeEndpoints("node-1", [...endpoints].reverse()),
  );
});

Deno.test("endpointsFileName() refuses a node name that could escape the directory", () => {
  assertEquals(endpointsFileName("node-1.example"), "endpoints-node-1.example.yaml");
  assertThrows(() => endpointsFileName("../etc/x"), TypeError, "Invalid node name");
  assertThrows(() => endpointsFileName(""), TypeError, "Invalid node name");
});

Deno.test("publishEndpoints() writes the file, skips an unchanged rewrite and leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-publish-" });
  try {
    assertEquals(await publishEndpoints(dir, { nodeName: "node-1", endpoints }), true);
    const file = `${dir}/endpoints-node-1.yaml`;
    const first = await Deno.stat(file);
    assertEquals(await Deno.readTextFile(file), renderNodeEndpoints("node-1", endpoints));
    assertEquals(await publishEndpoints(dir, { nodeName: "node-1", endpoints }), false);
    assertEquals((await Deno.stat(file)).ino, first.ino, "an unchanged list is not rewritten");
    assertEquals(await publishEndpoints(dir, { nodeName: "node-1", endpoints: [] }), true);
    assertEquals((await Deno.stat(file)).ino !== first.ino, true, "replaced by rename");
    const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
    assertEquals(names, ["endpoints-node-1.yaml"]);
    assertEquals(await unpublishEndpoints(dir, "node-1"), true);
    assertEquals(await unpublishEndpoints(dir, "node-1"), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("publishEndpoints() names the file when the directory is missing", async () => {
  await assertRejects(
    () => publishEndpoints("/nonexistent/tern", { nodeName: "node-1", endpoints }),
    Error,
    "Cannot publish endpoints to /nonexistent/tern/endpoints-node-1.yaml",
  );
});
