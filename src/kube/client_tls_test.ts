/**
 * The client over TLS, with a CA, a server and a client certificate made by `openssl` in a temp
 * directory: the server's certificate is verified against the kubeconfig's CA only when given,
 * and the client certificate is presented to a server that demands one (`openssl s_server
 * -Verify`).
 */
import { assert, assertEquals, assertRejects } from "../../test/assert.ts";
import { FakeClock } from "../clock.ts";
import { KubeNetworkError } from "./errors.ts";
import { KubeClient, WatchIdleError } from "./client.ts";
import { json, podObject, PODS, startTestServer, until } from "./_test_server.ts";
import { parseKubeconfig } from "./kubeconfig.ts";

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** A CA, a server certificate for localhost/127.0.0.1 and a client certificate, in `dir`. */
async function makePki(dir: string): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl(
    dir,
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    "-subj",
    "/CN=tern-test-ca",
  );
  await Deno.writeTextFile(`${dir}/server.ext`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await openssl(
    dir,
    "req",
    ...ec,
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  );
  await openssl(
    dir,
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "1",
    "-extfile",
    "server.ext",
  );
  await Deno.writeTextFile(`${dir}/client.ext`, "extendedKeyUsage=clientAuth\n");
  await openssl(
    dir,
    "req",
    ...ec,
    "-keyout",
    "client.key",
    "-out",
    "client.csr",
    "-subj",
    "/CN=system:node:n1/O=system:nodes",
  );
  await openssl(
    dir,
    "x509",
    "-req",
    "-in",
    "client.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "client.crt",
    "-days",
    "1",
    "-extfile",
    "client.ext",
  );
}

async function withPki(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tern-kube-tls-" });
  try {
    await makePki(dir);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const podList = {
  kind: "PodList",
  apiVersion: "v1",
  metadata: { resourceVersion: "3" },
  items: [],
};

Deno.test("the client verifies the API server against the kubeconfig's CA", async () => {
  await withPki(async (dir) => {
    const tls = {
      cert: await Deno.readTextFile(`${dir}/server.crt`),
      key: await Deno.readTextFile(`${dir}/server.key`),
    };
    const server = startTestServer(() => json(podList), { tls });
    const kubeconfig = `
current-context: t
clusters: [{ name: t, cluster: { server: "${server.url}", certificate-authority: ca.crt } }]
users: [{ name: t, user: { token: abc } }]
contexts: [{ name: t, context: { cluster: t, user: t } }]
`;
    const trusted = new KubeClient(await parseKubeconfig(kubeconfig, `${dir}/config`));
    const untrusted = new KubeClient({ ...server.connection, caCerts: [] });
    try {
      const page = await trusted.list(PODS);
      assertEquals(page.resourceVersion, "3");
      assertEquals(server.requests[0]!.headers.get("authorization"), "Bearer abc");
      await assertRejects(() => untrusted.list(PODS), KubeNetworkError, "Cannot reach");
    } finally {
      trusted.close();
      untrusted.close();
      await server.close();
    }
  });
});

Deno.test("the client presents its certificate to a server that demands one", async () => {
  await withPki(async (dir) => {
    // s_server -WWW serves files below its directory: the "list" is a file at the API's path.
    await Deno.mkdir(`${dir}/www/api/v1`, { recursive: true });
    await Deno.writeTextFile(`${dir}/www/api/v1/pods`, JSON.stringify(podList));
    const child = new Deno.Command("openssl", {
      args: [
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-cert",
        "../server.crt",
        "-key",
        "../server.key",
        "-CAfile",
        "../ca.crt",
        "-Verify",
        "1",
        "-WWW",
        "-naccept",
        "2",
      ],
      cwd: `${dir}/www`,
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      let seen = "";
      while (!/ACCEPT 127\.0\.0\.1:\d+/.test(seen)) {
        const { done, value } = await reader.read();
        if (done) throw new Error(`openssl s_server did not start: ${seen}`);
        seen += value;
      }
      const port = seen.match(/ACCEPT 127\.0\.0\.1:(\d+)/)![1];
      const kubeconfig = `
current-context: t
clusters: [{ name: t, cluster: { server: "https://127.0.0.1:${port}", certificate-authority: ca.crt } }]
users:
  - { name: cert, user: { client-certificate: client.crt, client-key: client.key } }
  - { name: none, user: {} }
contexts:
  - { name: t, context: { cluster: t, user: cert } }
  - { name: anonymous, context: { cluster: t, user: none } }
`;
      const withCert = new KubeClient(await parseKubeconfig(kubeconfig, `${dir}/config`));
      const anonymous = new KubeClient(
        await parseKubeconfig(kubeconfig, `${dir}/config`, { context: "anonymous" }),
      );
      try {
        await assertRejects(() => anonymous.list(PODS), KubeNetworkError, "Cannot reach");
        assertEquals((await withCert.list(PODS)).resourceVersion, "3");
      } finally {
        withCert.close();
        anonymous.close();
      }
    } finally {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited after its two connections.
      }
      await reader.cancel();
      await child.status;
    }
  });
});

Deno.test("after a hung watch the client opens a new connection; streams on the old one go on", async () => {
  // Over TLS every request shares one HTTP/2 connection. A watch that went silent may mean
  // that connection is dead (a server gone without a FIN): were the next requests sent on it,
  // they would hang too, until the kernel gives the socket up (~15 min).
  await withPki(async (dir) => {
    const tls = {
      cert: await Deno.readTextFile(`${dir}/server.crt`),
      key: await Deno.readTextFile(`${dir}/server.key`),
    };
    const server = startTestServer((req, server) => {
      if (req.query.get("watch") !== "1") return json(podList);
      return server.stream().response; // silent until the test writes
    }, { tls });
    const clock = new FakeClock();
    const client = new KubeClient(
      { ...server.connection, caCerts: [await Deno.readTextFile(`${dir}/ca.crt`)] },
      { clock },
    );
    try {
      await client.list(PODS);
      const quiet = client.watch(PODS, { resourceVersion: "3", idleTimeoutMs: 30_000 });
      const hung = quiet.next();
      hung.catch(() => {});
      await until(() => server.streams.length === 1, "the silent watch");
      const busy: string[] = [];
      const other = (async () => {
        const events = client.watch(PODS, { resourceVersion: "3", idleTimeoutMs: 600_000 });
        for await (const e of events) busy.push(e.type);
      })();
      other.catch(() => {}); // awaited below; a failure before that must not escape the test
      await until(() => server.streams.length === 2, "the other watch");
      const old = server.requests[0]!.remotePort;
      assertEquals(server.requests.map((r) => r.remotePort), [old, old, old], "one connection");
      await clock.tick(30_000);
      await assertRejects(() => hung, WatchIdleError);
      await client.list(PODS);
      const fresh = server.requests.at(-1)!.remotePort;
      assert(fresh !== old, "the list after the hung watch went over a new connection");
      // The other watch, on the old connection, still works and ends as it would.
      server.streams[1]!.event("ADDED", podObject("a", "4"));
      await until(() => busy.length === 1, "an event on the old connection");
      server.streams[1]!.end();
      await other;
    } finally {
      client.close();
      await server.close();
    }
  });
});
