/**
 * zod schemas for the bodies of the daemon's API (`src/api.ts`), applied once at the edge by the
 * handler. They follow the CNI spec's rules for container IDs, interface and network names, so
 * that only well-formed identities ever reach KV keys or `ip` arguments, and Kubernetes' rules
 * for the pod's namespace (a DNS label) and name (a DNS subdomain), which reach API paths. Unknown fields are
 * ignored, so that newer plugins may send more. The daemon only: the plugin never loads zod.
 * @module
 */
import * as z from "../../src/lib/zod.ts";
import { isIp } from "../../src/cidr.ts";
import { ifnameProblem } from "../../src/ifname.ts";
import { dnsLabel, subdomain } from "../../src/cluster/object_names.ts";
import type {
  AddRequest,
  AllocateRequest,
  AttachRequest,
  ExplainRequest,
  GcRequest,
  ProgramRequest,
  ReleaseRequest,
} from "../../src/api.ts";

/** CNI spec: starts with an alphanumeric, then alphanumerics, `_`, `.` or `-`. */
const CNI_ID = /^[A-Za-z0-9][A-Za-z0-9_.\-]*$/;

const containerID = z.string().min(1).max(256).regex(
  CNI_ID,
  "must start with a letter or digit, then letters, digits, '_', '.' or '-'",
);
const network = z.string().min(1).max(256).regex(
  CNI_ID,
  "must start with a letter or digit, then letters, digits, '_', '.' or '-'",
);
/** Linux interface names: 1..15 bytes, not `.` or `..`, no `/`, `:` or whitespace. */
const ifname = z.string().min(1).refine(
  (v) => ifnameProblem(v) === undefined,
  "must be a Linux interface name: 1..15 bytes, no '/', ':' or whitespace",
);
const netns = z.string().min(1).max(4096).refine(
  (v) => v.startsWith("/"),
  "must be an absolute path",
);
const ipv4 = z.string().refine(isIp, "must be an IPv4 address");
const mac = z.string().regex(
  /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i,
  "must be a MAC address like 0a:58:0a:f4:01:07",
);

const attachmentId = z.object({ containerID, ifname });

/** POST /v1/ipam/allocate. */
export const allocateRequestSchema: z.ZodType<AllocateRequest> = z.object({
  containerID,
  ifname,
  network,
  netns,
  podNamespace: dnsLabel.optional(),
  podName: subdomain.optional(),
}).transform((v) => {
  const out: AllocateRequest = {
    containerID: v.containerID,
    ifname: v.ifname,
    network: v.network,
    netns: v.netns,
  };
  if (v.podNamespace !== undefined) out.podNamespace = v.podNamespace;
  if (v.podName !== undefined) out.podName = v.podName;
  return out;
});

/** POST /v1/endpoints/add. */
export const addRequestSchema: z.ZodType<AddRequest> = z.object({
  containerID,
  ifname,
  network,
  netns,
  podNamespace: dnsLabel.optional(),
  podName: subdomain.optional(),
  hostVeth: z.string().min(1).max(15),
  podMac: mac,
}).transform((v) => {
  const out: AddRequest = {
    containerID: v.containerID,
    ifname: v.ifname,
    network: v.network,
    netns: v.netns,
    hostVeth: v.hostVeth,
    podMac: v.podMac,
  };
  if (v.podNamespace !== undefined) out.podNamespace = v.podNamespace;
  if (v.podName !== undefined) out.podName = v.podName;
  return out;
});

/** POST /v1/endpoints/attach. */
export const attachRequestSchema: z.ZodType<AttachRequest> = z.object({
  containerID,
  ifname,
  network,
  netns,
  podNamespace: dnsLabel.optional(),
  podName: subdomain.optional(),
  hostVeth: z.string().min(1).max(15),
  podMac: mac,
  mtu: z.number().int().min(576).max(9000),
}).transform((v) => {
  const out: AttachRequest = {
    containerID: v.containerID,
    ifname: v.ifname,
    network: v.network,
    netns: v.netns,
    hostVeth: v.hostVeth,
    podMac: v.podMac,
    mtu: v.mtu,
  };
  if (v.podNamespace !== undefined) out.podNamespace = v.podNamespace;
  if (v.podName !== undefined) out.podName = v.podName;
  return out;
});

/** POST /v1/endpoints. */
export const programRequestSchema: z.ZodType<ProgramRequest> = z.object({
  containerID,
  ifname,
  network,
  netns,
  hostVeth: z.string().min(1).max(15),
  podMac: mac,
  ip: ipv4,
});

/** POST /v1/endpoints/release. */
export const releaseRequestSchema: z.ZodType<ReleaseRequest> = z.object({
  containerID,
  ifname,
  network: network.optional(),
}).transform((v) => {
  const out: ReleaseRequest = { containerID: v.containerID, ifname: v.ifname };
  if (v.network !== undefined) out.network = v.network;
  return out;
});

/** POST /v1/gc. */
export const gcRequestSchema: z.ZodType<GcRequest> = z.object({
  network,
  valid: z.array(attachmentId),
});

/** The attachment identity in GET /v1/endpoints/{containerID}/{ifname}. */
export const attachmentIdSchema = attachmentId;

const flowEnd = z.string().min(1).max(253 + 1 + 253);
const byte = z.number().int().min(0).max(255);

/** POST /v1/policy/explain. */
export const explainRequestSchema: z.ZodType<ExplainRequest> = z.object({
  src: flowEnd,
  dst: flowEnd,
  proto: z.enum(["tcp", "udp", "sctp", "icmp"]),
  port: z.number().int().min(1).max(65535).optional(),
  icmpType: byte.optional(),
  icmpCode: byte.optional(),
}).superRefine((v, ctx) => {
  if (v.proto !== "icmp" && v.port === undefined) {
    ctx.addIssue({ code: "custom", path: ["port"], message: `is required for ${v.proto}` });
  }
  if (v.proto !== "icmp" && (v.icmpType !== undefined || v.icmpCode !== undefined)) {
    ctx.addIssue({ code: "custom", path: ["icmpType"], message: "is for icmp only" });
  }
  if (v.proto === "icmp" && v.port !== undefined) {
    ctx.addIssue({ code: "custom", path: ["port"], message: "is not for icmp" });
  }
}).transform((v) => {
  const out: ExplainRequest = { src: v.src, dst: v.dst, proto: v.proto };
  if (v.port !== undefined) out.port = v.port;
  if (v.icmpType !== undefined) out.icmpType = v.icmpType;
  if (v.icmpCode !== undefined) out.icmpCode = v.icmpCode;
  return out;
});
