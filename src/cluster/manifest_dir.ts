/**
 * The policy that turns a directory's parsed manifest files into one set of resources. Pure.
 * A file's invalid edit never removes what it held: a document that fails validation keeps the
 * last valid version of its object (as the API server refuses an invalid update and keeps the
 * object), and a file that is not valid YAML (often one caught mid-edit) keeps everything it held,
 * while the documents that did parse still apply. An object defined twice is taken from the
 * first definition (files by name, documents in order) and the repeat is reported.
 * @module
 */
import type { ParsedManifests } from "./manifest.ts";
import { resourceKey } from "./resource_key.ts";
import type { ManifestError, Resource } from "./types.ts";

/** The objects one file contributes, by key, in document order. */
export type FileObjects = ReadonlyMap<string, Resource>;

/**
 * What a file contributes now, given what it parsed to and what it contributed before (absent
 * for a file seen for the first time). `file` names the file in duplicate reports.
 */
export function fileObjects(
  parsed: ParsedManifests,
  options: { file: string; previous?: FileObjects | undefined },
): { objects: Map<string, Resource>; errors: ManifestError[] } {
  const previous = options.previous ?? new Map<string, Resource>();
  const objects = new Map<string, Resource>(parsed.broken ? previous : []);
  const fresh = new Set<string>();
  const errors: ManifestError[] = [];
  for (const resource of parsed.resources) {
    const key = resourceKey(resource);
    if (fresh.has(key)) {
      errors.push(new DuplicateDefinition(resource, { file: options.file, first: options.file }));
      continue;
    }
    fresh.add(key);
    objects.set(key, resource);
  }
  for (const key of parsed.rejected) {
    const kept = previous.get(key);
    if (kept !== undefined && !fresh.has(key)) objects.set(key, kept);
  }
  return { objects, errors };
}

/**
 * All files' objects as one map. `files` maps a file name to its objects; names are visited in
 * sorted order and the first definition of a key wins.
 */
export function mergeFiles(
  files: ReadonlyMap<string, FileObjects>,
): { resources: Map<string, Resource>; errors: ManifestError[] } {
  const resources = new Map<string, Resource>();
  const origin = new Map<string, string>();
  const errors: ManifestError[] = [];
  for (const file of [...files.keys()].sort()) {
    for (const [key, resource] of files.get(file)!) {
      const first = origin.get(key);
      if (first !== undefined) {
        errors.push(new DuplicateDefinition(resource, { file, first }));
        continue;
      }
      origin.set(key, file);
      resources.set(key, resource);
    }
  }
  return { resources, errors };
}

/**
 * An object defined a second time, which is ignored. A class, not a plain {@linkcode ManifestError},
 * because a watcher reports each repeat once and must tell it from other problems by type (the
 * message is for people). Its fields are plain and own, so it spreads into an error event.
 */
export class DuplicateDefinition implements ManifestError {
  /** The file holding the repeat. */
  file: string;
  /** Always `metadata.name`: the key that repeats. */
  key: string;
  /** The repeated name (the node's name for NodeEndpoints). */
  value: unknown;
  /** `Duplicate Node "n" in b.yaml: already defined in a.yaml, ignored`. */
  message: string;

  /** The repeat of `resource` in `at.file`, first defined in `at.first`. */
  constructor(resource: Resource, at: { file: string; first: string }) {
    const name = resource.kind === "Pod" || (resource.kind === "Other" && resource.namespace)
      ? `${resource.namespace}/${resource.name}`
      : resource.kind === "NodeEndpoints"
      ? resource.node
      : resource.name;
    const kind = resource.kind === "Other" ? resource.resourceKind : resource.kind;
    const where = at.first === at.file ? "earlier in the same file" : `in ${at.first}`;
    this.file = at.file;
    this.key = "metadata.name";
    this.value = resource.kind === "NodeEndpoints" ? resource.node : resource.name;
    this.message = `Duplicate ${kind} ${
      JSON.stringify(name)
    } in ${at.file}: already defined ${where}, ignored`;
  }
}
