import { assertEquals } from "../assert.ts";
import { parseManifestObject, parseManifests } from "../../src/cluster/manifest.ts";
import { generateManifest, resourceProblems } from "./fuzz_manifests.ts";
import { SeededRandom } from "./seeded_random.ts";

Deno.test("fuzzing the cluster manifests (files and kubernetes sources): never a throw, never an invalid object accepted", () => {
  const seed = Number(Deno.env.get("TERN_CHAOS_SEED") ?? "13");
  const random = new SeededRandom(seed);
  const failures: string[] = [];
  const counts = { cases: 0, accepted: 0, rejected: 0 };
  for (let i = 0; i < 3000; i++) {
    const input = generateManifest(random);
    counts.cases++;
    const runs = [
      ["files", () => parseManifests(input.text, { file: "/etc/tern/cluster/x.yaml" })],
      ["kubernetes", () => parseManifestObject(structuredClone(input.object), { file: "api" })],
    ] as const;
    for (const [source, parse] of runs) {
      // A damaged text is a different object; only the files source reads it.
      if (source === "kubernetes" && input.mutations.some((m) => m.startsWith("text damaged"))) {
        continue;
      }
      let parsed;
      try {
        parsed = parse();
      } catch (err) {
        failures.push(`case ${i} ${source} (${input.mutations.join(", ")}): threw ${String(err)}`);
        continue;
      }
      if (parsed.resources.length > 0) counts.accepted++;
      else counts.rejected++;
      const problems = parsed.resources.flatMap(resourceProblems);
      if (input.mustReject && parsed.resources.length > 0) {
        problems.unshift("an invalid object was accepted");
      }
      if (parsed.resources.length === 0 && parsed.errors.length === 0) {
        problems.push("nothing accepted and no error reported");
      }
      if (problems.length > 0) {
        failures.push(
          `case ${i} ${source} (${input.mutations.join(", ")}): ${problems.join("; ")}`,
        );
      }
    }
  }
  if (Deno.env.get("TERN_CHAOS_ALL")) console.log(failures.join("\n"));
  assertEquals(failures.slice(0, 12), [], `seed ${seed}: ${failures.length} failed`);
  assertEquals(counts.accepted > 1000 && counts.rejected > 1000, true, JSON.stringify(counts));
});
