/** ifindex → interface name in the agent's network namespace, re-read on a miss at most once a second. */
import { listInterfaces } from '../kernel/netdev.js';

export class InterfaceNames {
  private names: ReadonlyMap<number, string> = new Map();
  private readAt = -Infinity;

  constructor(
    private readonly list: () => ReadonlyMap<number, string> = () => new Map(listInterfaces().map((i) => [i.ifindex, i.name])),
    private readonly nowMs: () => number = Date.now,
  ) {}

  name(ifindex: number): string | undefined {
    if (ifindex === 0) return undefined;
    let name = this.names.get(ifindex);
    if (name === undefined && this.nowMs() - this.readAt > 1_000) {
      this.readAt = this.nowMs();
      this.names = this.list();
      name = this.names.get(ifindex);
    }
    return name;
  }
}
