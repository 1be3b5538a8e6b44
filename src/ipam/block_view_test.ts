import { assertEquals } from "../../test/assert.ts";
import { pollUntil } from "../../test/poll.ts";
import { startFakeApiServer } from "../../test/fake_apiserver/server.ts";
import { KubeClient } from "../kube/client.ts";
import { BlockClaimer } from "./block_claimer.ts";
import { BlockView } from "./block_view.ts";

Deno.test("BlockView follows claims and releases of every node, and tells its subscribers", async () => {
  const fake = await startFakeApiServer({ crds: ["ippools.tern.dev", "ipamblocks.tern.dev"] });
  const client = new KubeClient({
    server: fake.url,
    caCerts: [],
    namespace: "default",
    origin: "t",
  });
  const view = new BlockView(client);
  try {
    fake.create({
      apiVersion: "tern.dev/v1alpha1",
      kind: "IPPool",
      metadata: { name: "p" },
      spec: { cidr: "10.9.0.0/24" },
    } as never);
    const a = new BlockClaimer(client, { nodeName: "a" });
    const pools = await a.pools();
    const first = await a.claim(pools, { nodeLabels: {} });
    await view.start();
    assertEquals(view.byNode(), new Map([["a", [first.cidr]]]));
    let told = 0;
    view.subscribe(() => told++);
    const second = await new BlockClaimer(client, { nodeName: "b" }).claim(pools, {
      nodeLabels: {},
    });
    await pollUntil(() => view.byNode().get("b")?.[0] === second.cidr, { what: "b's block" });
    await a.release(first);
    await pollUntil(() => !view.byNode().has("a"), { what: "a's block gone" });
    assertEquals(told >= 2, true);
  } finally {
    await view.stop();
    client.close();
    await fake.close();
  }
});
