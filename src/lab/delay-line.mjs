// A delay line for the lab (the host kernel has no sch_netem): reads every packet routed into a
// TUN device, holds it `ms` milliseconds and writes it back, so the kernel receives it from the
// TUN and routes it on (an `ip rule` sends what comes from the TUN to the pod's veth).
// Usage: node delay-line.mjs '{"dev":"fvdt1-0","ms":30}'. Prints {"event":"ready"} once attached;
// on SIGTERM prints {"event":"result","delayed":N} and exits.
import { openSync, read, writeSync } from 'node:fs';
import koffi from 'koffi';

const o = JSON.parse(process.argv[2] ?? '{}');
const emit = (r) => process.stdout.write(JSON.stringify(r) + '\n');
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const TUNSETIFF = 0x400454ca;

const ioctl = koffi.load('libc.so.6').func('int ioctl(int fd, unsigned long req, _Inout_ uint8_t *arg)');
const fd = openSync('/dev/net/tun', 'r+');
const ifr = Buffer.alloc(40); // struct ifreq: name[16], then short flags
ifr.write(o.dev, 0, 15, 'latin1');
ifr.writeUInt16LE(IFF_TUN | IFF_NO_PI, 16);
if (ioctl(fd, TUNSETIFF, ifr) < 0) {
  process.stderr.write(`delay-line: TUNSETIFF ${o.dev} failed (errno ${koffi.errno()})\n`);
  process.exit(1);
}
let delayed = 0;
let stopping = false;
const next = () => {
  const buf = Buffer.allocUnsafe(65536);
  read(fd, buf, 0, buf.length, null, (err, n) => {
    if (stopping) return;
    if (err) {
      process.stderr.write(`delay-line: read: ${err.message}\n`);
      process.exit(1);
    }
    const packet = buf.subarray(0, n);
    setTimeout(() => {
      try { writeSync(fd, packet); delayed++; } catch (e) { process.stderr.write(`delay-line: write: ${e.message}\n`); }
    }, o.ms);
    next();
  });
};
next();
// A read is always pending in libuv's thread pool, and process.exit() waits for the pool: end hard.
const stop = () => { stopping = true; emit({ event: 'result', delayed }); process.kill(process.pid, 'SIGKILL'); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
emit({ event: 'ready' });
