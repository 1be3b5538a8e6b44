/**
 * Realistic Nodes, Pods, Namespaces and NetworkPolicies for benches and scale tests: the labels,
 * annotations, ownerReferences, managedFields, containers, probes, volumes and status conditions
 * that a kubelet and the controllers leave on real objects, so that a pod weighs a few KB as it
 * does in a cluster (what a client must parse and what it should not keep). Deterministic for a
 * seed. Addresses: node i owns pod CIDR `10.(128 + i / 256).(i % 256).0/24` and InternalIP
 * `172.(16 + i / 65536).(i / 256 % 256).(i % 256 + 1)`-ish (see {@linkcode nodeAddresses}).
 * @module
 */

import type { KubeObject } from "./api_objects.ts";
import { seededRandomFunction } from "../chaos/seeded_random.ts";

/** The size of a generated cluster. */
export interface ClusterShape {
  nodes: number;
  pods: number;
  networkPolicies: number;
  /** Namespaces the pods and policies spread over (default 50). */
  namespaces?: number;
  /** Seed of the pseudo-random choices (default 1). */
  seed?: number;
}

const APPS = [
  "web",
  "api",
  "cart",
  "checkout",
  "search",
  "auth",
  "billing",
  "catalog",
  "queue",
  "cache",
  "db-proxy",
  "metrics",
];
const TIERS = ["frontend", "backend", "data"];
const ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"];
const EPOCH = Date.UTC(2026, 10, 1);

function ts(offsetS: number): string {
  return new Date(EPOCH + offsetS * 1000).toISOString().replace(/\.\d+Z$/, "Z");
}

function hex(r: () => number, n: number): string {
  let s = "";
  while (s.length < n) s += Math.floor(r() * 0x100000000).toString(16).padStart(8, "0");
  return s.slice(0, n);
}

function uid(r: () => number): string {
  return `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-a${hex(r, 3)}-${hex(r, 12)}`;
}

/** The node's name. */
export function nodeName(i: number): string {
  return `node-${String(i).padStart(5, "0")}`;
}

/** The node's pod CIDR and InternalIP. */
export function nodeAddresses(i: number): { podCIDR: string; internalIP: string } {
  const n = i + 1;
  return {
    podCIDR: `10.${128 + (i >> 8)}.${i & 255}.0/24`,
    internalIP: `172.${16 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`,
  };
}

/** The namespace name of index `i`. */
export function namespaceName(i: number): string {
  return `team-${String(i).padStart(3, "0")}`;
}

/** A Namespace as a cluster has it. */
export function realisticNamespace(i: number): KubeObject {
  const name = namespaceName(i);
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      labels: {
        "kubernetes.io/metadata.name": name,
        team: `team-${i % 10}`,
        env: i % 3 === 0 ? "prod" : "staging",
      },
    },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  };
}

/** A Node as a kubelet keeps it (conditions, addresses, capacity, node info, images). */
export function realisticNode(i: number, seed = 1): KubeObject {
  const r = seededRandomFunction(seed * 7919 + i);
  const name = nodeName(i);
  const { podCIDR, internalIP } = nodeAddresses(i);
  const zone = ZONES[i % ZONES.length]!;
  const condition = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    lastHeartbeatTime: ts(86_400 + i),
    lastTransitionTime: ts(i),
    reason,
    message,
  });
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      uid: uid(r),
      creationTimestamp: ts(i),
      labels: {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "m6i.2xlarge",
        "topology.kubernetes.io/region": "us-east-1",
        "topology.kubernetes.io/zone": zone,
      },
      annotations: {
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
      },
    },
    spec: { podCIDR, podCIDRs: [podCIDR], providerID: `aws:///${zone}/i-0${hex(r, 16)}` },
    status: {
      capacity: { cpu: "8", "ephemeral-storage": "104845292Ki", memory: "32386544Ki", pods: "110" },
      allocatable: {
        cpu: "7910m",
        "ephemeral-storage": "95551679124",
        memory: "31369712Ki",
        pods: "110",
      },
      conditions: [
        condition(
          "MemoryPressure",
          "False",
          "KubeletHasSufficientMemory",
          "kubelet has sufficient memory available",
        ),
        condition(
          "DiskPressure",
          "False",
          "KubeletHasNoDiskPressure",
          "kubelet has no disk pressure",
        ),
        condition(
          "PIDPressure",
          "False",
          "KubeletHasSufficientPID",
          "kubelet has sufficient PID available",
        ),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
      ],
      addresses: [
        { type: "InternalIP", address: internalIP },
        { type: "Hostname", address: name },
        { type: "InternalDNS", address: `ip-${internalIP.replaceAll(".", "-")}.ec2.internal` },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: hex(r, 32),
        systemUUID: uid(r),
        bootID: uid(r),
        kernelVersion: "6.1.0-27-amd64",
        osImage: "Debian GNU/Linux 12 (bookworm)",
        containerRuntimeVersion: "containerd://1.7.22",
        kubeletVersion: "v1.33.0",
        kubeProxyVersion: "v1.33.0",
        operatingSystem: "linux",
        architecture: "amd64",
      },
      images: APPS.slice(0, 6).map((app) => ({
        names: [
          `registry.example.com/shop/${app}@sha256:${hex(r, 64)}`,
          `registry.example.com/shop/${app}:1.${i % 9}.0`,
        ],
        sizeBytes: 20_000_000 + Math.floor(r() * 80_000_000),
      })),
    },
  };
}

/** A Pod as a ReplicaSet and a kubelet leave it (Running, with podIPs), about 3-4 KB of JSON. */
export function realisticPod(
  i: number,
  node: number,
  podOnNode: number,
  namespace: string,
  seed = 1,
): KubeObject {
  const r = seededRandomFunction(seed * 104_729 + i);
  const app = APPS[i % APPS.length]!;
  const hash = hex(r, 10);
  const name = `${app}-${hash}-${hex(r, 5)}`;
  const { podCIDR } = nodeAddresses(node);
  const base = podCIDR.split(".").slice(0, 3).join(".");
  const ip = `${base}.${(podOnNode % 250) + 2}`;
  const hostIP = nodeAddresses(node).internalIP;
  const start = 3_600 + (i % 86_400);
  const image = `registry.example.com/shop/${app}:1.${i % 9}.0`;
  const rsName = `${app}-${hash}`;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      generateName: `${rsName}-`,
      namespace,
      uid: uid(r),
      creationTimestamp: ts(start),
      labels: {
        app,
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/part-of": "shop",
        "pod-template-hash": hash,
        tier: TIERS[i % TIERS.length]!,
        version: `v1.${i % 9}`,
      },
      annotations: {
        "kubectl.kubernetes.io/restartedAt": ts(start - 60),
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
      },
      ownerReferences: [{
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        name: rsName,
        uid: uid(r),
        controller: true,
        blockOwnerDeletion: true,
      }],
      managedFields: [
        {
          manager: "kube-controller-manager",
          operation: "Update",
          apiVersion: "v1",
          time: ts(start),
          fieldsType: "FieldsV1",
          fieldsV1: {
            "f:metadata": {
              "f:generateName": {},
              "f:labels": {
                ".": {},
                "f:app": {},
                "f:pod-template-hash": {},
                "f:tier": {},
                "f:version": {},
              },
              "f:ownerReferences": { ".": {}, [`k:{"uid":"${uid(r)}"}`]: {} },
            },
            "f:spec": {
              "f:containers": {
                [`k:{"name":"${app}"}`]: {
                  ".": {},
                  "f:image": {},
                  "f:name": {},
                  "f:ports": {},
                  "f:resources": {},
                },
              },
              "f:dnsPolicy": {},
              "f:restartPolicy": {},
              "f:serviceAccountName": {},
            },
          },
        },
        {
          manager: "kubelet",
          operation: "Update",
          apiVersion: "v1",
          time: ts(start + 5),
          fieldsType: "FieldsV1",
          subresource: "status",
          fieldsV1: {
            "f:status": {
              "f:conditions": { 'k:{"type":"Ready"}': { ".": {}, "f:status": {}, "f:type": {} } },
              "f:containerStatuses": {},
              "f:hostIP": {},
              "f:phase": {},
              "f:podIP": {},
              "f:podIPs": { ".": {}, [`k:{"ip":"${ip}"}`]: { ".": {}, "f:ip": {} } },
              "f:startTime": {},
            },
          },
        },
      ],
    },
    spec: {
      nodeName: nodeName(node),
      serviceAccountName: `${app}-sa`,
      restartPolicy: "Always",
      dnsPolicy: "ClusterFirst",
      schedulerName: "default-scheduler",
      terminationGracePeriodSeconds: 30,
      containers: [{
        name: app,
        image,
        imagePullPolicy: "IfNotPresent",
        ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }, {
          name: "metrics",
          containerPort: 9090,
          protocol: "TCP",
        }],
        env: [
          { name: "APP_NAME", value: app },
          {
            name: "POD_NAME",
            valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } },
          },
        ],
        resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
        readinessProbe: {
          httpGet: { path: "/healthz", port: 8080, scheme: "HTTP" },
          periodSeconds: 10,
        },
        volumeMounts: [{
          name: "kube-api-access",
          mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
          readOnly: true,
        }],
        terminationMessagePath: "/dev/termination-log",
        terminationMessagePolicy: "File",
      }],
      volumes: [{
        name: "kube-api-access",
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
            { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
          ],
        },
      }],
      tolerations: [
        {
          key: "node.kubernetes.io/not-ready",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 300,
        },
        {
          key: "node.kubernetes.io/unreachable",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 300,
        },
      ],
      priority: 0,
      enableServiceLinks: true,
    },
    status: {
      phase: "Running",
      conditions: [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
      ].map((type) => ({
        type,
        status: "True",
        lastProbeTime: null,
        lastTransitionTime: ts(start + 3),
      })),
      hostIP,
      hostIPs: [{ ip: hostIP }],
      podIP: ip,
      podIPs: [{ ip }],
      startTime: ts(start),
      containerStatuses: [{
        name: app,
        state: { running: { startedAt: ts(start + 2) } },
        lastState: {},
        ready: true,
        restartCount: 0,
        image,
        imageID: `registry.example.com/shop/${app}@sha256:${hex(r, 64)}`,
        containerID: `containerd://${hex(r, 64)}`,
        started: true,
      }],
      qosClass: "Burstable",
    },
  };
}

/** A NetworkPolicy with pod and namespace selectors, ports and an ipBlock. */
export function realisticNetworkPolicy(i: number, namespace: string, seed = 1): KubeObject {
  const r = seededRandomFunction(seed * 15_485_863 + i);
  const app = APPS[i % APPS.length]!;
  const peer = APPS[(i + 1 + Math.floor(r() * 5)) % APPS.length]!;
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: `allow-${peer}-to-${app}-${i}`,
      namespace,
      labels: { "app.kubernetes.io/managed-by": "policy-bot", app },
      annotations: { "policy.example.com/owner": `team-${i % 10}` },
    },
    spec: {
      podSelector: { matchLabels: { app } },
      policyTypes: ["Ingress", "Egress"],
      ingress: [{
        from: [
          { podSelector: { matchLabels: { app: peer } } },
          {
            namespaceSelector: { matchLabels: { team: `team-${i % 10}` } },
            podSelector: {
              matchExpressions: [{ key: "tier", operator: "In", values: ["frontend", "backend"] }],
            },
          },
        ],
        ports: [{ protocol: "TCP", port: 8080 }, { protocol: "TCP", port: 9090 }],
      }],
      egress: [
        {
          to: [{ podSelector: { matchLabels: { app: peer } } }],
          ports: [{ protocol: "TCP", port: 8080 }],
        },
        {
          to: [{ ipBlock: { cidr: "10.0.0.0/8", except: [`10.${i % 256}.0.0/16`] } }],
          ports: [{ protocol: "UDP", port: 53 }],
        },
      ],
    },
  };
}

/**
 * A whole cluster, namespaces first, then nodes, pods (spread evenly over the nodes and
 * namespaces) and policies: feed it to `load()`.
 */
export function* realisticCluster(shape: ClusterShape): Generator<KubeObject> {
  const seed = shape.seed ?? 1;
  const nss = Math.max(1, shape.namespaces ?? 50);
  for (let i = 0; i < nss; i++) yield realisticNamespace(i);
  for (let i = 0; i < shape.nodes; i++) yield realisticNode(i, seed);
  const nodes = Math.max(1, shape.nodes);
  for (let i = 0; i < shape.pods; i++) {
    yield realisticPod(i, i % nodes, Math.floor(i / nodes), namespaceName(i % nss), seed);
  }
  for (let i = 0; i < shape.networkPolicies; i++) {
    yield realisticNetworkPolicy(i, namespaceName(i % nss), seed);
  }
}
