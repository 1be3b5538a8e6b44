import { assertEquals } from "../test/assert.ts";
import type { ApiReason } from "../src/api.ts";
import { cniCodeOfReason } from "../src/api_cni_codes.ts";
import { DaemonApiError } from "../src/daemon_client.ts";
import { daemonFailure } from "./daemon_failure.ts";

Deno.test("the daemon's metrics label a refused request with the code the plugin returns for it", () => {
  const reasons: ApiReason[] = [
    "invalid",
    "not_found",
    "conflict",
    "exhausted",
    "too_large",
    "unavailable",
    "internal",
    "exists",
    "unsupported",
  ];
  for (const reason of reasons) {
    const returned = daemonFailure(new DaemonApiError(503, reason, "x"), "allocate").code;
    assertEquals(cniCodeOfReason(reason), returned, reason);
  }
});
