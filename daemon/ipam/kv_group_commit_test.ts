import { assert, assertEquals, assertRejects } from "../../test/assert.ts";
import { KvGroupCommit, kvKeyId, type KvOperation, pickBatch } from "./kv_group_commit.ts";
import { withKv } from "./_ipam_fixture.ts";

/** A claim of `key` as Ipam makes one: the key must be free, then it is written. */
function claim(key: string, value: unknown = key): KvOperation {
  return {
    checks: [{ key: ["k", key], versionstamp: null }],
    mutations: [{ type: "set", key: ["k", key], value }],
  };
}

Deno.test("commit() sends a lone operation at once, alone", async () => {
  await withKv(async (kv) => {
    const sizes: number[] = [];
    const commits = new KvGroupCommit(kv, { onCommit: (n) => sizes.push(n) });
    const answer = await commits.commit(claim("a"));
    assert(answer.ok);
    assertEquals((await kv.get(["k", "a"])).value, "a");
    assertEquals(sizes, [1]);
  });
});

Deno.test("operations that wait for a commit in flight share the next one", async () => {
  await withKv(async (kv) => {
    const sizes: number[] = [];
    const commits = new KvGroupCommit(kv, { onCommit: (n) => sizes.push(n) });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => commits.commit(claim(`p${i}`, i))),
    );
    assert(answers.every((a) => a.ok));
    assertEquals(sizes, [1, 19]);
    for (let i = 0; i < 20; i++) assertEquals((await kv.get(["k", `p${i}`])).value, i);
    // The shared commit has one versionstamp, newer than the first's.
    assert(answers[1]!.ok && answers[0]!.ok && answers[1]!.versionstamp > answers[0]!.versionstamp);
  });
});

Deno.test("two claims of one key never share a commit: the second finds it taken", async () => {
  await withKv(async (kv) => {
    const sizes: number[] = [];
    const commits = new KvGroupCommit(kv, { onCommit: (n) => sizes.push(n) });
    const [first, a, b] = await Promise.all([
      commits.commit(claim("other")),
      commits.commit(claim("same", "a")),
      commits.commit(claim("same", "b")),
    ]);
    assert(first.ok && a.ok);
    assertEquals(b.ok, false);
    assertEquals((await kv.get(["k", "same"])).value, "a");
    assertEquals(sizes, [1, 1, 1]);
  });
});

Deno.test("a shared commit whose check fails answers each operation as its own commit would", async () => {
  await withKv(async (kv) => {
    await kv.set(["k", "taken"], "before");
    const sizes: number[] = [];
    const commits = new KvGroupCommit(kv, { onCommit: (n) => sizes.push(n) });
    const answers = await Promise.all([
      commits.commit(claim("x")),
      commits.commit(claim("y")),
      commits.commit(claim("taken")),
      commits.commit(claim("z")),
    ]);
    assertEquals(answers.map((a) => a.ok), [true, true, false, true]);
    assertEquals((await kv.get(["k", "taken"])).value, "before");
    assertEquals((await kv.get(["k", "z"])).value, "z");
    // The first alone, the three together (refused), then each of them alone.
    assertEquals(sizes, [1, 3, 1, 1, 1]);
  });
});

Deno.test("a shared commit the store refuses is committed one by one; a bad operation alone throws", async () => {
  await withKv(async (kv) => {
    const commits = new KvGroupCommit(kv);
    const tooBig = new Uint8Array(70_000); // over Deno KV's 64 KiB value limit
    const results = await Promise.allSettled([
      commits.commit(claim("first")),
      commits.commit(claim("fine")),
      commits.commit(claim("big", tooBig)),
    ]);
    assertEquals(results.map((r) => r.status), ["fulfilled", "fulfilled", "rejected"]);
    assertEquals((await kv.get(["k", "fine"])).value, "fine");
    assertEquals((await kv.get(["k", "big"])).value, null);
  });
});

Deno.test("a burst larger than Deno KV's 100 checks goes out in commits that fit", async () => {
  await withKv(async (kv) => {
    const sizes: number[] = [];
    const commits = new KvGroupCommit(kv, { onCommit: (n) => sizes.push(n) });
    const burst = Array.from({ length: 151 }, (_, i) => ({
      checks: [
        { key: ["a", i], versionstamp: null },
        { key: ["b", i], versionstamp: null },
      ],
      mutations: [{ type: "set" as const, key: ["a", i], value: i }],
    }));
    const answers = await Promise.all(burst.map((op) => commits.commit(op)));
    assert(answers.every((a) => a.ok));
    assertEquals(sizes, [1, 50, 50, 50]);
  });
});

Deno.test("a thrown commit rejects only its own caller, and the queue goes on", async () => {
  const calls: number[] = [];
  let n = 0;
  const kv = {
    atomic() {
      const op = {
        checks: 0,
        check(...c: unknown[]) {
          op.checks += c.length;
          return op;
        },
        mutate() {
          return op;
        },
        commit() {
          calls.push(op.checks);
          n++;
          if (n === 1) return Promise.reject(new Error("Disk I/O error"));
          return Promise.resolve({ ok: true as const, versionstamp: String(n) });
        },
      };
      return op;
    },
  } as unknown as Deno.Kv;
  const commits = new KvGroupCommit(kv);
  const first = commits.commit(claim("a"));
  const second = commits.commit(claim("b"));
  await assertRejects(() => first, Error, "Disk I/O error");
  assertEquals((await second).ok, true);
  assertEquals(calls, [1, 1]);
});

Deno.test("pickBatch() keeps order, skips operations sharing a key, and respects each limit", () => {
  const entry = (name: string, keys: string[], checks = 1, mutations = 1) => ({
    name,
    keys,
    op: {
      checks: Array.from({ length: checks }, () => ({ key: ["c"], versionstamp: null })),
      mutations: Array.from(
        { length: mutations },
        () => ({ type: "delete" as const, key: ["m"] }),
      ),
    },
  });
  const limits = { maxChecks: 5, maxMutations: 4, maxOperations: 3 };
  const names = (xs: { name: string }[]) => xs.map((x) => x.name);

  const shared = pickBatch(
    [entry("a", ["1"]), entry("b", ["1", "2"]), entry("c", ["3"]), entry("d", ["4"])],
    limits,
  );
  assertEquals(names(shared.batch), ["a", "c", "d"]);
  assertEquals(names(shared.rest), ["b"]);

  const full = pickBatch(
    [entry("a", ["1"]), entry("b", ["2"]), entry("c", ["3"]), entry("d", ["4"])],
    limits,
  );
  assertEquals(names(full.batch), ["a", "b", "c"]);

  const checks = pickBatch([entry("a", ["1"], 3), entry("b", ["2"], 3), entry("c", ["3"], 2)], {
    ...limits,
    maxOperations: 10,
  });
  assertEquals(names(checks.batch), ["a", "c"]);

  const mutations = pickBatch([entry("a", ["1"], 1, 3), entry("b", ["2"], 1, 2)], limits);
  assertEquals(names(mutations.batch), ["a"]);

  // The first is taken whatever its size: the store says whether it fits.
  const huge = pickBatch([entry("a", ["1"], 50, 50), entry("b", ["2"])], limits);
  assertEquals(names(huge.batch), ["a"]);
});

Deno.test("kvKeyId() tells apart keys Deno KV tells apart", () => {
  const ids = [
    kvKeyId(["ip", "10.0.0.1"]),
    kvKeyId(["ip", 1]),
    kvKeyId(["ip", "1"]),
    kvKeyId(["ip", 1n]),
    kvKeyId(["ip", true]),
    kvKeyId(["ip", new Uint8Array([1])]),
    kvKeyId(["ip,10.0.0.1"]),
    kvKeyId(["owner", "a", "eth0"]),
    kvKeyId(["owner", "a\u0000eth0"]),
  ];
  assertEquals(new Set(ids).size, ids.length);
  assertEquals(kvKeyId(["ip", "10.0.0.1"]), kvKeyId(["ip", "10.0.0.1"]));
});

Deno.test("an observer that throws strands no operation", async () => {
  await withKv(async (kv) => {
    const commits = new KvGroupCommit(kv, {
      onCommit: () => {
        throw new Error("observer failed");
      },
    });
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) => commits.commit(claim(`o${i}`))),
    );
    assert(answers.every((a) => a.ok));
    assertEquals(commits.stats(), { commits: 2, operations: 5 });
  });
});
