/**
 * When the daemon first listed each of tern's host veths. A veth carries no creation time the
 * kernel reports, and since ADD makes the veth pair a few milliseconds before its one request
 * claims the address (`POST /v1/endpoints/add`), a veth with no allocation may be an ADD in
 * flight: `tern ipam check` judges such a veth an orphan only once it has been listed for the
 * grace period (`src/ipam/ipam_check.ts`). Every listing of the host veths (the sweep, the DEL
 * queue's drain, the check) tells the sightings; a veth that vanishes is forgotten, so a name
 * used again starts afresh.
 * @module
 */

/** First sightings of veth names, kept for the names of the latest listing only. */
export class VethSightings {
  readonly #first = new Map<string, number>();

  /** Records a listing of every tern veth at `now` (ms since the epoch). */
  observe(names: Iterable<string>, now: number): void {
    const listed = new Set(names);
    for (const name of listed) if (!this.#first.has(name)) this.#first.set(name, now);
    for (const name of this.#first.keys()) if (!listed.has(name)) this.#first.delete(name);
  }

  /** When `name` was first listed (and listed ever since), or undefined if it never was. */
  firstSeen(name: string): number | undefined {
    return this.#first.get(name);
  }
}
