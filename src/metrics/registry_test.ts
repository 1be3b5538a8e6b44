import { assertEquals, assertThrows } from "../../test/assert.ts";
import { parseExposition, sampleValue } from "./parse_exposition.ts";
import { Counter, Gauge, Histogram, Registry } from "./registry.ts";

Deno.test("a counter counts by label values; a counter without labels shows 0 from the start", async () => {
  const registry = new Registry();
  const plain = registry.counter({ name: "t_events_total", help: "Events." });
  const adds = registry.counter({ name: "t_adds_total", help: "ADDs.", labels: ["result"] });
  adds.inc({ result: "ok" });
  adds.inc({ result: "ok" }, 2);
  adds.inc({ result: "11" });
  assertEquals(
    await registry.expose(),
    [
      "# HELP t_events_total Events.",
      "# TYPE t_events_total counter",
      "t_events_total 0",
      "# HELP t_adds_total ADDs.",
      "# TYPE t_adds_total counter",
      't_adds_total{result="11"} 1',
      't_adds_total{result="ok"} 3',
      "",
    ].join("\n"),
  );
  plain.inc();
  assertEquals(plain.get(), 1);
  assertEquals(adds.get({ result: "ok" }), 3);
});

Deno.test("a counter refuses to go down, a name without _total and values that are not finite", () => {
  const c = new Counter({ name: "t_total", help: "" });
  assertThrows(() => c.inc(undefined, -1), Error, "only goes up");
  assertThrows(() => c.inc(undefined, NaN), Error, "finite");
  assertThrows(() => new Counter({ name: "t_count", help: "" }), Error, "_total");
  c.set(undefined, 7); // a total kept elsewhere: a kernel counter may reset
  c.set(undefined, 2);
  assertEquals(c.get(), 2);
});

Deno.test("metrics refuse bad names, bad and reserved label names, and the wrong labels in a call", () => {
  assertThrows(() => new Gauge({ name: "t-x", help: "" }), Error, "Invalid metric name");
  assertThrows(() => new Gauge({ name: "t", help: "", labels: ["a-b"] }), Error, "Invalid label");
  assertThrows(() => new Gauge({ name: "t", help: "", labels: ["__x"] }), Error, "Invalid label");
  assertThrows(() => new Gauge({ name: "t", help: "", labels: ["a", "a"] }), Error, "Duplicate");
  assertThrows(
    () => new Histogram({ name: "t", help: "", labels: ["le"] }),
    Error,
    "Invalid label",
  );
  const g = new Gauge({ name: "t", help: "", labels: ["pool"] });
  assertThrows(() => g.set({ pol: "x" } as never, 1), Error, "Wrong labels for t: got {pol}");
  assertThrows(() => g.set(undefined, 1), Error, "expected {pool}");
  assertThrows(() => g.set({ pool: "a", x: "b" } as never, 1), Error, "Wrong labels");
  const registry = new Registry();
  registry.gauge({ name: "t", help: "" });
  assertThrows(() => registry.gauge({ name: "t", help: "" }), Error, "registered twice");
});

Deno.test("a gauge is set, moved, removed and cleared", async () => {
  const registry = new Registry();
  const g = registry.gauge({ name: "t_addresses", help: "Addresses.", labels: ["pool"] });
  g.set({ pool: "10.0.0.0/24" }, 254);
  g.set({ pool: "10.0.1.0/24" }, 10);
  g.inc({ pool: "10.0.1.0/24" }, -3);
  assertEquals(g.get({ pool: "10.0.1.0/24" }), 7);
  g.remove({ pool: "10.0.0.0/24" });
  let families = parseExposition(await registry.expose());
  assertEquals(families[0]!.samples.map((s) => [s.labels.pool, s.value]), [["10.0.1.0/24", 7]]);
  g.clear();
  families = parseExposition(await registry.expose());
  assertEquals(families[0]!.samples, []);
});

Deno.test("a histogram counts each observation in its bucket; rendered buckets are cumulative with +Inf, _sum and _count", async () => {
  const registry = new Registry();
  const h = registry.histogram({
    name: "t_duration_seconds",
    help: "Durations.",
    labels: ["command"],
    buckets: [0.01, 0.1, 1],
  });
  for (const v of [0.005, 0.01, 0.05, 0.5, 3]) h.observe({ command: "ADD" }, v);
  h.observe({ command: "DEL" }, 0.02);
  const text = await registry.expose();
  assertEquals(text.split("\n").slice(2, 8), [
    't_duration_seconds_bucket{command="ADD",le="0.01"} 2', // 0.01 is in le="0.01": bounds are inclusive
    't_duration_seconds_bucket{command="ADD",le="0.1"} 3',
    't_duration_seconds_bucket{command="ADD",le="1"} 4',
    't_duration_seconds_bucket{command="ADD",le="+Inf"} 5',
    't_duration_seconds_sum{command="ADD"} 3.565',
    't_duration_seconds_count{command="ADD"} 5',
  ]);
  const families = parseExposition(text); // checks cumulative buckets and _count
  assertEquals(
    sampleValue(families, "t_duration_seconds_bucket", { command: "DEL", le: "0.01" }),
    0,
  );
  assertEquals(sampleValue(families, "t_duration_seconds_count", { command: "DEL" }), 1);
  assertEquals(h.count({ command: "ADD" }), 5);
});

Deno.test("a histogram refuses buckets that do not increase, and NaN", () => {
  assertThrows(
    () => new Histogram({ name: "t", help: "", buckets: [1, 1] }),
    Error,
    "must increase",
  );
  assertThrows(() => new Histogram({ name: "t", help: "", buckets: [] }), Error, "No buckets");
  assertThrows(
    () => new Histogram({ name: "t", help: "", buckets: [1, Infinity] }),
    Error,
    "finite",
  );
  assertThrows(() => new Histogram({ name: "t", help: "" }).observe(undefined, NaN), Error, "NaN");
});

Deno.test("collect hooks set read values before each scrape; a failing hook is reported, the rest served", async () => {
  const registry = new Registry();
  const objects = registry.gauge({ name: "t_objects", help: "Objects.", labels: ["kind"] });
  let pods = 3;
  registry.onCollect(async () => {
    await Promise.resolve();
    objects.clear();
    objects.set({ kind: "Pod" }, pods);
  });
  registry.onCollect(() => {
    throw new Error("status unavailable");
  });
  const errors: unknown[] = [];
  assertEquals(
    sampleValue(parseExposition(await registry.expose((e) => errors.push(e))), "t_objects", {
      kind: "Pod",
    }),
    3,
  );
  pods = 5;
  assertEquals(
    sampleValue(parseExposition(await registry.expose()), "t_objects", { kind: "Pod" }),
    5,
  );
  assertEquals(errors.map(String), ["Error: status unavailable"]);
});

Deno.test("label values with quotes, backslashes and newlines round-trip through the text", async () => {
  const registry = new Registry();
  const g = registry.gauge({
    name: "t_info",
    help: 'Help with \\ and\nnewline "quoted".',
    labels: ["v"],
  });
  const odd = 'C:\\x "y"\nz';
  g.set({ v: odd }, 1);
  const families = parseExposition(await registry.expose());
  assertEquals(families[0]!.help, 'Help with \\ and\nnewline "quoted".');
  assertEquals(families[0]!.samples[0]!.labels.v, odd);
});
