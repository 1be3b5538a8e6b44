/** The sandbox API server's pure parts: each node's kubeconfig, as tern's own client reads it. */
import { assertEquals } from "./assert.ts";
import { parseKubeconfig } from "../src/kube/kubeconfig.ts";
import { nodeKubeconfig } from "./sandbox_apiserver.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

Deno.test("nodeKubeconfig() is a kubeconfig tern's client resolves to the server, CA and token file", async () => {
  const text = nodeKubeconfig("node-2", {
    server: "https://10.98.0.253:6443",
    tokenFile: "/tmp/sb/apiserver/token",
    caPem: CA,
  });
  const connection = await parseKubeconfig(text, "/tmp/sb/node-2/kubeconfig");
  assertEquals(connection.server, "https://10.98.0.253:6443");
  assertEquals(connection.caCerts, [CA]);
  assertEquals(connection.tokenFile, "/tmp/sb/apiserver/token");
  assertEquals(connection.token, undefined);
});

Deno.test("nodeKubeconfig() without TLS names no CA", async () => {
  const text = nodeKubeconfig("node-1", { server: "http://10.98.0.253:6443", tokenFile: "/t" });
  const connection = await parseKubeconfig(text, "/k");
  assertEquals([connection.server, connection.caCerts], ["http://10.98.0.253:6443", []]);
});
