/**
 * The fake API server as a process: the URL on the first stdout line, flags, the admin API over
 * HTTP, a clean exit on SIGTERM.
 * @module
 */

import { parse as parseYaml } from "yaml";
import { assertEquals, assertMatch } from "../assert.ts";
import { call } from "./_test_client.ts";

async function firstLine(stream: ReadableStream<Uint8Array>, timeoutMs: number): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`No line on stdout within ${timeoutMs} ms: got ${JSON.stringify(text)}`)),
      timeoutMs,
    );
  });
  try {
    while (!text.includes("\n")) {
      const r = await Promise.race([reader.read(), deadline]);
      if (r.done) throw new Error(`stdout ended before a line: ${JSON.stringify(text)}`);
      text += decoder.decode(r.value, { stream: true });
    }
    return text.split("\n")[0]!;
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

Deno.test("main.ts prints its URL first, serves the seed with the token, obeys the admin API, exits on SIGTERM", async () => {
  const dir = await Deno.makeTempDir();
  const seed = `${dir}/seed.yaml`;
  await Deno.writeTextFile(
    seed,
    `apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: tern.dev/v1alpha1
kind: SecurityGroup
metadata: {name: web, namespace: default}
spec: {ingress: []}
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./main.ts", import.meta.url).pathname,
      "--port",
      "0",
      "--token",
      "secret",
      "--crd",
      "securitygroups.tern.dev",
      "--seed",
      seed,
      "--generate",
      "nodes=2,pods=4,networkPolicies=1,namespaces=1",
      "--bookmark-interval-ms",
      "200",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const url = await firstLine(child.stdout, 20_000);
    assertMatch(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assertEquals((await call(`${url}/api/v1/nodes`)).status, 401);
    const nodes = await call(`${url}/api/v1/nodes`, { token: "secret" });
    assertEquals(nodes.body.items.length, 3);
    const sg = await call(`${url}/apis/tern.dev/v1alpha1/securitygroups/web`, {
      token: "secret",
    });
    assertEquals(sg.status, 200);
    const state = await call(`${url}/_fake/state`);
    assertEquals(state.body.objects.pods, 4);
    await call(`${url}/_fake/faults/throttle`, {
      method: "POST",
      body: { count: 1, retryAfterSeconds: 2 },
    });
    const throttled = await call(`${url}/api/v1/nodes`, { token: "secret" });
    assertEquals([throttled.status, throttled.headers.get("retry-after")], [429, "2"]);
    const bad = await call(`${url}/_fake/faults/slow`, { method: "POST", body: {} });
    assertEquals([bad.status, bad.body.error], [400, '"delayMs" is required']);
    child.kill("SIGTERM");
    const status = await child.status;
    assertEquals(status.code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts refuses a bad flag with a message naming it and exit code 2", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./main.ts", import.meta.url).pathname, "--port", "x"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 2);
  assertMatch(new TextDecoder().decode(out.stderr), /Bad value for --port: "x"/);
});

Deno.test("main.ts --tls-generate serves HTTPS and writes a kubeconfig a client can use (CA data, token)", async () => {
  const dir = await Deno.makeTempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./main.ts", import.meta.url).pathname,
      "--tls-generate",
      "--ca-out",
      `${dir}/ca.pem`,
      "--kubeconfig-out",
      `${dir}/kubeconfig`,
      "--token",
      "tok",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const url = await firstLine(child.stdout, 20_000);
    assertMatch(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    // deno-lint-ignore no-explicit-any
    const kc = parseYaml(await Deno.readTextFile(`${dir}/kubeconfig`)) as any;
    assertEquals(kc["current-context"], "fake");
    const cluster = kc.clusters[0].cluster;
    assertEquals(cluster.server, url);
    const ca = atob(cluster["certificate-authority-data"]);
    assertEquals(ca, await Deno.readTextFile(`${dir}/ca.pem`));
    const client = Deno.createHttpClient({ caCerts: [ca] });
    try {
      const r = await fetch(`${url}/api/v1/namespaces/default`, {
        client,
        headers: { authorization: `Bearer ${kc.users[0].user.token}` },
      });
      assertEquals([r.status, (await r.json()).metadata.name], [200, "default"]);
    } finally {
      client.close();
    }
    child.kill("SIGTERM");
    assertEquals((await child.status).code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts --state: killed with SIGTERM and started again on the same port, it has its objects and revision", async () => {
  const dir = await Deno.makeTempDir();
  const spawn = (port: string) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./main.ts", import.meta.url).pathname,
        "--port",
        port,
        "--state",
        `${dir}/state`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  const stopChild = async (child: Deno.ChildProcess) => {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    const status = await child.status;
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    return status.code;
  };
  try {
    const first = spawn("0");
    let url: string;
    let rv: string;
    try {
      url = await firstLine(first.stdout, 20_000);
      const created = await call(`${url}/api/v1/namespaces/default/pods`, {
        method: "POST",
        body: { metadata: { name: "survivor" } },
      });
      assertEquals(created.status, 201);
      rv = created.body.metadata.resourceVersion;
    } finally {
      assertEquals(await stopChild(first), 0);
    }
    const second = spawn(new URL(url).port);
    try {
      assertEquals(await firstLine(second.stdout, 20_000), url);
      const got = await call(`${url}/api/v1/namespaces/default/pods/survivor`);
      assertEquals([got.status, got.body.metadata.resourceVersion], [200, rv]);
    } finally {
      await stopChild(second);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
