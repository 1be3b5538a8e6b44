/**
 * What every command receives: its validated environment and config, and the injected edges
 * (the `ip` runner, the attachment's kernel objects, the daemon client, the logger). Private to
 * `plugin/`.
 * @module
 */
import type { DaemonApi } from "../src/daemon_client.ts";
import type { Ip } from "../src/ip.ts";
import type { Logger } from "../src/log.ts";
import type { PodLinks } from "../src/pod_links.ts";
import type { NetConf } from "./netconf.ts";

/** The inputs of one command invocation; `E` is the command's environment. */
export interface CommandContext<E> {
  env: E;
  conf: NetConf;
  /** Queries for CHECK (`ip -json`). */
  ip: Ip;
  /** The attachment's kernel objects, made and removed (ADD, DEL). */
  links: PodLinks;
  daemon: DaemonApi;
  log: Logger;
}
