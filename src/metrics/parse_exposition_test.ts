import { assert, assertEquals, assertThrows } from "../../test/assert.ts";
import { ExpositionSyntaxError, parseExposition, sampleValue } from "./parse_exposition.ts";

/** The specification's example, whole, with its timestamps, comments and blank lines. */
const SPEC_EXAMPLE = `# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
`;

Deno.test("parseExposition() reads the specification's example", () => {
  const families = parseExposition(SPEC_EXAMPLE);
  assertEquals(families.map((f) => [f.name, f.type, f.samples.length]), [
    ["http_requests_total", "counter", 2],
    ["msdos_file_access_time_seconds", "untyped", 1],
    ["metric_without_timestamp_and_labels", "untyped", 1],
    ["something_weird", "untyped", 1],
    ["http_request_duration_seconds", "histogram", 8],
  ]);
  assertEquals(families[0]!.help, "The total number of HTTP requests.");
  assertEquals(families[0]!.samples[1], {
    name: "http_requests_total",
    labels: { method: "post", code: "400" },
    value: 3,
    timestamp: 1395066363000,
  });
  assertEquals(families[1]!.samples[0]!.labels, {
    path: "C:\\DIR\\FILE.TXT",
    error: 'Cannot find file:\n"FILE.TXT"',
  });
  assertEquals(
    sampleValue(families, "msdos_file_access_time_seconds", families[1]!.samples[0]!.labels),
    1458255915,
  );
  assertEquals(sampleValue(families, "something_weird", { problem: "division by zero" }), Infinity);
  assertEquals(families[3]!.samples[0]!.timestamp, -3982045);
  assertEquals(
    sampleValue(families, "http_request_duration_seconds_bucket", { le: "0.2" }),
    100392,
  );
  assertEquals(sampleValue(families, "http_request_duration_seconds_count"), 144320);
  assertEquals(sampleValue(families, "http_request_duration_seconds_count", { x: "y" }), undefined);
});

Deno.test("parseExposition() refuses what the format does not allow, naming the line", () => {
  const bad: [string, RegExp][] = [
    ['x{a="1} 2\n', /line 1: unterminated value of a/],
    ["# TYPE x counter\nx 1\nx{a=1} 2\n", /line 3: bad label/],
    ["x 1 2 3\n", /line 1: expected a value/],
    ["x one\n", /line 1: bad value "one"/],
    ['x{a="\\t"} 1\n', /line 1: bad escape/],
    ["# TYPE x summary-ish\n", /line 1: unknown type/],
    ["x 1\ny 1\nx 2\n", /line 3: samples of x are not together/],
    ["x 1\n# HELP x late\n", /line 2: HELP of x after its samples/],
    ['x{a="1",a="2"} 1\n', /line 1: label a twice/],
  ];
  for (const [text, message] of bad) {
    const err = assertThrows(() => parseExposition(text), ExpositionSyntaxError);
    assert(message.test(err.message), `${JSON.stringify(text)}: ${err.message}`);
  }
});

Deno.test("parseExposition() checks that histogram buckets are cumulative, end in +Inf and match _count", () => {
  const head = "# TYPE h histogram\n";
  assertThrows(
    () => parseExposition(`${head}h_bucket{le="1"} 2\nh_sum 1\nh_count 2\n`),
    Error,
    "+Inf",
  );
  assertThrows(
    () => parseExposition(`${head}h_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n`),
    Error,
    "cumulative",
  );
  assertThrows(
    () => parseExposition(`${head}h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n`),
    Error,
    "_count 3",
  );
  const ok = parseExposition(
    `${head}h_bucket{k="a",le="1"} 1\nh_bucket{k="a",le="+Inf"} 2\nh_sum{k="a"} 1\nh_count{k="a"} 2\n`,
  );
  assertEquals(ok[0]!.samples.length, 4);
});
