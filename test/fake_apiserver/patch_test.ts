/**
 * The PATCH formats: RFC 7386 merge patch, strategic merge patch for the lists tern's kinds use,
 * RFC 6902 JSON patch.
 * @module
 */

import { assertEquals, assertThrows } from "../assert.ts";
import { jsonPatch, mergePatch, strategicMergePatch } from "./patch.ts";
import { ApiError } from "./status.ts";

Deno.test("mergePatch follows RFC 7386: objects merge, null removes, arrays and scalars replace", () => {
  const target = { a: { b: 1, c: 2 }, list: [1, 2], keep: true };
  assertEquals(mergePatch(target, { a: { c: null, d: 3 }, list: [3], n: null }), {
    a: { b: 1, d: 3 },
    list: [3],
    keep: true,
  });
  assertEquals(target, { a: { b: 1, c: 2 }, list: [1, 2], keep: true });
  assertEquals(mergePatch({ a: 1 }, "x"), "x");
});

Deno.test("strategicMergePatch merges containers by name and conditions by type, honours $patch", () => {
  const pod = {
    spec: { containers: [{ name: "a", image: "1" }, { name: "b", image: "1" }] },
    status: { conditions: [{ type: "Ready", status: "False" }], podIPs: [{ ip: "10.0.0.1" }] },
  };
  const out = strategicMergePatch(pod, {
    spec: { containers: [{ name: "b", image: "2" }, { name: "c", image: "1" }] },
    status: {
      conditions: [{ type: "Ready", status: "True" }, { type: "Initialized", status: "True" }],
    },
  });
  assertEquals(out, {
    spec: {
      containers: [{ name: "a", image: "1" }, { name: "b", image: "2" }, { name: "c", image: "1" }],
    },
    status: {
      conditions: [{ type: "Ready", status: "True" }, { type: "Initialized", status: "True" }],
      podIPs: [{ ip: "10.0.0.1" }],
    },
  });
  assertEquals(
    strategicMergePatch(pod, { spec: { containers: [{ name: "a", $patch: "delete" }] } }),
    { ...pod, spec: { containers: [{ name: "b", image: "1" }] } },
  );
  assertEquals(strategicMergePatch({ m: { a: 1, b: 2 } }, { m: { $patch: "replace", c: 3 } }), {
    m: { c: 3 },
  });
});

Deno.test("jsonPatch applies RFC 6902 operations; a failed test is 422, a missing path 400", () => {
  const doc = { metadata: { labels: { a: "1" } }, list: [1, 2] };
  assertEquals(
    jsonPatch(doc, [
      { op: "add", path: "/metadata/labels/b~1c", value: "2" },
      { op: "remove", path: "/metadata/labels/a" },
      { op: "replace", path: "/list/0", value: 9 },
      { op: "add", path: "/list/-", value: 3 },
      { op: "copy", from: "/list", path: "/copy" },
      { op: "move", from: "/copy", path: "/moved" },
      { op: "test", path: "/moved/2", value: 3 },
    ]),
    { metadata: { labels: { "b/c": "2" } }, list: [9, 2, 3], moved: [9, 2, 3] },
  );
  assertEquals(
    assertThrows(() => jsonPatch(doc, [{ op: "test", path: "/list/0", value: 5 }]), ApiError).status
      .code,
    422,
  );
  assertEquals(
    assertThrows(() => jsonPatch(doc, [{ op: "remove", path: "/nope" }]), ApiError).status.code,
    400,
  );
});
