/**
 * Every golden file, and the incremental transactions between scenarios, pass the kernel's own
 * validation (`nft -c`: check mode, nothing is loaded). Skipped, with the reason printed, where
 * nft is missing or not permitted.
 */
import { assert } from "../../test/assert.ts";
import { compilePolicy } from "./compile.ts";
import { nftCheck, nftUnavailable } from "./_nft.ts";
import { loadCluster, localEndpoints, SCENARIOS, TESTDATA } from "./_testing.ts";
import { renderPolicyTable, renderPolicyUpdate } from "./render.ts";

const unavailable = await nftUnavailable();
if (unavailable !== undefined) console.warn(`Skipping nft -c checks: ${unavailable}`);

for (const name of SCENARIOS) {
  Deno.test({
    name: `golden file ${name}.nft passes nft -c`,
    ignore: unavailable !== undefined,
    fn: async () => {
      const result = await nftCheck(await Deno.readTextFile(new URL(`${name}.nft`, TESTDATA)));
      assert(result.ok, result.stderr);
    },
  });
}

Deno.test({
  name: "renderPolicyUpdate() between every pair of scenarios passes nft -c after the old table",
  ignore: unavailable !== undefined,
  fn: async () => {
    const models = await Promise.all(SCENARIOS.map(async (name) => {
      const state = await loadCluster(`${name}.yaml`);
      const endpoints = await localEndpoints(state);
      // Leave one pod out of every other scenario so pods also appear and disappear.
      const chosen = SCENARIOS.indexOf(name) % 2 === 0 ? endpoints : endpoints.slice(1);
      return compilePolicy(state, { endpoints: chosen });
    }));
    for (let i = 0; i < models.length; i++) {
      for (let j = 0; j < models.length; j++) {
        if (i === j) continue;
        const text = renderPolicyTable(models[i]!) + renderPolicyUpdate(models[i]!, models[j]!);
        const result = await nftCheck(text);
        assert(result.ok, `${SCENARIOS[i]} → ${SCENARIOS[j]}: ${result.stderr}`);
      }
    }
  },
});
