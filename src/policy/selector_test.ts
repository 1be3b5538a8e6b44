import { assert, assertEquals } from "../../test/assert.ts";
import {
  formatSelector,
  labelSelectorSchema,
  matchesSelector,
  matchesSelectorKnowing,
} from "./selector.ts";
import { toIssues } from "./_issues.ts";

const parse = (input: unknown) => labelSelectorSchema.parse(input);

Deno.test("matchesSelector() with the empty selector matches any labels, even none", () => {
  assert(matchesSelector(parse({}), {}));
  assert(matchesSelector(parse({}), { app: "web" }));
});

Deno.test("matchesSelector() ANDs matchLabels and every expression", () => {
  const selector = parse({
    matchLabels: { app: "web" },
    matchExpressions: [{ key: "tier", operator: "In", values: ["a", "b"] }],
  });
  assert(matchesSelector(selector, { app: "web", tier: "a" }));
  assert(!matchesSelector(selector, { app: "web", tier: "c" }));
  assert(!matchesSelector(selector, { app: "web" }));
  assert(!matchesSelector(selector, { app: "db", tier: "a" }));
});

Deno.test("matchesSelector() NotIn matches objects without the key; DoesNotExist only those", () => {
  const notIn = parse({ matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] });
  assert(matchesSelector(notIn, {}));
  assert(matchesSelector(notIn, { env: "dev" }));
  assert(!matchesSelector(notIn, { env: "prod" }));
  const exists = parse({ matchExpressions: [{ key: "env", operator: "Exists" }] });
  const absent = parse({ matchExpressions: [{ key: "env", operator: "DoesNotExist" }] });
  assertEquals([matchesSelector(exists, { env: "" }), matchesSelector(exists, {})], [true, false]);
  assertEquals([matchesSelector(absent, { env: "" }), matchesSelector(absent, {})], [false, true]);
});

Deno.test("matchesSelector() does not match inherited object properties", () => {
  const selector = parse({ matchExpressions: [{ key: "constructor", operator: "Exists" }] });
  assert(!matchesSelector(selector, {}));
});

Deno.test("labelSelectorSchema rejects values with Exists, none with In, bad keys and unknown fields", () => {
  const cases: [unknown, string][] = [
    [
      { matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] },
      "matchExpressions[0].values: must be empty for operator Exists",
    ],
    [
      { matchExpressions: [{ key: "a", operator: "In", values: [] }] },
      "matchExpressions[0].values: must be non-empty for operator In",
    ],
    [
      { matchExpressions: [{ key: "a", operator: "Equals", values: ["x"] }] },
      'matchExpressions[0].operator: must be one of "In", "NotIn", "Exists", "DoesNotExist": got "Equals"',
    ],
    [
      { matchLabels: { "bad key!": "x" } },
      'matchLabels.bad key!: "bad key!" is not a valid label key',
    ],
    [{ matchLabels: { app: 5 } }, "matchLabels.app: expected string: got 5"],
    [{ matchLabel: { app: "web" } }, "unknown field: matchLabel"],
  ];
  for (const [input, want] of cases) {
    const result = labelSelectorSchema.safeParse(input);
    assert(!result.success, `accepted ${JSON.stringify(input)}`);
    const text = toIssues(result.error.issues, input).map((i) =>
      i.key === "" ? i.text : `${i.key}: ${i.text}`
    ).join("; ");
    assert(text.includes(want), `${text} does not include ${want}`);
  }
});

Deno.test("formatSelector() writes selectors as kubectl does", () => {
  assertEquals(formatSelector(parse({})), "<all>");
  assertEquals(
    formatSelector(parse({
      matchLabels: { app: "web" },
      matchExpressions: [
        { key: "tier", operator: "NotIn", values: ["a", "b"] },
        { key: "x", operator: "Exists" },
        { key: "y", operator: "DoesNotExist" },
      ],
    })),
    "app=web,tier notin (a,b),x,!y",
  );
});

Deno.test("matchesSelectorKnowing() decides on known keys and leaves the rest open", () => {
  const known = new Set(["name"]);
  const on = (input: unknown) => matchesSelectorKnowing(parse(input), { name: "x" }, known);
  assertEquals(on({}), true);
  assertEquals(on({ matchLabels: { name: "x" } }), true);
  assertEquals(on({ matchLabels: { name: "y", team: "a" } }), false, "a known key fails it");
  assertEquals(on({ matchLabels: { name: "x", team: "a" } }), undefined);
  assertEquals(
    on({ matchExpressions: [{ key: "team", operator: "NotIn", values: ["a"] }] }),
    undefined,
  );
  assertEquals(on({ matchExpressions: [{ key: "team", operator: "DoesNotExist" }] }), undefined);
  assertEquals(on({ matchExpressions: [{ key: "name", operator: "NotIn", values: ["y"] }] }), true);
});
