import { assertEquals } from "../assert.ts";
import type { Endpoint } from "../../src/api.ts";
import { Mutex } from "../../src/lib/mutex.ts";
import { createHandler } from "../../daemon/api/handler.ts";
import { Ipam } from "../../daemon/ipam/ipam.ts";
import type { HostDataplane } from "../../daemon/routing/dataplane.ts";
import { expectedApi, generateApiRequest, judgeApiRun } from "./fuzz_api.ts";
import { SeededRandom } from "./seeded_random.ts";

/** A dataplane that always succeeds: the fuzzer is about the API's edge, not the kernel. */
const dataplane: HostDataplane = {
  programEndpoint: (_ep: Endpoint) => Promise.resolve(),
  removeEndpoint: (_ep: Endpoint) => Promise.resolve(),
};

async function snapshot(kv: Deno.Kv): Promise<string> {
  const entries: unknown[] = [];
  for await (const e of kv.list({ prefix: [] })) entries.push([e.key, e.value]);
  return JSON.stringify(entries);
}

Deno.test("fuzzing the daemon's API: always JSON, never a 500, never an invalid request accepted", async () => {
  const seed = Number(Deno.env.get("TERN_CHAOS_SEED") ?? "13");
  const random = new SeededRandom(seed);
  const kv = await Deno.openKv(":memory:");
  try {
    const ipam = await Ipam.open(kv, { podCIDRs: ["10.0.0.0/24"], releaseCooldownMs: 0 });
    const handler = createHandler({
      ipam,
      dataplane,
      lock: new Mutex(),
      node: "node-1",
      startedAt: 0,
    });
    const failures: string[] = [];
    const counts = { cases: 0, valid: 0, refused: 0 };
    for (let i = 0; i < 3000; i++) {
      const input = await generateApiRequest(random);
      const verdict = await expectedApi(input);
      counts.cases++;
      if (verdict.kind === "valid") counts.valid++;
      else counts.refused++;
      const before = input.method === "POST" ? await snapshot(kv) : "";
      const init: RequestInit = { method: input.method };
      if (input.body !== undefined) init.body = input.body;
      const res = await handler(new Request(`http://ternd${input.path}`, init));
      const text = await res.text();
      const run = {
        status: res.status,
        contentType: res.headers.get("content-type"),
        text,
        kvChanged: input.method === "POST" && (await snapshot(kv)) !== before,
      };
      const problems = judgeApiRun(verdict, run);
      if (problems.length > 0) {
        failures.push(
          `case ${i} (${input.method} ${input.path}; ${input.mutations.join(", ")}): ${
            problems.join("; ")
          }`,
        );
      }
    }
    assertEquals(
      failures.slice(0, 10),
      [],
      `seed ${seed}: ${failures.length} of ${counts.cases} failed`,
    );
    assertEquals(counts.valid > 1000 && counts.refused > 400, true, JSON.stringify(counts));
  } finally {
    kv.close();
  }
});
