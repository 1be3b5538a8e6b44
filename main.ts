/**
 * tern's single entry point. The role comes from the basename of argv[0] and the environment:
 * `ternd` (or `tern daemon`) is the node daemon, `tern` with `CNI_COMMAND` set is the CNI plugin,
 * anything else is the operator CLI. Each role is loaded with a dynamic `import()`, so the plugin,
 * on every pod's critical path, never loads the daemon's dependencies.
 * @module
 */
import process from "node:process";

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
  const { role, args } = chooseRole(process.argv0, Deno.args, Deno.env.get("CNI_COMMAND"));
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
