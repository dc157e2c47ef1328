/**
 * The C library's socket calls the agent makes itself (netlink sockets: src/kernel/rtnetlink.ts,
 * src/kernel/netlink-changes.ts), bound through koffi at first use, and the constants they share
 * (linux/socket.h, linux/netlink.h).
 */
import { lastErrno, libc } from './libbpf.js';

export const AF_NETLINK = 16;
export const NETLINK_ROUTE = 0;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const NLMSG_HDRLEN = 16;
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;

export interface SocketCalls {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, val: Buffer, len: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
  /** errno of the last failed call */
  errno(): number;
}

let bound: SocketCalls | undefined;
export function socketCalls(): SocketCalls {
  if (!bound) {
    const l = libc();
    bound = {
      socket: l.func('int socket(int domain, int type, int protocol)') as SocketCalls['socket'],
      bind: l.func('int bind(int fd, void *addr, uint32_t len)') as SocketCalls['bind'],
      setsockopt: l.func('int setsockopt(int fd, int level, int name, void *val, uint32_t len)') as SocketCalls['setsockopt'],
      send: l.func('intptr_t send(int fd, void *buf, size_t len, int flags)') as SocketCalls['send'],
      recv: l.func('intptr_t recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)') as SocketCalls['recv'],
      close: l.func('int close(int fd)') as SocketCalls['close'],
      errno: lastErrno,
    };
  }
  return bound;
}
