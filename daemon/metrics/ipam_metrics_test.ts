import { assertEquals } from "../../test/assert.ts";
import { parseExposition, sampleValue } from "../../src/metrics/parse_exposition.ts";
import { Registry } from "../../src/metrics/registry.ts";
import { blockPools, cidrPools, type IpamFigures, ipamMetrics } from "./ipam_metrics.ts";

Deno.test("blockPools() sums the blocks this node holds by IPPool; cidrPools() takes each pod CIDR", () => {
  assertEquals(
    blockPools([
      { cidr: "10.244.0.0/26", pool: "default", capacity: 64, used: 64 },
      { cidr: "10.244.0.64/26", pool: "default", capacity: 64, used: 5 },
      { cidr: "10.250.0.0/28", pool: "batch", capacity: 16, used: 0 },
    ]),
    [
      { pool: "default", capacity: 128, allocated: 69, blocks: 2 },
      { pool: "batch", capacity: 16, allocated: 0, blocks: 1 },
    ],
  );
  assertEquals(cidrPools([{ cidr: "10.244.1.0/24", capacity: 254, used: 3, free: 251 }]), [
    { pool: "10.244.1.0/24", capacity: 254, allocated: 3 },
  ]);
});

Deno.test("ipamMetrics() shows each pool's capacity and allocations at each scrape; a pool that goes, goes", async () => {
  const registry = new Registry();
  const metrics = ipamMetrics(registry);
  assertEquals(parseExposition(await registry.expose())[0]!.samples, []); // not attached yet
  let figures: IpamFigures = {
    pools: () => [
      { pool: "default", capacity: 128, allocated: 69, blocks: 2 },
      { pool: "batch", capacity: 16, allocated: 0, blocks: 1 },
    ],
    claimable: () => 448,
  };
  metrics.attach({ pools: () => figures.pools(), claimable: () => figures.claimable() });
  let families = parseExposition(await registry.expose());
  const value = (name: string, labels: Record<string, string> = {}) =>
    sampleValue(families, name, labels);
  assertEquals(value("tern_ipam_pool_capacity_addresses", { pool: "default" }), 128);
  assertEquals(value("tern_ipam_pool_allocated_addresses", { pool: "default" }), 69);
  assertEquals(value("tern_ipam_pool_blocks", { pool: "batch" }), 1);
  assertEquals(value("tern_ipam_claimable_addresses"), 448);
  figures = {
    pools: () => [{ pool: "default", capacity: 64, allocated: 64, blocks: 1 }],
    claimable: () => 0,
  };
  families = parseExposition(await registry.expose());
  assertEquals(value("tern_ipam_pool_capacity_addresses", { pool: "batch" }), undefined);
  assertEquals(value("tern_ipam_pool_capacity_addresses", { pool: "default" }), 64);
  assertEquals(value("tern_ipam_claimable_addresses"), 0);
});

Deno.test("ipamMetrics() shows the KV commits and the operations they carried", async () => {
  const registry = new Registry();
  const metrics = ipamMetrics(registry);
  let stats = { commits: 3, operations: 31 };
  metrics.attach({ pools: () => [], claimable: () => undefined, commits: () => stats });
  let families = parseExposition(await registry.expose());
  const value = (name: string) => sampleValue(families, name, {});
  assertEquals(value("tern_ipam_kv_commits_total"), 3);
  assertEquals(value("tern_ipam_kv_commit_operations_total"), 31);
  stats = { commits: 4, operations: 32 };
  families = parseExposition(await registry.expose());
  assertEquals(value("tern_ipam_kv_commits_total"), 4);
});
