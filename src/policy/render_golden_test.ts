/**
 * Golden files: each scenario in `testdata/policy/<name>.yaml`, added to the test cluster and
 * compiled for node-1, renders exactly `testdata/policy/<name>.nft`. `UPDATE_GOLDEN=1` rewrites
 * the files instead; review the diff before committing it.
 */
import { assertEquals } from "../../test/assert.ts";
import { compileScenario, SCENARIOS, TESTDATA } from "./_testing.ts";
import { renderPolicyTable } from "./render.ts";

const update = Deno.env.get("UPDATE_GOLDEN") === "1";

for (const name of SCENARIOS) {
  Deno.test(`renderPolicyTable() for scenario ${name} matches ${name}.nft`, async () => {
    const text = renderPolicyTable(await compileScenario(`${name}.yaml`));
    const golden = new URL(`${name}.nft`, TESTDATA);
    if (update) await Deno.writeTextFile(golden, text);
    assertEquals(text, await Deno.readTextFile(golden));
  });
}
