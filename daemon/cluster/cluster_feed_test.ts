import { assert, assertEquals, assertRejects } from "../../test/assert.ts";
import type { ClusterSource } from "../../src/cluster/source.ts";
import { ClusterState } from "../../src/cluster/state.ts";
import type { ClusterEvent, Node, Snapshot } from "../../src/cluster/types.ts";
import type { Logger } from "../../src/log.ts";
import { ClusterFeed } from "./cluster_feed.ts";

function node(name: string): Node {
  return { kind: "Node", name, labels: {}, addresses: [], podCIDRs: [] };
}

function snapshot(nodes: Node[], version = "1"): Snapshot {
  return {
    resourceVersion: version,
    nodes,
    pods: [],
    namespaces: [],
    nodeEndpoints: [],
    others: [],
    errors: [],
  };
}

/** A source whose watches the test drives: push events, end or fail the current watch. */
class FakeSource implements ClusterSource {
  readonly name = "fake:test";
  lists = 0;
  watches = 0;
  listResult: () => Snapshot = () => snapshot([node("a")]);
  #events: (ClusterEvent | Error | "end")[] = [];
  #wake: (() => void) | undefined;
  #closed = false;

  list(): Promise<Snapshot> {
    this.lists++;
    return Promise.resolve(this.listResult());
  }

  async *watch(): AsyncGenerator<ClusterEvent> {
    this.watches++;
    while (!this.#closed) {
      const next = this.#events.shift();
      if (next === undefined) {
        await new Promise<void>((r) => this.#wake = r);
        continue;
      }
      if (next === "end") return;
      if (next instanceof Error) throw next;
      yield next;
    }
  }

  push(...items: (ClusterEvent | Error | "end")[]): void {
    this.#events.push(...items);
    this.#wake?.();
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    return Promise.resolve();
  }
}

function recorder(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  return {
    log: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
    lines,
  };
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

Deno.test("ClusterFeed lists into the state, applies watch events and logs bad manifests with file, key and value", async () => {
  const source = new FakeSource();
  source.listResult = () => ({
    ...snapshot([node("a")]),
    errors: [{
      file: "/c/nodes.yaml",
      line: 7,
      key: "spec.podCIDR",
      value: "10.244.9.1/24",
      message:
        'Invalid Node "node-9" in /c/nodes.yaml:7: spec.podCIDR: "10.244.9.1/24" has host bits set',
    }],
  });
  const state = new ClusterState();
  const { log, lines } = recorder();
  const feed = new ClusterFeed(source, state, { log });
  await feed.list();
  assertEquals(state.nodes().map((n) => n.name), ["a"]);
  assert(
    lines.some((l) =>
      l.startsWith('error Invalid Node "node-9"') && l.includes('"file":"/c/nodes.yaml"') &&
      l.includes('"line":7') && l.includes('"key":"spec.podCIDR"') &&
      l.includes('"value":"10.244.9.1/24"')
    ),
    lines.join("\n"),
  );
  feed.start();
  source.push(
    { type: "added", resource: node("b"), resourceVersion: "2" },
    {
      type: "error",
      file: "/c/x.yaml",
      key: "",
      value: undefined,
      message: "Invalid YAML in /c/x.yaml:3: bad",
    },
    { type: "deleted", resource: node("a"), resourceVersion: "3" },
  );
  await tick();
  assertEquals(state.nodes().map((n) => n.name), ["b"]);
  assertEquals(state.errors().map((e) => e.message.slice(0, 20)), [
    'Invalid Node "node-9',
    "Invalid YAML in /c/x",
  ]);
  assert(lines.some((l) => l.startsWith("error Invalid YAML in /c/x.yaml:3: bad")));
  await feed.stop();
});

Deno.test("ClusterFeed lists and watches again after the watch ends or fails, never giving up", async () => {
  const source = new FakeSource();
  const state = new ClusterState();
  const { log, lines } = recorder();
  const feed = new ClusterFeed(source, state, { log, retryMinMs: 10, retryMaxMs: 40 });
  await feed.list();
  feed.start();
  source.listResult = () => snapshot([node("a"), node("c")], "9");
  source.push(new Error("watcher died"));
  await tick(40);
  assertEquals([source.lists, source.watches], [2, 2]);
  assertEquals(state.nodes().map((n) => n.name), ["a", "c"]);
  assert(
    lines.some((l) =>
      l.includes("Cluster watch failed; listing again") && l.includes("watcher died")
    ),
  );
  source.push("end");
  await tick(40);
  assertEquals([source.lists, source.watches], [3, 3]);
  await feed.stop();
});

Deno.test("ClusterFeed.list() fails when the source is unusable", async () => {
  const source = new FakeSource();
  source.listResult = () => {
    throw new Error("Cannot read cluster manifests directory /nope: no such directory");
  };
  await assertRejects(() => new ClusterFeed(source, new ClusterState()).list(), Error, "/nope");
});
