/**
 * What a policy change costs the kernel when replicas share a layer (issue 11): two trees'
 * renders (`--before DIR`, a tern checkout, and this one) program the same model, each in a
 * namespace of its own (`ternt<pid>x…`, never the root one): `--replicas` local pods (default 4)
 * whose ingress NetworkPolicy layer is one compiled object of `--boxes` peers (default 10 000,
 * TCP 7777), each a range of `--width` addresses (default 1; the kube-scale bench's local pods'
 * layer is 85 % pairs of consecutive pod addresses: `--width 2`). Each round is the bench's policy
 * change: the ipBlock box of the previous round is deleted (the element added last: the kernel's
 * worst case, `nft_pipapo_remove` walks the map in the order elements were added) and a new one
 * added; the two trees' transactions are loaded with `nft -f FILE` in paired rounds, alternately
 * first. Then `--handovers` rounds in which the lowest-id replica leaves and comes back (with
 * shared maps the next replica's map is created whole, then the leader's again), then the
 * highest-id one (with shared maps, its chains alone: an ADD or DEL of a follower), then as many
 * loads of the whole table (start-up, repair: every map created with its elements). Prints each
 * tree's median, p90 and max per kind and the ratio of the medians, with the load average at
 * start and end. Needs root.
 *
 *   deno run -A scripts/bench_policy_replicas.ts --before /work/main [--replicas 4]
 *     [--boxes 10000] [--width 1] [--rounds 40] [--handovers 6]
 * @module
 */
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { must, timeNftLoad } from "./_nft_load.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    before: { type: "string" },
    replicas: { type: "string", default: "4" },
    boxes: { type: "string", default: "10000" },
    width: { type: "string", default: "1" },
    rounds: { type: "string", default: "40" },
    handovers: { type: "string", default: "6" },
  },
});
if (values.before === undefined) {
  throw new Error(
    "Missing --before: give a tern checkout to compare with, e.g. --before /work/main",
  );
}
const replicas = Number(values.replicas);
const boxes = Number(values.boxes);
const width = Number(values.width);
const rounds = Number(values.rounds);
const handovers = Number(values.handovers);

type Render = {
  renderPolicyTable(model: unknown): string;
  renderPolicyUpdate(previous: unknown, next: unknown): string;
};
const treeOf = (dir: string) => pathToFileURL(dir.endsWith("/") ? dir : `${dir}/`);
const trees: { name: string; render: Render; netns: string; times: Map<string, number[]> }[] = [];
for (
  const [name, root] of [["before", treeOf(values.before)], [
    "after",
    new URL("..", import.meta.url),
  ]] as const
) {
  trees.push({
    name,
    render: await import(new URL("src/policy/render.ts", root).href),
    netns: `ternt${Deno.pid}x${name}`,
    times: new Map(),
  });
}

// ---- the model ---------------------------------------------------------------------------------

const rule = {
  kind: "NetworkPolicy",
  namespace: "bench",
  name: "bench-blocks",
  direction: "ingress",
  index: 0,
  action: "allow",
};
const TCP: [number, number] = [6, 6];
const PORT: [number, number] = [7777, 7777];
const peers = Array.from({ length: boxes }, (_, i) => {
  // 10.0.0.1, 10.0.0.3, … (width 1): a gap after each, so no two merge into one range.
  const address = 10 * 2 ** 24 + (width + 1) * i + 1;
  return { space: "l4", addresses: [address, address + width - 1], first: TCP, second: PORT, rule };
});
/** The layer of round `round`: the peers and that round's ipBlock (one object for every replica). */
function layerOf(round: number) {
  const block = 172 * 2 ** 24 + 16 * 2 ** 16 + round; // 172.16.x.y: after every peer
  return {
    layer: "networkPolicy",
    boxes: [...peers, { space: "l4", addresses: [block, block], first: TCP, second: PORT, rule }],
  };
}
const pods = Array.from({ length: replicas }, (_, i) => ({
  id: (0xa00000000000 + i).toString(16),
  namespace: "bench",
  name: `web-${i}`,
  ifname: `ternbench${i.toString(16).padStart(3, "0")}`,
  ip: `10.244.1.${10 + i}`,
  egress: [],
}));
function modelOf(round: number, without?: number) {
  const layer = layerOf(round);
  return {
    pods: pods.filter((_, i) => i !== without).map((p) => ({ ...p, ingress: [layer] })),
    pending: [],
    problems: [],
    logRate: 5,
  };
}

// ---- the kernel --------------------------------------------------------------------------------

/** One step for both trees, the first alternating with `round`; the times kept under `kind`. */
async function step(kind: string, round: number, previous: unknown, next: unknown): Promise<void> {
  const order = round % 2 === 0 ? trees : [...trees].reverse();
  for (const tree of order) {
    const ms = await timeNftLoad(tree.netns, tree.render.renderPolicyUpdate(previous, next));
    let times = tree.times.get(kind);
    if (times === undefined) tree.times.set(kind, times = []);
    times.push(ms);
  }
}

const loadAverage = async () =>
  (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

const startLoad = await loadAverage();
for (const tree of trees) await must(["ip", "netns", "add", tree.netns]);
try {
  let model: unknown = modelOf(0);
  for (const tree of trees) await timeNftLoad(tree.netns, tree.render.renderPolicyTable(model));
  for (const tree of trees) {
    const text = tree.render.renderPolicyUpdate(model, modelOf(1));
    console.log(`${tree.name}: a change is ${text.trimEnd().split("\n").length} lines`);
  }
  for (let round = 1; round <= rounds; round++) {
    const next = modelOf(round);
    await step("policy change", round, model, next);
    model = next;
  }
  for (let round = 0; round < handovers; round++) {
    const gone = modelOf(rounds, 0);
    await step("leader leaves", round, model, gone);
    model = modelOf(rounds);
    await step("leader returns", round, gone, model);
    const left = modelOf(rounds, replicas - 1);
    await step("follower leaves", round, model, left);
    model = modelOf(rounds);
    await step("follower joins", round, left, model);
  }
  // The whole table (start-up, repair): the maps created with every element.
  for (let round = 0; round < handovers; round++) {
    const order = round % 2 === 0 ? trees : [...trees].reverse();
    for (const tree of order) {
      const ms = await timeNftLoad(tree.netns, tree.render.renderPolicyTable(model));
      let times = tree.times.get("whole table");
      if (times === undefined) tree.times.set("whole table", times = []);
      times.push(ms);
    }
  }
  const endLoad = await loadAverage();
  console.log(
    `${replicas} replicas, ${boxes} boxes of ${width} addresses each; load ${startLoad} at start, ${endLoad} at end`,
  );
  for (const kind of trees[0]!.times.keys()) {
    const line = trees.map((tree) => {
      const times = tree.times.get(kind)!;
      return `${tree.name} p50 ${quantile(times, 0.5).toFixed(1)} p90 ${
        quantile(times, 0.9).toFixed(1)
      } max ${Math.max(...times).toFixed(1)} ms`;
    });
    const ratio = quantile(trees[1]!.times.get(kind)!, 0.5) /
      quantile(trees[0]!.times.get(kind)!, 0.5);
    console.log(
      `${kind} (${trees[0]!.times.get(kind)!.length} pairs): ${line.join("; ")}; after/before ${
        ratio.toFixed(2)
      }`,
    );
  }
} finally {
  for (const tree of trees) await must(["ip", "netns", "del", tree.netns]);
}
