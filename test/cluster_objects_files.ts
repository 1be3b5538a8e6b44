/**
 * {@linkcode ClusterObjects} for the `files` cluster source: each object is one YAML manifest in
 * the cluster directory, named after its kind and name (`node-<name>.yaml`,
 * `namespace-<name>.yaml`, `pod-<namespace>-<name>.yaml`, `<kind>-[<namespace>-]<name>.yaml` for
 * the rest). A manifest is written to a hidden temporary file and renamed into place, so a
 * watcher never reads half a file. Status is written with the object, as the files source has no
 * separate status.
 * @module
 */
import { stringify } from "yaml";
import { type ClusterObjects, type KubeObject, type ObjectRef, refOf } from "./cluster_objects.ts";

/** The manifest file name of an object in the cluster directory (pure). */
export function manifestFileName(ref: ObjectRef): string {
  const kind = ref.kind.toLowerCase();
  return ref.namespace !== undefined
    ? `${kind}-${ref.namespace}-${ref.name}.yaml`
    : `${kind}-${ref.name}.yaml`;
}

/** Cluster objects as manifests in `dir`. */
export class FilesClusterObjects implements ClusterObjects {
  /** The cluster directory (`cluster.dir` of the daemons). */
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Writes the object's manifest (created or replaced). */
  async apply(obj: KubeObject): Promise<void> {
    await this.writeManifest(manifestFileName(refOf(obj)), obj);
  }

  /** Removes the object's manifest; one already gone is fine. */
  async remove(ref: ObjectRef): Promise<void> {
    await this.removeManifest(manifestFileName(ref));
  }

  /**
   * Writes `doc` as `file` atomically (temp file, then rename). For what only the files source
   * has, such as several objects in one `List` file or a benchmark of the source's reads; a
   * fixture meant for both sources uses {@linkcode apply}.
   */
  async writeManifest(file: string, doc: Record<string, unknown>): Promise<void> {
    await this.writeText(file, stringify(doc));
  }

  /** Writes `text` as `file` atomically (temp file, then rename). */
  async writeText(file: string, text: string): Promise<void> {
    const tmp = `${this.dir}/.${file}.tmp`;
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, `${this.dir}/${file}`);
  }

  /** Removes `file` from the directory; a file already gone is fine. */
  async removeManifest(file: string): Promise<void> {
    await Deno.remove(`${this.dir}/${file}`).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }
}
