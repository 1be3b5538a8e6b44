/**
 * Golden files: each scenario in `testdata/policy/<name>.yaml`, added to the test cluster and
 * compiled for node-1, renders exactly `testdata/policy/<name>.nft`. `UPDATE_GOLDEN=1` rewrites
 * the files instead; review the diff before committing it.
 */
import { assertEquals } from "../../test/assert.ts";
import { compileScenario, TESTDATA } from "./_testing.ts";
import { renderPolicyTable } from "./render.ts";

/** Every scenario with a golden file. */
export const SCENARIOS = [
  "none",
  "np-deny-all-ingress",
  "np-allow-from-namespace",
  "np-and-peer",
  "np-ipblock-except",
  "np-named-port",
  "np-endport",
  "np-egress-dns",
  "sg-by-label",
  "sg-by-service-account",
  "sg-priority-deny",
  "both-layers",
];

const update = Deno.env.get("UPDATE_GOLDEN") === "1";

for (const name of SCENARIOS) {
  Deno.test(`renderPolicyTable() for scenario ${name} matches ${name}.nft`, async () => {
    const text = renderPolicyTable(await compileScenario(`${name}.yaml`));
    const golden = new URL(`${name}.nft`, TESTDATA);
    if (update) await Deno.writeTextFile(golden, text);
    assertEquals(text, await Deno.readTextFile(golden));
  });
}
