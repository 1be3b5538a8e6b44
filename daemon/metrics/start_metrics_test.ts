import { assert, assertEquals, assertStringIncludes, assertThrows } from "../../test/assert.ts";
import { silentLogger } from "../../src/log.ts";
import { parseExposition, sampleValue } from "../../src/metrics/parse_exposition.ts";
import { Registry } from "../../src/metrics/registry.ts";
import { apiMetrics } from "./api_metrics.ts";
import { formatListenAddress, startMetrics } from "./start_metrics.ts";

Deno.test("startMetrics() serves GET /metrics over TCP on loopback, and nothing else", async () => {
  const registry = new Registry();
  const api = apiMetrics(registry, { expose: () => registry.expose() });
  const part = startMetrics({ hostname: "127.0.0.1", port: 0 }, { api, log: silentLogger });
  try {
    const addr = part.addr!;
    const base = `http://127.0.0.1:${addr.port}`;
    assertEquals(part.status(), { listen: `127.0.0.1:${addr.port}` });
    const first = await fetch(`${base}/metrics`);
    assertEquals(first.status, 200);
    assertStringIncludes(first.headers.get("content-type")!, "version=0.0.4");
    await first.text();
    const other = await fetch(`${base}/v1/status`);
    assertEquals(other.status, 404);
    assertStringIncludes(await other.text(), "serves only GET /metrics");
    // The first scrape is counted in the second.
    const families = parseExposition(await (await fetch(`${base}/metrics`)).text());
    assertEquals(
      sampleValue(families, "tern_api_request_duration_seconds_count", {
        operation: "metrics",
        code: "200",
      }),
      1,
    );
  } finally {
    await part.stop();
  }
});

Deno.test("startMetrics() names the address it cannot bind, and what to do", () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const registry = new Registry();
    const api = apiMetrics(registry, { expose: () => registry.expose() });
    const port = (taken.addr as Deno.NetAddr).port;
    const err = assertThrows(() =>
      startMetrics({ hostname: "127.0.0.1", port }, { api, log: silentLogger })
    );
    assertStringIncludes(err.message, `Cannot serve metrics on 127.0.0.1:${port}: `);
    assertStringIncludes(err.message, "set metrics.listen to a free address");
  } finally {
    taken.close();
  }
});

Deno.test("startMetrics() without an address does nothing; addresses read as host:port", async () => {
  const registry = new Registry();
  const part = startMetrics(undefined, {
    api: apiMetrics(registry, { expose: () => registry.expose() }),
    log: silentLogger,
  });
  assert(part.addr === undefined);
  assertEquals(part.status(), {});
  await part.stop();
  assertEquals(formatListenAddress({ hostname: "::1", port: 9464 }), "[::1]:9464");
});
