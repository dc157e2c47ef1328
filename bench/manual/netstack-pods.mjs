// Hand measurement behind the pods' netstack counters (src/pods/pod-netstack.ts, src/kernel/netns.ts):
// the time of one collection over N lab pods — per pod: stat its netns path, re-read from offset 0
// the /proc/thread-self/net/{snmp,netstat,snmp6} fds opened inside it at the first read, parse,
// build the series — as the agent's collection does it, on the calling thread; beside it, what the
// first read of a namespace costs (open its netns, setns(2) in, open the files, setns(2) back, read, close).
// As root, after `bash scripts/build.sh`:   node bench/manual/netstack-pods.mjs [pods=50] [rounds=200]
import { pino } from 'pino';
import { Lab } from '../../dist/src/lab/lab.js';
import { NetstackProbe } from '../../dist/src/probes/netstack/probe.js';
import { PodNetstack } from '../../dist/src/pods/pod-netstack.js';
import { netnsWorkload } from '../../dist/src/pods/pod-network.js';
import { NetnsFiles } from '../../dist/src/kernel/netns.js';
import { NETSTACK_FILES } from '../../dist/src/probes/netstack/probe.js';
import { SeriesProducer } from '../../dist/src/export/series-producer.js';

const pods = Number(process.argv[2] ?? 50);
const rounds = Number(process.argv[3] ?? 200);
const lab = await Lab.create({ name: 'nsbn', pods });
try {
  const logger = pino({ level: 'warn' });
  const probe = new NetstackProbe({ logger, settings: {} });
  probe.start();
  const namespaces = lab.pods.map((p) => ({
    pod: netnsWorkload({ ifindex: 0, ifname: p.hostIfname, ips: [p.ip], netns: p.netns, source: 'netns', sources: ['netns'] }),
    netns: `/var/run/netns/${p.netns}`,
  }));
  const source = new PodNetstack({ reader: probe, pods: () => namespaces, logger });
  const paths = namespaces.map((n) => n.netns);
  const kept = new NetnsFiles(NETSTACK_FILES);
  const entering = new NetnsFiles(NETSTACK_FILES, { maxKept: 0 }); // nothing kept: every read enters
  const producer = new SeriesProducer({ scope: { name: 'bench' }, cardinalityLimit: 100_000 });
  producer.addSource(source);
  /** median and p90 of `rounds` runs of fn, in µs per pod */
  const perPod = (fn) => {
    for (let i = 0; i < 20; i++) fn(); // warm up
    const t = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = process.hrtime.bigint();
      fn();
      t.push(Number(process.hrtime.bigint() - t0) / 1e3 / pods);
    }
    t.sort((a, b) => a - b);
    return { p50: +t[Math.floor(t.length / 2)].toFixed(1), p90: +t[Math.floor(t.length * 0.9)].toFixed(1) };
  };
  const result = {
    pods, rounds, series: source.collect()[0].series.length,
    // 1. the kernel side alone, as at every collection: stat the netns path, pread the three kept fds
    readsUsPerPod: perPod(() => { for (const p of paths) kept.read(p); }),
    // 1b. the first read of a namespace: open it, setns in, open the three files, setns back, read, close
    enterUsPerPod: perPod(() => { for (const p of paths) entering.read(p); }),
    // 2. one collection of the pods' source: 1 + parse + series with pod attributes
    collectUsPerPod: perPod(() => source.collect()),
    // 3. what an export costs for them: 2 + the series producer (keys, start times, data points)
    exportUsPerPod: perPod(() => producer.collectSync()),
    failures: probe.recordFailures().filter((f) => f.count > 0),
  };
  console.log(JSON.stringify(result));
  kept.close();
  entering.close();
  probe.stop(); // let go of the namespaces before the lab deletes them
} finally {
  await lab.destroy();
}
