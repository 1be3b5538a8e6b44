import { assertEquals } from "../../test/assert.ts";
import { CNI_TIMING_HEADER } from "../../src/cni_timing.ts";
import { parseExposition, sampleValue } from "../../src/metrics/parse_exposition.ts";
import { Registry } from "../../src/metrics/registry.ts";
import type { Handler } from "../api/handler.ts";
import { apiMetrics, apiOperation, commandOutcome } from "./api_metrics.ts";

Deno.test("apiOperation() names each API route and nothing else", () => {
  assertEquals(apiOperation("POST", "/v1/ipam/allocate"), "allocate");
  assertEquals(apiOperation("POST", "/v1/endpoints"), "program");
  assertEquals(apiOperation("GET", "/v1/endpoints"), "endpoints");
  assertEquals(apiOperation("GET", "/v1/endpoints/abc/eth0"), "endpoint");
  assertEquals(apiOperation("POST", "/v1/endpoints/release"), "release");
  assertEquals(apiOperation("POST", "/v1/endpoints/add"), "add");
  assertEquals(apiOperation("GET", "/metrics"), "metrics");
  assertEquals(apiOperation("POST", "/v1/endpoints/attach"), "attach");
  // Unbounded paths and wrong methods fall into one label value.
  assertEquals(apiOperation("GET", "/v1/ipam/allocate"), "other");
  assertEquals(apiOperation("GET", "/x/4f0e2a"), "other");
});

Deno.test("commandOutcome() ends each command at its last request, with the plugin's CNI code", () => {
  const ok = { status: 200 };
  assertEquals(commandOutcome("ADD", { operation: "allocate", ...ok }), { ends: false });
  assertEquals(commandOutcome("ADD", { operation: "allocate", status: 503, reason: "exhausted" }), {
    ends: true,
    result: "11",
  });
  assertEquals(commandOutcome("ADD", { operation: "program", ...ok }), {
    ends: true,
    result: "ok",
  });
  assertEquals(commandOutcome("ADD", { operation: "program", status: 409, reason: "conflict" }), {
    ends: true,
    result: "7",
  });
  assertEquals(commandOutcome("ADD", { operation: "add", ...ok }), { ends: true, result: "ok" });
  assertEquals(commandOutcome("ADD", { operation: "add", status: 503, reason: "exhausted" }), {
    ends: true,
    result: "11",
  });
  assertEquals(commandOutcome("ADD", { operation: "attach", ...ok }), { ends: true, result: "ok" });
  assertEquals(commandOutcome("ADD", { operation: "attach", status: 409, reason: "exists" }), {
    ends: true,
    result: "4",
  });
  assertEquals(
    commandOutcome("ADD", { operation: "attach", status: 422, reason: "unsupported" }),
    { ends: false },
    "the plugin falls back to add",
  );
  assertEquals(commandOutcome("ADD", { operation: "release", ...ok }), { rollback: true });
  assertEquals(commandOutcome("DEL", { operation: "release", ...ok }), {
    ends: true,
    result: "ok",
  });
  assertEquals(commandOutcome("DEL", { operation: "release", status: 404, reason: "not_found" }), {
    ends: true,
    result: "ok",
  });
  assertEquals(commandOutcome("DEL", { operation: "release", status: 500 }), {
    ends: true,
    result: "11",
  });
  assertEquals(
    commandOutcome("CHECK", { operation: "endpoint", status: 404, reason: "not_found" }),
    {
      ends: true,
      result: "3",
    },
  );
  assertEquals(commandOutcome("GC", { operation: "gc", ...ok }), { ends: true, result: "ok" });
  assertEquals(
    commandOutcome("STATUS", { operation: "status", status: 200, ready: true, free: 3 }),
    {
      ends: true,
      result: "ok",
    },
  );
  assertEquals(
    commandOutcome("STATUS", { operation: "status", status: 200, ready: false, free: 3 }),
    {
      ends: true,
      result: "50",
    },
  );
  assertEquals(
    commandOutcome("STATUS", { operation: "status", status: 200, ready: true, free: 0 }),
    {
      ends: true,
      result: "51",
    },
  );
  assertEquals(commandOutcome("DEL", { operation: "status", ...ok }), undefined);
});

/** A fake API: answers by path, as the real handler would. */
const fakeApi: Handler = (req) => {
  const path = new URL(req.url).pathname;
  if (path === "/v1/ipam/allocate" && req.headers.get("x-full") !== null) {
    return Promise.resolve(
      Response.json({ error: "No free address", reason: "exhausted" }, { status: 503 }),
    );
  }
  if (path === "/v1/status") return Promise.resolve(Response.json({ ready: true, free: 0 }));
  return Promise.resolve(Response.json({}));
};

function request(method: string, path: string, headers: Record<string, string> = {}): Request {
  return new Request(`http://ternd${path}`, { method, headers });
}

Deno.test("instrument() times requests, and each CNI command from the plugin's start to the daemon's last answer", async () => {
  const registry = new Registry();
  let clock = 0;
  const metrics = apiMetrics(registry, {
    expose: () => registry.expose(),
    now: () => clock,
  });
  const handle = metrics.instrument(async (req) => {
    clock += 4; // the daemon takes 4 ms for each request
    return await fakeApi(req);
  });
  const cni = (command: string, ms: number) => ({ [CNI_TIMING_HEADER]: `${command} ${ms}` });
  await handle(request("POST", "/v1/ipam/allocate", cni("ADD", 30)));
  await handle(request("POST", "/v1/endpoints", cni("ADD", 50)));
  await handle(request("POST", "/v1/ipam/allocate", { ...cni("ADD", 20), "x-full": "1" }));
  await handle(request("POST", "/v1/endpoints/release", cni("ADD", 60))); // a rollback
  await handle(request("POST", "/v1/endpoints/release", cni("DEL", 15)));
  await handle(request("GET", "/v1/status", cni("STATUS", 10)));
  await handle(request("GET", "/v1/status")); // the CLI: no command
  const scrape = await handle(request("GET", "/metrics"));
  assertEquals(scrape.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const families = parseExposition(await scrape.text());
  const value = (name: string, labels: Record<string, string> = {}) =>
    sampleValue(families, name, labels);
  const add = { command: "ADD", result: "ok" };
  assertEquals(value("tern_cni_command_duration_seconds_count", add), 1);
  // 50 ms in the plugin, then 4 ms in the daemon.
  assertEquals(Math.round(value("tern_cni_command_duration_seconds_sum", add)! * 1e6), 54_000);
  assertEquals(value("tern_cni_command_duration_seconds_bucket", { ...add, le: "0.05" }), 0);
  assertEquals(value("tern_cni_command_duration_seconds_bucket", { ...add, le: "0.075" }), 1);
  assertEquals(
    value("tern_cni_command_duration_seconds_count", { command: "ADD", result: "11" }),
    1,
  );
  assertEquals(
    value("tern_cni_command_duration_seconds_count", { command: "DEL", result: "ok" }),
    1,
  );
  assertEquals(
    value("tern_cni_command_duration_seconds_count", { command: "STATUS", result: "51" }),
    1,
  );
  assertEquals(value("tern_cni_add_rollbacks_total"), 1);
  assertEquals(
    value("tern_api_request_duration_seconds_count", { operation: "allocate", code: "200" }),
    1,
  );
  assertEquals(
    value("tern_api_request_duration_seconds_count", { operation: "allocate", code: "503" }),
    1,
  );
  assertEquals(
    value("tern_api_request_duration_seconds_count", { operation: "status", code: "200" }),
    2,
  );
  assertEquals(
    value("tern_api_request_duration_seconds_sum", { operation: "program", code: "200" }),
    0.004,
  );
});
