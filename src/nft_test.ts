import { assert, assertEquals, assertRejects } from "../test/assert.ts";
import { Nft, TRANSACTION_PREFIX } from "./nft.ts";
import { CommandError, type Runner, type RunResult } from "./runner.ts";

function fake(result: Partial<RunResult> = {}) {
  const calls: { argv: readonly string[]; stdin: string | undefined; file?: string }[] = [];
  const run: Runner = (argv, options) => {
    const call: (typeof calls)[number] = { argv, stdin: options?.stdin };
    // A transaction file exists only while nft runs: read it now.
    const at = argv.indexOf("-f");
    if (at >= 0 && argv[at + 1] !== "-") call.file = Deno.readTextFileSync(argv[at + 1]!);
    calls.push(call);
    return Promise.resolve({ code: 0, stdout: "", stderr: "", ...result });
  };
  return { calls, run };
}

Deno.test("Nft.apply() writes the transaction to a file, loads it with nft -f FILE, removes it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { calls, run } = fake();
    await new Nft(run, { transactionDir: dir }).apply("add table inet tern\n");
    assertEquals(calls.length, 1);
    const [nft, flag, file] = calls[0]!.argv;
    assertEquals([nft, flag], ["nft", "-f"]);
    assert(file!.startsWith(`${dir}/${TRANSACTION_PREFIX}`), file);
    assertEquals(calls[0]!.stdin, undefined, "nothing on stdin: a cut input cannot commit");
    assertEquals(calls[0]!.file, "add table inet tern\n");
    assertEquals([...Deno.readDirSync(dir)], [], "the file is removed after");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Nft.apply() removes the transaction file when nft fails too", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { run } = fake({ code: 1, stderr: "Error: syntax error" });
    await assertRejects(() => new Nft(run, { transactionDir: dir }).apply("nonsense\n"));
    assertEquals([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Nft.removeLeftovers() removes only transaction files a killed daemon left", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/${TRANSACTION_PREFIX}abc.nft`, "delete table inet tern\n");
    await Deno.writeTextFile(`${dir}/ternd.sock.other`, "");
    const nft = new Nft(fake().run, { transactionDir: dir });
    assertEquals(await nft.removeLeftovers(), 1);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["ternd.sock.other"]);
    assertEquals(await new Nft(fake().run, { transactionDir: `${dir}/none` }).removeLeftovers(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Nft.check() validates with nft -c -f - and loads nothing", async () => {
  const { calls, run } = fake();
  await new Nft(run).check("add table inet tern\n");
  assertEquals(calls, [{ argv: ["nft", "-c", "-f", "-"], stdin: "add table inet tern\n" }]);
});

Deno.test("Nft.apply() throws a CommandError carrying nft's message", async () => {
  const { run } = fake({ code: 1, stderr: "Error: No such file or directory\nadd element …" });
  await assertRejects(
    () => new Nft(run).apply("add element inet tern x { 1 }\n"),
    CommandError,
    "exit 1: Error: No such file or directory",
  );
});

Deno.test("Nft.listTableJson() parses nft -j -n list table, and is undefined for no table", async () => {
  const listing = { nftables: [{ metainfo: { version: "1.0.6" } }] };
  const present = fake({ stdout: JSON.stringify(listing) });
  assertEquals(await new Nft(present.run).listTableJson("inet", "tern"), listing);
  assertEquals(present.calls[0]!.argv, ["nft", "-j", "-n", "list", "table", "inet", "tern"]);
  assertEquals(present.calls[0]!.stdin, undefined);

  const absent = fake({
    code: 1,
    stderr: "Error: No such file or directory\nlist table inet tern",
  });
  assertEquals(await new Nft(absent.run).listTableJson("inet", "tern"), undefined);

  const broken = fake({ code: 1, stderr: "Error: Operation not permitted" });
  await assertRejects(() => new Nft(broken.run).listTableJson("inet", "tern"), CommandError);
});

Deno.test("Nft runs inside a named network namespace through ip netns exec", async () => {
  const { calls, run } = fake({ stdout: "{}" });
  const nft = new Nft(run, { netns: "ternt1x2" });
  await nft.listTableJson("inet", "tern", { numeric: false });
  assertEquals(calls[0]!.argv, [
    "ip",
    "netns",
    "exec",
    "ternt1x2",
    "nft",
    "-j",
    "list",
    "table",
    "inet",
    "tern",
  ]);
});

Deno.test("Nft.deleteTableIfExists() treats a missing table as done", async () => {
  const gone = fake({
    code: 1,
    stderr: "Error: Could not process rule: No such file or directory",
  });
  assertEquals(await new Nft(gone.run).deleteTableIfExists("inet", "tern"), false);
  const there = fake();
  assertEquals(await new Nft(there.run).deleteTableIfExists("inet", "tern"), true);
  assertEquals(there.calls[0]!.argv, ["nft", "delete", "table", "inet", "tern"]);
});
