/**
 * Which interfaces the traffic probe should be attached to, as they come and go. Pure
 * bookkeeping (no kernel calls), so the churn logic is unit-tested without root.
 */
import type { NetInterface } from '../../kernel/netdev.js';

export interface InterfacePlan {
  /** selected and not yet attached (or re-created with a new ifindex) */
  readonly attach: NetInterface[];
  /** attached but gone or no longer selected */
  readonly detach: NetInterface[];
  /** attached and still selected, but renamed: only the label changes */
  readonly rename: NetInterface[];
}

/**
 * @param attached interfaces we are attached to now (by ifindex)
 * @param present interfaces that exist now
 * @param selected the configuration's filter
 * @param retryBlocked ifindexes whose last attach failed recently (not retried yet)
 */
export function planInterfaces(
  attached: ReadonlyMap<number, NetInterface>,
  present: readonly NetInterface[],
  selected: (name: string) => boolean,
  retryBlocked: ReadonlySet<number> = new Set(),
): InterfacePlan {
  const want = new Map<number, NetInterface>();
  for (const i of present) if (selected(i.name)) want.set(i.ifindex, i);
  const attach: NetInterface[] = [];
  const detach: NetInterface[] = [];
  const rename: NetInterface[] = [];
  for (const [ifindex, i] of attached) {
    const now = want.get(ifindex);
    if (!now) detach.push(i);
    else if (now.name !== i.name) rename.push(now);
  }
  for (const [ifindex, i] of want) {
    if (!attached.has(ifindex) && !retryBlocked.has(ifindex)) attach.push(i);
  }
  return { attach, detach, rename };
}
