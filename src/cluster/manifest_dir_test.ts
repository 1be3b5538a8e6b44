import { assert, assertEquals, assertStringIncludes } from "../../test/assert.ts";
import { parseManifests } from "./manifest.ts";
import { DuplicateDefinition, fileObjects, mergeFiles } from "./manifest_dir.ts";
import type { Node } from "./types.ts";

const nodeDoc = (name: string, cidr: string) =>
  `apiVersion: v1\nkind: Node\nmetadata: {name: ${name}}\nspec: {podCIDR: "${cidr}"}\n`;

const cidrsOf = (objects: Map<string, unknown>) =>
  [...objects.values()].map((n) => `${(n as Node).name}=${(n as Node).podCIDRs.join(",")}`);

Deno.test("fileObjects() keeps the last valid version of an object whose edit is invalid", () => {
  const first = fileObjects(
    parseManifests(nodeDoc("a", "10.0.1.0/24") + "---\n" + nodeDoc("b", "10.0.2.0/24"), {
      file: "f",
    }),
    { file: "f" },
  );
  const edited = parseManifests(
    nodeDoc("a", "10.0.1.5/24") + "---\n" + nodeDoc("b", "10.0.3.0/24"),
    {
      file: "f",
    },
  );
  const next = fileObjects(edited, { file: "f", previous: first.objects });
  assertEquals(cidrsOf(next.objects).sort(), ["a=10.0.1.0/24", "b=10.0.3.0/24"]);
});

Deno.test("fileObjects() drops an object whose document was removed from a valid file", () => {
  const first = fileObjects(
    parseManifests(nodeDoc("a", "10.0.1.0/24") + "---\n" + nodeDoc("b", "10.0.2.0/24"), {
      file: "f",
    }),
    { file: "f" },
  );
  const next = fileObjects(parseManifests(nodeDoc("b", "10.0.2.0/24"), { file: "f" }), {
    file: "f",
    previous: first.objects,
  });
  assertEquals(cidrsOf(next.objects), ["b=10.0.2.0/24"]);
});

Deno.test("fileObjects() keeps everything a file held while it is not valid YAML, applying what did parse", () => {
  const first = fileObjects(
    parseManifests(nodeDoc("a", "10.0.1.0/24") + "---\n" + nodeDoc("b", "10.0.2.0/24"), {
      file: "f",
    }),
    { file: "f" },
  );
  const broken = parseManifests(nodeDoc("a", "10.0.7.0/24") + "---\nkind: [unclosed\n", {
    file: "f",
  });
  assertEquals(broken.broken, true);
  const next = fileObjects(broken, { file: "f", previous: first.objects });
  assertEquals(cidrsOf(next.objects).sort(), ["a=10.0.7.0/24", "b=10.0.2.0/24"]);
});

Deno.test("fileObjects() reports an object defined twice in one file and keeps the first", () => {
  const out = fileObjects(
    parseManifests(nodeDoc("a", "10.0.1.0/24") + "---\n" + nodeDoc("a", "10.0.2.0/24"), {
      file: "f.yaml",
    }),
    { file: "f.yaml" },
  );
  assertEquals(cidrsOf(out.objects), ["a=10.0.1.0/24"]);
  assertEquals(out.errors.length, 1);
  assert(out.errors[0] instanceof DuplicateDefinition, "a repeat is told apart by its type");
  assertStringIncludes(
    out.errors[0]!.message,
    'Duplicate Node "a" in f.yaml: already defined earlier',
  );
});

Deno.test("mergeFiles() takes the first definition by file name and reports the repeat", () => {
  const a = fileObjects(parseManifests(nodeDoc("n", "10.0.1.0/24"), { file: "a.yaml" }), {
    file: "a.yaml",
  });
  const b = fileObjects(parseManifests(nodeDoc("n", "10.0.2.0/24"), { file: "b.yaml" }), {
    file: "b.yaml",
  });
  const merged = mergeFiles(new Map([["b.yaml", b.objects], ["a.yaml", a.objects]]));
  assertEquals(cidrsOf(merged.resources), ["n=10.0.1.0/24"]);
  assertEquals(merged.errors.map((e) => [e.file, e.key, e.value]), [[
    "b.yaml",
    "metadata.name",
    "n",
  ]]);
  assertEquals(
    merged.errors[0]!.message,
    'Duplicate Node "n" in b.yaml: already defined in a.yaml, ignored',
  );
});
