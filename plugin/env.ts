/**
 * The CNI environment (`CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS`,
 * `CNI_PATH`), checked as libcni checks it and required per command as the CNI spec 1.1.0 says.
 * Every problem is collected, so one error (code 4) names every offending variable. Pure: whether
 * a netns path exists is asked of an injected function.
 * @module
 */
import { CniCode, CniError } from "../src/cni_error.ts";
import { errorMessage } from "../src/lib/errors.ts";
import { ifnameProblem, WHITESPACE } from "../src/ifname.ts";
import { type CniArgs, parseCniArgs } from "./cni_args.ts";

/** The commands of the CNI spec 1.1.0. */
export const CNI_COMMANDS = ["ADD", "DEL", "CHECK", "STATUS", "VERSION", "GC"] as const;

/** One of {@linkcode CNI_COMMANDS}. */
export type CniCommand = typeof CNI_COMMANDS[number];

/** The identity of the attachment and its pod, common to ADD, DEL and CHECK. */
interface AttachmentEnv {
  /** `CNI_CONTAINERID`. */
  containerId: string;
  /** `CNI_IFNAME`: the interface name inside the pod. */
  ifname: string;
  /** `CNI_ARGS`, parsed. */
  args: CniArgs;
  /** `CNI_PATH`, when given (tern runs no other plugin, so it is only recorded). */
  path?: string;
}

/** ADD and CHECK: the netns path is required (and, for ADD, exists). */
export interface AddCheckEnv extends AttachmentEnv {
  command: "ADD" | "CHECK";
  /** `CNI_NETNS`: path of the pod's network namespace. */
  netns: string;
}

/** DEL: the netns is optional, it may already be gone. */
export interface DelEnv extends AttachmentEnv {
  command: "DEL";
  /** `CNI_NETNS`, when the runtime still has one. */
  netns?: string;
}

/** STATUS and GC act on the network, not on an attachment. */
export interface NetworkEnv {
  command: "STATUS" | "GC";
  /** `CNI_PATH`, when given. */
  path?: string;
}

/** VERSION needs nothing but the command. */
export interface VersionEnv {
  command: "VERSION";
}

/** The validated environment, by command. */
export type CniEnv = AddCheckEnv | DelEnv | NetworkEnv | VersionEnv;

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

/**
 * Validates the environment for its command. Throws {@linkcode CniError} code 4 naming every
 * missing or invalid variable. `options.netnsExists` (default: always true) is asked whether
 * ADD's `CNI_NETNS` exists.
 */
export function parseEnv(
  env: Readonly<Record<string, string | undefined>>,
  options: { netnsExists?: (path: string) => boolean } = {},
): CniEnv {
  const rawCommand = env.CNI_COMMAND ?? "";
  const command = CNI_COMMANDS.find((c) => c === rawCommand);
  if (command === undefined) {
    throw new CniError(
      CniCode.InvalidEnvironment,
      rawCommand === ""
        ? "Invalid environment variables CNI_COMMAND: CNI_COMMAND is missing"
        : `Invalid environment variables CNI_COMMAND: CNI_COMMAND must be one of ${
          CNI_COMMANDS.join(", ")
        }: got ${JSON.stringify(rawCommand)}`,
    );
  }
  if (command === "VERSION") return { command };
  const path = nonEmpty(env.CNI_PATH);
  if (command === "STATUS" || command === "GC") {
    return path === undefined ? { command } : { command, path };
  }

  const problems: { name: string; text: string }[] = [];
  const problem = (name: string, text: string) => problems.push({ name, text });

  const containerId = nonEmpty(env.CNI_CONTAINERID);
  if (containerId === undefined) problem("CNI_CONTAINERID", "CNI_CONTAINERID is missing");
  else if (!CONTAINER_ID.test(containerId)) {
    problem(
      "CNI_CONTAINERID",
      `CNI_CONTAINERID must match ${CONTAINER_ID.source}: got ${JSON.stringify(containerId)}`,
    );
  }

  const ifname = nonEmpty(env.CNI_IFNAME);
  if (ifname === undefined) problem("CNI_IFNAME", "CNI_IFNAME is missing");
  else {
    const why = ifnameProblem(ifname);
    if (why !== undefined) problem("CNI_IFNAME", `CNI_IFNAME ${why}`);
  }

  const netns = nonEmpty(env.CNI_NETNS);
  if (command !== "DEL") {
    if (netns === undefined) problem("CNI_NETNS", "CNI_NETNS is missing");
    else if (!netns.startsWith("/") || WHITESPACE.test(netns)) {
      problem(
        "CNI_NETNS",
        `CNI_NETNS must be an absolute path without whitespace: got ${JSON.stringify(netns)}`,
      );
    } else if (command === "ADD" && !(options.netnsExists?.(netns) ?? true)) {
      problem("CNI_NETNS", `CNI_NETNS does not exist: ${netns}`);
    }
  }

  let args: CniArgs = { ignoreUnknown: false };
  try {
    args = parseCniArgs(env.CNI_ARGS ?? "");
  } catch (err) {
    problem("CNI_ARGS", `CNI_ARGS ${errorMessage(err)}`);
  }

  if (
    problems.length > 0 || containerId === undefined || ifname === undefined ||
    (command !== "DEL" && netns === undefined)
  ) {
    const names = [...new Set(problems.map((p) => p.name))];
    throw new CniError(
      CniCode.InvalidEnvironment,
      `Invalid environment variables ${names.join(", ")}: ${
        problems.map((p) => p.text).join("; ")
      }`,
    );
  }
  const base: AttachmentEnv = { containerId, ifname, args };
  if (path !== undefined) base.path = path;
  if (command === "DEL") {
    return netns === undefined ? { ...base, command } : { ...base, command, netns };
  }
  return { ...base, command, netns: netns ?? "" };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
