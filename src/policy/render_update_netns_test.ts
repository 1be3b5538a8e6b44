/**
 * Kernel test (root): in a throwaway network namespace, the whole table of the old model plus
 * the incremental transaction gives exactly the table that the whole render of the new model
 * gives, and elements the update does not touch keep their counters. The namespace carries the
 * sandbox prefix, so `scripts/cleanup.sh` removes it after a crash; nothing is ever loaded in
 * the root namespace.
 */
import { assert, assertEquals } from "../../test/assert.ts";
import { transitions } from "./_testing.ts";
import { renderPolicyTable, renderPolicyUpdate } from "./render.ts";

const skip = Deno.uid() !== 0 ? "not root" : await missing(["ip", "nft"]);
if (skip !== undefined) console.warn(`Skipping the netns policy test: ${skip}`);

async function missing(tools: string[]): Promise<string | undefined> {
  for (const tool of tools) {
    try {
      await new Deno.Command(tool, { args: ["-V"], stdout: "null", stderr: "null" }).output();
    } catch {
      return `${tool} is not installed`;
    }
  }
  return undefined;
}

async function run(args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(args[0]!, {
    args: args.slice(1),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`Command failed: ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

interface Listed {
  /** Chains with their rules' expressions, sets and maps with their definitions, by name. */
  objects: Record<string, unknown>;
  /** Element (JSON of key and verdict) → packets, per map. */
  counters: Record<string, Record<string, number>>;
}

/** `nft -j list table inet tern`, without handles, elements sorted, counters set apart. */
function normalize(json: string): Listed {
  const objects: Record<string, unknown> = {};
  const counters: Record<string, Record<string, number>> = {};
  for (const item of JSON.parse(json).nftables as Record<string, Record<string, unknown>>[]) {
    const [kind, body] = Object.entries(item)[0]!;
    if (kind === "metainfo" || kind === "table") continue;
    const { handle: _, ...rest } = body;
    if (kind === "rule") {
      const key = `chain ${rest.chain}`;
      const chain = (objects[key] ??= { rules: [] }) as { rules: unknown[] };
      chain.rules.push(JSON.stringify(rest.expr).replace(/"counter":\{[^}]*\}/g, '"counter":{}'));
      continue;
    }
    if (kind === "chain") {
      const key = `chain ${rest.name}`;
      objects[key] = { ...rest, rules: (objects[key] as { rules?: unknown[] })?.rules ?? [] };
      continue;
    }
    const name = `${kind} ${rest.name}`;
    const elements = ((rest.elem ?? []) as unknown[]).map((e) => {
      const [key, verdict] = Array.isArray(e) ? e : [e, null];
      const inner = (key as { elem?: { val: unknown; counter?: { packets: number } } }).elem;
      const text = JSON.stringify([inner?.val ?? key, verdict]);
      (counters[name] ??= {})[text] = inner?.counter?.packets ?? 0;
      return text;
    }).sort();
    objects[name] = { ...rest, elem: elements };
  }
  return { objects, counters };
}

Deno.test({
  name: "renderPolicyUpdate() turns the old table into the new one in the kernel, keeping counters",
  ignore: skip !== undefined,
  fn: async () => {
    const netns = `ternt${Deno.pid}pol${Math.random().toString(16).slice(2, 8)}`;
    await run(["ip", "netns", "add", netns]);
    try {
      const nft = (args: string[], stdin?: string) =>
        run(["ip", "netns", "exec", netns, "nft", ...args], stdin);
      const list = async () => normalize(await nft(["-j", "list", "table", "inet", "tern"]));
      for (const t of await transitions()) {
        // Every element of every pod map starts with 7 packets counted.
        const old = renderPolicyTable(t.before).replace(
          /^(\t\t\t[^"\n]*) : /gm,
          "$1 counter packets 7 bytes 700 : ",
        );
        await nft(["-f", "-"], old);
        const before = await list();
        const update = renderPolicyUpdate(t.before, t.after);
        if (update !== "") await nft(["-f", "-"], update);
        const incremental = await list();
        await nft(["-f", "-"], renderPolicyTable(t.after));
        const whole = await list();
        assertEquals(incremental.objects, whole.objects, t.name);
        // An element in both tables was not touched: it keeps its count; a new one starts at 0.
        let kept = 0;
        for (const [map, elements] of Object.entries(incremental.counters)) {
          for (const [element, packets] of Object.entries(elements)) {
            const expected = before.counters[map]?.[element] === 7 ? 7 : 0;
            assertEquals(packets, expected, `${t.name}: ${map} ${element}`);
            if (expected === 7) kept++;
          }
        }
        // z/a is the only pod with chains in its scenario: nothing of its own can be kept; a
        // shared map that changes hands is created whole, its counters from 0.
        const nothingKept = t.name.startsWith("pod z/a") ||
          t.name.startsWith("the leader of a shared map");
        if (!nothingKept) assert(kept > 0, `${t.name}: no element was kept`);
      }
    } finally {
      await run(["ip", "netns", "del", netns]);
    }
  },
});
