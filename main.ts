/**
 * tern's single entry point. The role comes from the basename of argv[0] and the environment:
 * `ternd` (or `tern daemon`) is the node daemon, `tern` with `CNI_COMMAND` set is the CNI plugin,
 * anything else is the operator CLI. Each role is loaded with a dynamic `import()`, so the plugin,
 * on every pod's critical path, never loads the daemon's dependencies.
 *
 * argv[0] is read from `TERN_ARGV0` (set by the bundle launcher) or from `node:process`. Loading
 * `node:process` costs about 20 ms, so a plugin call (`CNI_COMMAND` set) that has no
 * `TERN_ARGV0` skips it: the plugin is never invoked as `ternd`, and the daemon never with
 * `CNI_COMMAND`.
 * @module
 */
/** Which role an invocation plays. */
export type Role = "plugin" | "daemon" | "cli";

/** Picks the role from argv[0]'s basename, the first argument and `CNI_COMMAND` (pure). */
export function chooseRole(
  argv0: string,
  args: readonly string[],
  cniCommand: string | undefined,
): {
  role: Role;
  args: string[];
} {
  const base = argv0.slice(argv0.lastIndexOf("/") + 1);
  if (base === "ternd") return { role: "daemon", args: [...args] };
  if (cniCommand !== undefined && cniCommand !== "") return { role: "plugin", args: [...args] };
  if (args[0] === "daemon") return { role: "daemon", args: args.slice(1) };
  return { role: "cli", args: [...args] };
}

if (import.meta.main) {
  const cniCommand = Deno.env.get("CNI_COMMAND");
  let argv0 = Deno.env.get("TERN_ARGV0");
  if (argv0 === undefined && !cniCommand) argv0 = (await import("node:process")).default.argv0;
  const { role, args } = chooseRole(argv0 ?? "", Deno.args, cniCommand);
  let code: number;
  if (role === "plugin") {
    code = await (await import("./plugin/main.ts")).runPlugin();
  } else if (role === "daemon") {
    code = await (await import("./daemon/main.ts")).runDaemon(args);
  } else {
    code = await (await import("./cli/main.ts")).runCli(args);
  }
  Deno.exit(code);
}
