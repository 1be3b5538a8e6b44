/**
 * Label and field selectors as the "Labels and Selectors" page defines them.
 * @module
 */

import { assertEquals, assertThrows } from "../assert.ts";
import { fieldValues, parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import { ApiError } from "./status.ts";

Deno.test("label selectors: equality, inequality, set-based, existence (Labels and Selectors page)", () => {
  const l = { app: "web", tier: "fe", n: "5" };
  const cases: [string, boolean][] = [
    ["", true],
    ["app=web", true],
    ["app==web", true],
    ["app!=web", false],
    ["team!=x", true],
    ["app in (web, api)", true],
    ["app notin (web)", false],
    ["team notin (x)", true],
    ["tier", true],
    ["!tier", false],
    ["!team", true],
    ["app=web,tier=be", false],
    ["app in (a,web),tier", true],
    ["n>4", true],
    ["n<5", false],
  ];
  for (const [sel, want] of cases) assertEquals(parseLabelSelector(sel)(l), want, sel);
});

Deno.test("a malformed label selector is a 400 BadRequest", () => {
  const err = assertThrows(() => parseLabelSelector("a b c"), ApiError);
  assertEquals(err.status.code, 400);
});

Deno.test("field selectors: =, ==, != on supported fields; another field is 400 'field label not supported'", () => {
  const obj = { metadata: { name: "p", namespace: "ns" }, spec: { nodeName: "n1" } };
  const f = fieldValues(obj, ["spec.nodeName", "spec.hostNetwork", "status.phase"]);
  assertEquals(f, {
    "metadata.name": "p",
    "metadata.namespace": "ns",
    "spec.nodeName": "n1",
    "spec.hostNetwork": "false",
    "status.phase": "",
  });
  const m = (s: string) => parseFieldSelector(s, ["spec.nodeName", "spec.hostNetwork"])(f);
  assertEquals(m("spec.nodeName=n1"), true);
  assertEquals(m("spec.nodeName==n2"), false);
  assertEquals(m("spec.nodeName!=n2,metadata.name=p"), true);
  assertEquals(m("metadata.namespace=ns,spec.hostNetwork=false"), true);
  const err = assertThrows(() => parseFieldSelector("status.podIP=1", []), ApiError);
  assertEquals([err.status.code, err.status.message], [
    400,
    "field label not supported: status.podIP",
  ]);
});
