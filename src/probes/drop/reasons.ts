/**
 * Drop-reason names from the running kernel's BTF. Values of `enum skb_drop_reason` differ between
 * kernels, so nothing here is a copied table: the names are read at start-up, and a value the
 * kernel's BTF does not name exports as `UNKNOWN_<n>`.
 */
import type { BtfEnumValue } from '../../kernel/btf.js';
import { DROP_REASON_NONE_GIVEN } from './layout.js';

const PREFIX = 'SKB_DROP_REASON_';
/**
 * The `fovea.drop.reason` of drops on kernels that give no reason (skb:kfree_skb before 5.17):
 * DROP_REASON_NONE_GIVEN, never a kernel value. Distinct from the kernel's own NOT_SPECIFIED (a
 * kernel with reasons that did not classify this drop) and from UNKNOWN_<n> (a value this kernel's
 * BTF does not name). Those drops carry `fovea.drop.location`, the function that freed the packet.
 */
export const NO_KERNEL_REASON = 'NO_KERNEL_REASON';
/** Subsystem enums whose values live in the upper 16 bits of a drop reason (SKB_DROP_REASON_SUBSYS_MASK). */
export const SUBSYSTEM_REASON_ENUMS = ['ovs_drop_reason', 'mac80211_drop_reason'] as const;
/** Subsystem reasons start at 1 << SKB_DROP_REASON_SUBSYS_SHIFT (16). */
const SUBSYSTEM_SHIFT_VALUE = 1 << 16;

export class DropReasons {
  private readonly names = new Map<number, string>();
  /**
   * Core reasons (values 0 .. coreReasons − 1 of `enum skb_drop_reason`): its SKB_DROP_REASON_MAX,
   * else one past its largest value below the subsystem bits. Sizes the kernel's per-reason array.
   */
  readonly coreReasons: number;

  /** @param enums `enum skb_drop_reason` first, then subsystem enums; earlier names win. */
  constructor(enums: ReadonlyArray<readonly BtfEnumValue[]>) {
    const main = enums[0] ?? [];
    const max = main.find((v) => v.name === 'SKB_DROP_REASON_MAX');
    this.coreReasons = max ? max.value : main.reduce((n, v) => (v.value < SUBSYSTEM_SHIFT_VALUE ? Math.max(n, v.value + 1) : n), 0);
    for (const values of enums) {
      for (const { name, value } of values) {
        if (name === 'SKB_DROP_REASON_MAX' || name.startsWith('SKB_DROP_REASON_SUBSYS_')) continue;
        if (!this.names.has(value)) this.names.set(value, name.startsWith(PREFIX) ? name.slice(PREFIX.length) : name);
      }
    }
  }

  /** Kernel name without the SKB_DROP_REASON_ prefix (e.g. NETFILTER_DROP), NO_KERNEL_REASON, or UNKNOWN_<n>. */
  name(value: number): string {
    if (value === DROP_REASON_NONE_GIVEN) return NO_KERNEL_REASON;
    return this.names.get(value) ?? `UNKNOWN_${value}`;
  }

  get size(): number {
    return this.names.size;
  }

  /** All known reasons, sorted by value. */
  entries(): Array<{ value: number; name: string }> {
    return [...this.names].map(([value, name]) => ({ value, name })).sort((a, b) => a.value - b.value);
  }
}

/** Reads the reason table from a BTF source (the kernel's, in production). */
export function dropReasonsFromBtf(btf: { enumValues(name: string): BtfEnumValue[] | undefined }): DropReasons {
  const main = btf.enumValues('skb_drop_reason');
  if (!main) {
    throw new Error('the kernel BTF has no enum skb_drop_reason: kernel older than 5.17 has no drop reasons');
  }
  const subsystems = SUBSYSTEM_REASON_ENUMS.map((n) => btf.enumValues(n) ?? []);
  return new DropReasons([main, ...subsystems]);
}
