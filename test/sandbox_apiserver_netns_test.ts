/**
 * The sandbox's API server in the fabric's namespace: reachable from a node over the fabric with
 * its kubeconfig's CA and token, and from the test process through the relay; tern's CRDs served
 * with the scope deploy/ gives them. Needs root.
 */
import { assert, assertEquals } from "./assert.ts";
import { Sandbox } from "./sandbox.ts";
import { FAKE_APISERVER_MAIN, startSandboxApiServer } from "./sandbox_apiserver.ts";

const skip = Deno.uid() !== 0
  ? "not root"
  : await Deno.stat(FAKE_APISERVER_MAIN).then(() => undefined, () => "no fake API server");
if (skip !== undefined) console.warn(`Skipping the sandbox API server tests: ${skip}`);

Deno.test({
  name: "the sandbox API server serves a node on the fabric and the test process through the relay",
  ignore: skip !== undefined,
  fn: async () => {
    const sb = await Sandbox.create();
    try {
      const fabric = await sb.addFabric();
      const node = await sb.addNode("node-1", { fabric });
      const api = await startSandboxApiServer(sb, fabric);
      assertEquals(api.url, "https://10.98.0.253:6443");
      await api.objects.apply({
        apiVersion: "tern.dev/v1alpha1",
        kind: "SecurityGroup",
        metadata: { name: "sg-db" },
        spec: { ingress: [] },
      });
      assertEquals(
        (await api.objects.resource({
          apiVersion: "tern.dev/v1alpha1",
          kind: "SecurityGroup",
          name: "sg-db",
        })).namespaced,
        false,
        "SecurityGroup is cluster-scoped, as deploy/ makes it",
      );
      await api.objects.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } });
      await api.objects.apply({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "web", namespace: "x" },
        spec: { nodeName: "node-1", containers: [{ name: "main", image: "sandbox" }] },
        status: { phase: "Running", podIP: "10.244.1.2", podIPs: [{ ip: "10.244.1.2" }] },
      });
      // From the node, as its daemon would: over the fabric, verifying the CA, with the token.
      await Deno.writeTextFile(`${node.dir}/ca.pem`, api.caPem!);
      const out = await sb.exec(node.netns, [
        "curl",
        "-sS",
        "--cacert",
        `${node.dir}/ca.pem`,
        "-H",
        `Authorization: Bearer ${api.token}`,
        `${api.url}/api/v1/namespaces/x/pods/web`,
      ]);
      assertEquals(out.code, 0, out.stderr);
      const pod = JSON.parse(out.stdout);
      assertEquals(pod.status.podIPs, [{ ip: "10.244.1.2" }], "the status went through /status");
      const kubeconfig = api.kubeconfig("node-1");
      assert(kubeconfig.includes(`server: ${api.url}`), kubeconfig);
      assert(kubeconfig.includes(`tokenFile: ${api.tokenFile}`), kubeconfig);
      await api.objects.remove({ apiVersion: "v1", kind: "Pod", namespace: "x", name: "web" });
      await api.objects.remove({ apiVersion: "v1", kind: "Pod", namespace: "x", name: "web" });
      await api.stop();
    } finally {
      await sb.cleanup();
    }
  },
});
