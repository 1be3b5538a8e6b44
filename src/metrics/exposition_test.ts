import { assertEquals } from "../../test/assert.ts";
import { escapeHelp, escapeLabelValue, formatSampleValue, renderExposition } from "./exposition.ts";

// The examples of the format's specification (Prometheus, "Exposition formats", text format
// 0.0.4), without their timestamps: tern never writes one.

Deno.test("renderExposition() writes the spec's counter example: HELP, TYPE, labelled samples", () => {
  const text = renderExposition([{
    name: "http_requests_total",
    help: "The total number of HTTP requests.",
    type: "counter",
    samples: [
      { labels: [["method", "post"], ["code", "200"]], value: 1027 },
      { labels: [["method", "post"], ["code", "400"]], value: 3 },
    ],
  }]);
  assertEquals(
    text,
    [
      "# HELP http_requests_total The total number of HTTP requests.",
      "# TYPE http_requests_total counter",
      'http_requests_total{method="post",code="200"} 1027',
      'http_requests_total{method="post",code="400"} 3',
      "",
    ].join("\n"),
  );
});

Deno.test("renderExposition() escapes label values as the spec's msdos example", () => {
  const text = renderExposition([{
    name: "msdos_file_access_time_seconds",
    help: "",
    type: "untyped",
    samples: [{
      labels: [["path", "C:\\DIR\\FILE.TXT"], ["error", 'Cannot find file:\n"FILE.TXT"']],
      value: 1.458255915e9,
    }],
  }]);
  assertEquals(
    text.split("\n")[2],
    'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1458255915',
  );
});

Deno.test("renderExposition() writes the spec's minimal line and +Inf", () => {
  const text = renderExposition([
    {
      name: "metric_without_timestamp_and_labels",
      help: "",
      type: "untyped",
      samples: [{ labels: [], value: 12.47 }],
    },
    {
      name: "something_weird",
      help: "",
      type: "untyped",
      samples: [{ labels: [["problem", "division by zero"]], value: Infinity }],
    },
  ]);
  assertEquals(text.split("\n").filter((l) => !l.startsWith("#")), [
    "metric_without_timestamp_and_labels 12.47",
    'something_weird{problem="division by zero"} +Inf',
    "",
  ]);
});

Deno.test("renderExposition() writes the spec's histogram example with suffixes and le", () => {
  const buckets: [string, number][] = [
    ["0.05", 24054],
    ["0.1", 33444],
    ["0.2", 100392],
    ["0.5", 129389],
    ["1", 133988],
    ["+Inf", 144320],
  ];
  const text = renderExposition([{
    name: "http_request_duration_seconds",
    help: "A histogram of the request duration.",
    type: "histogram",
    samples: [
      ...buckets.map(([le, value]) => ({
        suffix: "_bucket",
        labels: [["le", le] as const],
        value,
      })),
      { suffix: "_sum", labels: [], value: 53423 },
      { suffix: "_count", labels: [], value: 144320 },
    ],
  }]);
  assertEquals(
    text,
    [
      "# HELP http_request_duration_seconds A histogram of the request duration.",
      "# TYPE http_request_duration_seconds histogram",
      'http_request_duration_seconds_bucket{le="0.05"} 24054',
      'http_request_duration_seconds_bucket{le="0.1"} 33444',
      'http_request_duration_seconds_bucket{le="0.2"} 100392',
      'http_request_duration_seconds_bucket{le="0.5"} 129389',
      'http_request_duration_seconds_bucket{le="1"} 133988',
      'http_request_duration_seconds_bucket{le="+Inf"} 144320',
      "http_request_duration_seconds_sum 53423",
      "http_request_duration_seconds_count 144320",
      "",
    ].join("\n"),
  );
});

Deno.test('escapes: label values escape \\, " and newline; help escapes \\ and newline only', () => {
  assertEquals(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assertEquals(escapeHelp('a\\b"c\nd'), 'a\\\\b"c\\nd');
});

Deno.test("formatSampleValue() writes what Go's ParseFloat reads", () => {
  assertEquals(
    [0, -0, 1, 0.25, 1e21, 1.5e-7, -3, Infinity, -Infinity, NaN].map(formatSampleValue),
    ["0", "0", "1", "0.25", "1e+21", "1.5e-7", "-3", "+Inf", "-Inf", "NaN"],
  );
});

Deno.test("renderExposition() of no families is empty; a family without samples keeps HELP and TYPE", () => {
  assertEquals(renderExposition([]), "");
  assertEquals(
    renderExposition([{ name: "x_total", help: "X.", type: "counter", samples: [] }]),
    "# HELP x_total X.\n# TYPE x_total counter\n",
  );
});
