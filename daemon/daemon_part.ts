/**
 * The shape of each part the daemon is assembled from (cluster, IPAM, routing, policy, API):
 * a `start…` function brings it up and returns it running, with `stop()` for the daemon's one
 * cleanup stack and `status()` for the API.
 * @module
 */

/** A running part of the daemon. */
export interface DaemonPart<S> {
  /** Stops what the part started; idempotent. */
  stop(): Promise<void>;
  /** The part's slice of status. */
  status(): S;
}
