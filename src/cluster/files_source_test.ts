import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../test/assert.ts";
import { type FilesRead, FilesSource, isManifestName } from "./files_source.ts";
import { publishEndpoints } from "./publish_endpoints.ts";
import type { ClusterEvent, Node, NodeEndpoints } from "./types.ts";

const testdata = (dir: string) =>
  new URL(`../../testdata/cluster/${dir}`, import.meta.url).pathname;

const nodeYaml = (name: string, cidr: string) =>
  `apiVersion: v1\nkind: Node\nmetadata:\n  name: ${name}\nspec:\n  podCIDR: ${cidr}\n`;

/** Reads a watch one event at a time, with a deadline, keeping the pending read between calls. */
class Reader {
  readonly #it: AsyncIterator<ClusterEvent>;
  #pending: Promise<IteratorResult<ClusterEvent>> | undefined;

  constructor(source: FilesSource) {
    this.#it = source.watch()[Symbol.asyncIterator]();
    // Starting the generator registers the watcher synchronously (the source is already listed).
    this.#pending = this.#it.next();
  }

  /** The next event, or undefined when none came within `ms`, or "done" when the watch ended. */
  async next(ms = 3_000): Promise<ClusterEvent | "done" | undefined> {
    this.#pending ??= this.#it.next();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) =>
      timer = setTimeout(() => resolve(undefined), ms)
    );
    const result = await Promise.race([this.#pending, timeout]);
    clearTimeout(timer);
    if (result === undefined) return undefined;
    this.#pending = undefined;
    return result.done ? "done" : result.value;
  }

  /** Collects events until `stop` says so (inclusive) or nothing arrives for `ms`. */
  async until(stop: (e: ClusterEvent) => boolean, ms = 3_000): Promise<ClusterEvent[]> {
    const events: ClusterEvent[] = [];
    while (true) {
      const event = await this.next(ms);
      if (event === undefined || event === "done") return events;
      events.push(event);
      if (stop(event)) return events;
    }
  }

  async stop(source: FilesSource): Promise<void> {
    await source.close();
    await this.#it.return?.();
  }
}

async function withSource(
  fn: (dir: string, source: FilesSource) => Promise<void>,
  options: { debounceMs?: number; settleMs?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tern-files-source-" });
  const source = new FilesSource(dir, {
    debounceMs: options.debounceMs ?? 30,
    ...(options.settleMs !== undefined ? { settleMs: options.settleMs } : {}),
    resyncMs: 0,
  });
  try {
    await fn(dir, source);
  } finally {
    await source.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const summary = (e: ClusterEvent) =>
  e.type === "error"
    ? `error ${e.key}`
    : e.type === "reset"
    ? "reset"
    : `${e.type} ${e.resource.kind} ${
      e.resource.kind === "NodeEndpoints" ? e.resource.node : e.resource.name
    }`;

Deno.test("isManifestName() takes yaml, yml and json and skips hidden and temporary files", () => {
  assertEquals(
    ["a.yaml", "b.yml", "c.json", ".x.yaml", "..data", "readme.md", ".endpoints-n.yaml.1.tmp"].map(
      isManifestName,
    ),
    [true, true, true, false, false, false, false],
  );
});

Deno.test("FilesSource.list() reads every manifest of the example directory", async () => {
  const source = new FilesSource(testdata("manifests"));
  const snap = await source.list();
  assertEquals(snap.errors, []);
  assertEquals(snap.resourceVersion, "1");
  assertEquals(snap.nodes.map((n) => n.name).sort(), ["node-1", "node-2", "node-3"]);
  assertEquals(snap.pods.map((p) => `${p.namespace}/${p.name}`).sort(), [
    "default/probe",
    "team-a/db-1",
    "team-a/web-1",
  ]);
  assertEquals(snap.namespaces.map((n) => n.name).sort(), ["default", "team-a"]);
  assertEquals(snap.nodeEndpoints.map((n) => n.node), ["node-2"]);
  assertEquals(snap.others.map((o) => o.resourceKind), ["NetworkPolicy"]);
  await source.close();
});

Deno.test("FilesSource.list() reports bad manifests with file, key and value and keeps the rest", async () => {
  const source = new FilesSource(testdata("bad"));
  const snap = await source.list();
  assertEquals(snap.namespaces.map((n) => n.name), ["fine"]);
  assertEquals(snap.nodes, []);
  assertEquals(snap.pods, []);
  const found = snap.errors.map((e) => [e.file.slice(e.file.lastIndexOf("/") + 1), e.key]).sort();
  assertEquals(found, [
    ["host-bits.yaml", "spec.podCIDR"],
    ["no-kind.yaml", "kind"],
    ["pod-port.yaml", "metadata.labels.enabled"],
    ["pod-port.yaml", "spec.containers[0].ports[0].containerPort"],
    ["syntax.yaml", ""],
  ]);
  const hostBits = snap.errors.find((e) => e.key === "spec.podCIDR")!;
  assertEquals(hostBits.value, "10.244.9.1/24");
  assertStringIncludes(hostBits.message, `${testdata("bad")}/host-bits.yaml:7`);
  await source.close();
});

Deno.test("FilesSource.list() fails clearly when the directory does not exist", async () => {
  const source = new FilesSource("/nonexistent/tern-cluster");
  await assertRejects(
    () => source.list(),
    Error,
    "Cannot read cluster manifests directory /nonexistent/tern-cluster: no such directory",
  );
});

Deno.test("FilesSource.watch() yields added, modified and deleted as files change, with increasing versions", async () => {
  await withSource(async (dir, source) => {
    await Deno.writeTextFile(`${dir}/a.yaml`, nodeYaml("node-1", "10.244.1.0/24"));
    const snap = await source.list();
    assertEquals(snap.nodes.map((n) => n.name), ["node-1"]);
    const reader = new Reader(source);

    await Deno.writeTextFile(`${dir}/b.yaml`, nodeYaml("node-2", "10.244.2.0/24"));
    const added = await reader.until((e) => e.type === "added");
    assertEquals(added.map(summary), ["added Node node-2"]);

    await Deno.writeTextFile(`${dir}/a.yaml`, nodeYaml("node-1", "10.244.7.0/24"));
    const modified = await reader.until((e) => e.type === "modified");
    assertEquals(modified.map(summary), ["modified Node node-1"]);
    assertEquals(
      (modified[0] as { resource: Node }).resource.podCIDRs,
      ["10.244.7.0/24"],
    );

    await Deno.remove(`${dir}/b.yaml`);
    const deleted = await reader.until((e) => e.type === "deleted");
    assertEquals(deleted.map(summary), ["deleted Node node-2"]);

    const versions = [...added, ...modified, ...deleted].map((e) =>
      Number((e as { resourceVersion: string }).resourceVersion)
    );
    assert(
      versions.every((v, i) =>
        v > Number(snap.resourceVersion) && (i === 0 || v > versions[i - 1]!)
      ),
      `versions must increase: ${versions}`,
    );
    await reader.stop(source);
  });
});

Deno.test("FilesSource.watch() reports an invalid edit and keeps the last valid object until it is fixed", async () => {
  await withSource(async (dir, source) => {
    await Deno.writeTextFile(`${dir}/nodes.yaml`, nodeYaml("node-1", "10.244.1.0/24"));
    await source.list();
    const reader = new Reader(source);

    await Deno.writeTextFile(`${dir}/nodes.yaml`, nodeYaml("node-1", "10.244.1.1/24"));
    const bad = await reader.until((e) => e.type === "error");
    assertEquals(bad.map(summary), ["error spec.podCIDR"]);
    const error = bad[0] as Extract<ClusterEvent, { type: "error" }>;
    assertEquals(error.file, `${dir}/nodes.yaml`);
    assertEquals(error.value, "10.244.1.1/24");
    assertEquals(await reader.next(300), undefined, "no deletion follows the bad edit");

    await Deno.writeTextFile(`${dir}/nodes.yaml`, "apiVersion: v1\nkind: [broken\n");
    const broken = await reader.until((e) => e.type === "error");
    assertEquals(broken.map(summary), ["error "]);
    assertEquals(await reader.next(300), undefined, "a file that is not YAML deletes nothing");

    await Deno.writeTextFile(`${dir}/nodes.yaml`, nodeYaml("node-1", "10.244.3.0/24"));
    const fixed = await reader.until((e) => e.type === "modified");
    assertEquals(fixed.map(summary), ["modified Node node-1"]);
    await reader.stop(source);
  });
});

Deno.test("FilesSource.watch() keeps the last valid NetworkPolicy when an edit makes it invalid", async () => {
  const policy = (ports: string) =>
    [
      "apiVersion: networking.k8s.io/v1",
      "kind: NetworkPolicy",
      "metadata: { name: web, namespace: x }",
      "spec:",
      "  podSelector: {}",
      `  ingress: [{ ports: [${ports}] }]`,
    ].join("\n") + "\n";
  await withSource(async (dir, source) => {
    await Deno.writeTextFile(`${dir}/np.yaml`, policy("{ port: 80 }"));
    const snap = await source.list();
    assertEquals(snap.others.map((o) => o.name), ["web"]);
    const reader = new Reader(source);

    await Deno.writeTextFile(`${dir}/np.yaml`, policy("{ port: http, endPort: 90 }"));
    const bad = await reader.until((e) => e.type === "error");
    assertEquals(bad.map(summary), ["error spec.ingress[0].ports[0].endPort"]);
    assertStringIncludes((bad[0] as { message: string }).message, `${dir}/np.yaml:6`);
    assertEquals(await reader.next(300), undefined, "the valid version stays: no deletion");

    await Deno.writeTextFile(`${dir}/np.yaml`, policy("{ port: 81 }"));
    const fixed = await reader.until((e) => e.type === "modified");
    assertEquals(fixed.map(summary), ["modified Other web"]);
    await reader.stop(source);
  });
});

Deno.test("FilesSource.watch() settles a burst of writes into one change", async () => {
  await withSource(async (dir, source) => {
    await source.list();
    const reader = new Reader(source);
    for (let i = 1; i <= 5; i++) {
      await Deno.writeTextFile(`${dir}/n.yaml`, nodeYaml("node-1", `10.244.${i}.0/24`));
    }
    const events = await reader.until(() => false, 600);
    assertEquals(events.map(summary), ["added Node node-1"]);
    assertEquals((events[0] as { resource: Node }).resource.podCIDRs, ["10.244.5.0/24"]);
    await reader.stop(source);
  }, { settleMs: 150 });
});

/** Writes `text` as `file` the way tools do it atomically: a temporary file renamed into place. */
async function renameInto(dir: string, file: string, text: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/.${file}.tmp`, text);
  await Deno.rename(`${dir}/.${file}.tmp`, `${dir}/${file}`);
}

Deno.test("FilesSource.watch() reads a file renamed into place without waiting for the write debounce", async () => {
  await withSource(async (dir, source) => {
    await source.list();
    const reader = new Reader(source);
    await renameInto(dir, "n.yaml", nodeYaml("node-1", "10.244.1.0/24"));
    // The debounce of writes without an end is 10 s; the rename ends the write.
    const events = await reader.until((e) => e.type === "added", 3_000);
    assertEquals(events.map(summary), ["added Node node-1"]);
    await Deno.remove(`${dir}/n.yaml`);
    const deleted = await reader.until((e) => e.type === "deleted", 3_000);
    assertEquals(deleted.map(summary), ["deleted Node node-1"]);
    await reader.stop(source);
  }, { debounceMs: 10_000 });
});

Deno.test("FilesSource.watch() leaves a file alone while its writer still writes it, and reads the others", async () => {
  await withSource(async (dir, source) => {
    await source.list();
    const reader = new Reader(source);
    const text = nodeYaml("node-2", "10.244.2.0/24");
    const file = await Deno.open(`${dir}/slow.yaml`, { write: true, create: true });
    try {
      // Half a manifest: a Node without its pod CIDR would be valid, and wrong.
      await file.write(new TextEncoder().encode(text.slice(0, text.indexOf("spec:"))));
      await renameInto(dir, "fast.yaml", nodeYaml("node-1", "10.244.1.0/24"));
      const first = await reader.until((e) => e.type === "added", 3_000);
      assertEquals(first.map(summary), ["added Node node-1"]);
      assertEquals(await reader.next(300), undefined, "the half-written file is not read");
      await file.write(new TextEncoder().encode(text.slice(text.indexOf("spec:"))));
    } finally {
      file.close();
    }
    const second = await reader.until((e) => e.type === "added", 3_000);
    assertEquals(second.map(summary), ["added Node node-2"]);
    assertEquals((second[0] as { resource: Node }).resource.podCIDRs, ["10.244.2.0/24"]);
    await reader.stop(source);
  }, { debounceMs: 2_000 });
});

Deno.test("FilesSource.watch() picks up endpoints published by another node and ignores the temporary file", async () => {
  await withSource(async (dir, source) => {
    await source.list();
    const reader = new Reader(source);
    await publishEndpoints(dir, {
      nodeName: "node-2",
      endpoints: [{
        podNamespace: "default",
        podName: "db",
        containerID: "c1",
        ifname: "eth0",
        ip: "10.244.2.5",
      }],
    });
    const events = await reader.until((e) => e.type === "added");
    assertEquals(events.map(summary), ["added NodeEndpoints node-2"]);
    assertEquals(
      (events[0] as { resource: NodeEndpoints }).resource.endpoints[0]!.ip,
      "10.244.2.5",
    );
    assertEquals(await reader.next(300), undefined);
    await reader.stop(source);
  });
});

Deno.test("FilesSource.watch() reports a repeated object once and keeps the first file's version", async () => {
  await withSource(async (dir, source) => {
    await Deno.writeTextFile(`${dir}/a.yaml`, nodeYaml("node-1", "10.244.1.0/24"));
    await source.list();
    const reader = new Reader(source);
    await Deno.writeTextFile(`${dir}/b.yaml`, nodeYaml("node-1", "10.244.2.0/24"));
    const events = await reader.until((e) => e.type === "error");
    assertEquals(events.map(summary), ["error metadata.name"]);
    assertStringIncludes(
      (events[0] as { message: string }).message,
      `already defined in ${dir}/a.yaml`,
    );
    await Deno.writeTextFile(`${dir}/c.yaml`, nodeYaml("node-3", "10.244.3.0/24"));
    const next = await reader.until((e) => e.type === "added");
    assertEquals(next.map(summary), ["added Node node-3"], "the duplicate is not reported again");
    await reader.stop(source);
  });
});

Deno.test("FilesSource.close() ends the watch", async () => {
  await withSource(async (_dir, source) => {
    await source.list();
    const reader = new Reader(source);
    await source.close();
    assertEquals(await reader.next(1_000), "done");
    await reader.stop(source);
  });
});

Deno.test("FilesSource.watch() tells onRead which files a read parsed again, and only those", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tern-files-source-" });
  const reads: FilesRead[] = [];
  const source = new FilesSource(dir, { resyncMs: 0, onRead: (r) => reads.push(r) });
  try {
    await Deno.writeTextFile(`${dir}/a.yaml`, nodeYaml("node-1", "10.244.1.0/24"));
    await source.list();
    const reader = new Reader(source);
    const text = nodeYaml("node-2", "10.244.2.0/24");
    await renameInto(dir, "b.yaml", text);
    assertEquals((await reader.until((e) => e.type === "added")).map(summary), [
      "added Node node-2",
    ]);
    assertEquals(reads.map((r) => [r.parsed, r.bytes, r.events]), [[["b.yaml"], text.length, 1]]);
    await reader.stop(source);
  } finally {
    await source.close();
    await Deno.remove(dir, { recursive: true });
  }
});
