// SPDX-License-Identifier: Apache-2.0
/*
 * DNS load for bench part (h), run inside lab pods: a responder and a paced query generator over
 * UDP. C for the reason bench/tcp-load.c gives: at 50,000 queries/s whatever the load burns is taken
 * from the 2 cores that also run the kernel path being measured and the agent. bench/dns-storm.ts
 * compiles it with clang -O2.
 *
 *   dns-load serve PORT
 *       answers every query on UDP PORT at once (SO_REUSEPORT: several processes share the port):
 *       the question echoed, QR=1, RA=1; NOERROR with one A answer (10.0.0.1), or NXDOMAIN when the
 *       name starts with "nx". Batches of up to 64 messages (recvmmsg / sendmmsg).
 *   dns-load query IP PORT RATE SECONDS SOCKETS NX_EVERY DRAIN_MS
 *       sends A queries to IP:PORT paced at RATE/s: query n is due at n / RATE s; every millisecond
 *       the ones due are sent together (sendmmsg, one socket per call in turn) and the responses
 *       that arrived are read (recvmmsg) and counted by response code. SECONDS > 0: stop sending
 *       after RATE × SECONDS queries (0: until SIGTERM). The queries rotate over SOCKETS connected
 *       sockets (one source port each), each socket with its own id counter, so (source port, id)
 *       is distinct within SOCKETS × 65,536 queries. Every NX_EVERY-th query asks for
 *       "nx<n>.storm.lab" (0: none), the others for "q<n>.storm.lab". After the last query (or
 *       SIGTERM) it reads responses for DRAIN_MS more.
 *
 * Output: one JSON object per line on stdout, as tcp-load: {"event":"ready",...} once listening /
 * looping; SIGUSR1 prints {"event":"mark",...} with the cumulative counters, the monotonic clock
 * (atMs) and the process's CPU time (cpuUs); the end (SIGTERM, or the generator's last
 * query and drain) prints {"event":"result",...} and exits.
 *   serve: received, answered, noerror, nxdomain, malformed (not answered), errors
 *   query: sent, nxSent, received, rcodes[16] (responses by code), unexpected (not a response),
 *          errors (send failures), skipped (queries due but not sent yet: the loop is behind)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MSG_MAX 512
#define RCVBUF (8 << 20)

#include "load-common.h"

/* counters of both modes (unused ones stay 0) */
static long long sent, nx_sent, errors, behind;
static long long received, rcodes[16], unexpected;
static long long answered, answered_nx, malformed;
static int first_errno;
static int serving;


static void emit(const char *event)
{
	printf("{\"event\":\"%s\",\"atMs\":%.3f,\"cpuUs\":%lld", event, now_ms(), cpu_us());
	if (serving) {
		printf(",\"received\":%lld,\"answered\":%lld,\"noerror\":%lld,\"nxdomain\":%lld,\"malformed\":%lld,\"errors\":%lld",
		       (received), (answered), (answered) - (answered_nx), (answered_nx), (malformed),
		       (errors));
	} else {
		printf(",\"sent\":%lld,\"nxSent\":%lld,\"received\":%lld,\"unexpected\":%lld,\"errors\":%lld,\"skipped\":%lld,\"rcodes\":[",
		       (sent), (nx_sent), (received), (unexpected), (errors), (behind));
		for (int i = 0; i < 16; i++)
			printf("%s%lld", i ? "," : "", (rcodes[i]));
		printf("]");
	}
	if (first_errno)
		printf(",\"firstError\":\"%s\"", strerror(first_errno));
	printf("}\n");
	fflush(stdout);
}

/* SIGUSR1 handled between blocking calls (no SA_RESTART: they return EINTR); returns 1 when asked to stop */
static int poll_signals(void)
{
	if (want_mark) {
		want_mark = 0;
		emit("mark");
	}
	return want_stop;
}

static void fail(int err)
{
	errors++;
	if (!first_errno)
		first_errno = err;
}

static void big_rcvbuf(int s)
{
	int n = RCVBUF;

	/* root in the pod's netns: past net.core.rmem_max */
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &n, sizeof(n)))
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
}

/* ---- serve ---- */

/*
 * Turns the query in buf[0..len) into its response in place; returns the response's length, or 0
 * for a message that is no query with one readable question (not answered).
 */
static int answer(unsigned char *buf, int len, int *nx)
{
	int pos = 12;

	if (len < 12 || (buf[2] & 0x80) || ((buf[4] << 8) | buf[5]) < 1)
		return 0;
	for (;;) {
		if (pos >= len || (buf[pos] & 0xc0))
			return 0;
		if (buf[pos] == 0)
			break;
		pos += 1 + buf[pos];
	}
	pos += 1 + 4; /* root label, type, class */
	if (pos > len)
		return 0;
	*nx = buf[12] >= 2 && buf[13] == 'n' && buf[14] == 'x';
	buf[2] = 0x80 | (buf[2] & 0x79); /* QR, opcode and RD kept; AA, TC cleared */
	buf[3] = 0x80 | (*nx ? 3 : 0);   /* RA, NXDOMAIN or NOERROR */
	buf[4] = 0, buf[5] = 1;          /* QDCOUNT 1 */
	buf[6] = 0, buf[7] = *nx ? 0 : 1; /* ANCOUNT */
	memset(buf + 8, 0, 4);           /* NSCOUNT, ARCOUNT */
	if (*nx)
		return pos;
	if (pos + 16 > MSG_MAX)
		return 0;
	static const unsigned char a[16] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1 };
	memcpy(buf + pos, a, sizeof(a));
	return pos + sizeof(a);
}

static int serve(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY) };
	static unsigned char bufs[BATCH][MSG_MAX];
	static struct sockaddr_in from[BATCH];
	static struct mmsghdr in[BATCH], out[BATCH];
	static struct iovec iin[BATCH], iout[BATCH];
	int one = 1, s = socket(AF_INET, SOCK_DGRAM, 0);
	sigset_t block, waiting;

	serving = 1;
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) || bind(s, (void *)&a, sizeof(a))) {
		fprintf(stderr, "dns-load serve: port %d: %s\n", port, strerror(errno));
		return 1;
	}
	big_rcvbuf(s);
	for (int i = 0; i < BATCH; i++) {
		iin[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = MSG_MAX };
		in[i].msg_hdr = (struct msghdr){ .msg_name = &from[i], .msg_iov = &iin[i], .msg_iovlen = 1 };
	}
	/* SIGUSR1 and SIGTERM are blocked except inside ppoll: one that arrives while a batch is being
	 * answered is taken at the next ppoll, none is missed (no window between a check and a wait) */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &waiting);
	emit("ready");
	for (;;) {
		struct pollfd pfd = { .fd = s, .events = POLLIN };

		if (poll_signals()) {
			emit("result");
			return 0;
		}
		if (ppoll(&pfd, 1, NULL, &waiting) < 0) {
			if (errno != EINTR)
				fail(errno);
			continue;
		}
		for (;;) {
			int n, k = 0;

			for (int i = 0; i < BATCH; i++)
				in[i].msg_hdr.msg_namelen = sizeof(from[i]);
			n = recvmmsg(s, in, BATCH, MSG_DONTWAIT, NULL);
			if (n <= 0) {
				if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
					fail(errno);
				break;
			}
			received += n;
			for (int i = 0; i < n; i++) {
				int nx = 0, len = answer(bufs[i], in[i].msg_len, &nx);

				if (!len) {
					malformed++;
					continue;
				}
				iout[k] = (struct iovec){ .iov_base = bufs[i], .iov_len = len };
				out[k].msg_hdr = (struct msghdr){ .msg_name = &from[i], .msg_namelen = in[i].msg_hdr.msg_namelen,
								  .msg_iov = &iout[k], .msg_iovlen = 1 };
				k++;
			}
			for (int done = 0; done < k;) {
				int m = sendmmsg(s, out + done, k - done, 0);

				if (m < 0) {
					if (errno == EINTR)
						continue;
					fail(errno);
					break;
				}
				for (int i = done; i < done + m; i++) {
					unsigned char *b = out[i].msg_hdr.msg_iov->iov_base;

					answered++;
					if ((b[3] & 0x0f) == 3)
						answered_nx++;
				}
				done += m;
			}
		}
	}
}

/* ---- query ---- */

static int nsocks, ep;
static int *socks;

/* reads every response waiting on the sockets that have one (all sockets: `all`), without blocking */
static void drain_responses(int all)
{
	static unsigned char bufs[BATCH][MSG_MAX];
	static struct mmsghdr in[BATCH];
	static struct iovec iin[BATCH];
	struct epoll_event evs[256];
	int ne;

	if (!iin[0].iov_base) {
		for (int i = 0; i < BATCH; i++) {
			iin[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = MSG_MAX };
			in[i].msg_hdr = (struct msghdr){ .msg_iov = &iin[i], .msg_iovlen = 1 };
		}
	}
	ne = all ? nsocks : epoll_wait(ep, evs, 256, 0);
	for (int e = 0; e < ne; e++) {
		int fd = all ? socks[e] : evs[e].data.fd, n;

		while ((n = recvmmsg(fd, in, BATCH, MSG_DONTWAIT, NULL)) > 0) {
			for (int i = 0; i < n; i++) {
				unsigned char *b = bufs[i];

				if (in[i].msg_len < 12 || !(b[2] & 0x80)) {
					unexpected++;
					continue;
				}
				rcodes[b[3] & 0x0f]++;
				received++;
			}
			if (n < BATCH)
				break;
		}
	}
}

/* sleeps until `at_ms` (CLOCK_MONOTONIC, ms); a signal ends the sleep early */
static void sleep_until(double at_ms)
{
	double ms = at_ms - now_ms();
	struct timespec d = { .tv_sec = (time_t)(ms / 1000) };

	if (ms <= 0)
		return;
	d.tv_nsec = (long)((ms - d.tv_sec * 1000.0) * 1e6);
	nanosleep(&d, NULL);
}

/* one A query for "<nx|q><n>.storm.lab" with the given id; returns its length */
static int build_query(unsigned char *b, unsigned id, long long n, int nx)
{
	char label[32];
	int l = snprintf(label, sizeof(label), "%s%lld", nx ? "nx" : "q", n), pos = 12;
	static const unsigned char tail[] = { 5, 's', 't', 'o', 'r', 'm', 3, 'l', 'a', 'b', 0, 0, 1, 0, 1 };

	memset(b, 0, 12);
	b[0] = id >> 8, b[1] = id & 0xff;
	b[2] = 0x01; /* RD */
	b[5] = 1;    /* QDCOUNT */
	b[pos++] = l;
	memcpy(b + pos, label, l);
	pos += l;
	memcpy(b + pos, tail, sizeof(tail));
	return pos + sizeof(tail);
}

/*
 * One thread: every TICK_MS it sends the queries due by then (sendmmsg, up to BATCH per call, one
 * socket per call in turn) and reads the responses that arrived since the last tick. Waking once per
 * tick, not once per datagram, keeps the generator's own CPU small next to the kernel path measured.
 */
#define TICK_MS 1.0

static int query(const char *ip, int port, double rate, double seconds, int nsock, long nx_every, int drain_ms)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	static unsigned char bufs[BATCH][64];
	static struct mmsghdr out[BATCH];
	static struct iovec iov[BATCH];
	long long total = seconds > 0 ? (long long)(rate * seconds) : -1, n = 0;
	unsigned *ids;
	double t0, tick, end;
	int next = 0;

	if (inet_pton(AF_INET, ip, &to.sin_addr) != 1 || rate <= 0 || nsock < 1) {
		fprintf(stderr, "dns-load query: bad arguments\n");
		return 2;
	}
	nsocks = nsock;
	socks = calloc(nsock, sizeof(*socks));
	ids = calloc(nsock, sizeof(*ids));
	ep = epoll_create1(0);
	for (int i = 0; i < nsock; i++) {
		struct epoll_event ev = { .events = EPOLLIN };

		socks[i] = socket(AF_INET, SOCK_DGRAM, 0);
		if (socks[i] < 0 || connect(socks[i], (void *)&to, sizeof(to))) {
			fprintf(stderr, "dns-load query: socket %d: %s\n", i, strerror(errno));
			return 1;
		}
		big_rcvbuf(socks[i]);
		ids[i] = (unsigned)i * 7919u; /* ids start apart per socket (any start is fine: ports differ) */
		ev.data.fd = socks[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, socks[i], &ev);
	}
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		out[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i], .msg_iovlen = 1 };
	}
	emit("ready");
	t0 = tick = now_ms();
	while (!poll_signals() && (total < 0 || n < total)) {
		long long due = (long long)((now_ms() - t0) * rate / 1000.0);

		if (total >= 0 && due > total)
			due = total;
		while (n < due) {
			long long k = due - n > BATCH ? BATCH : due - n;
			int s = next;

			for (int i = 0; i < k; i++) {
				long long q = n + i;
				int nx = nx_every > 0 && q % nx_every == nx_every - 1;

				iov[i].iov_len = build_query(bufs[i], ids[s]++ & 0xffff, q, nx);
			}
			next = (next + 1) % nsock;
			for (int done = 0; done < k;) {
				int m = sendmmsg(socks[s], out + done, k - done, 0);

				if (m < 0) {
					if (errno == EINTR)
						continue;
					/* the queries not sent are skipped: they count as errors, not as sent */
					fail(errno);
					errors += k - done - 1;
					break;
				}
				for (int i = done; i < done + m; i++)
					if (((unsigned char *)iov[i].iov_base)[13] == 'n')
						nx_sent++;
				sent += m;
				done += m;
			}
			n += k;
		}
		drain_responses(0);
		/* queries due but not sent yet: the loop is behind its pace (for the report) */
		due = (long long)((now_ms() - t0) * rate / 1000.0);
		if (total >= 0 && due > total)
			due = total;
		behind = due > n ? due - n : 0;
		tick += TICK_MS;
		if (tick < now_ms())
			tick = now_ms(); /* late: no catching up on sleep, the due count does that */
		sleep_until(tick);
	}
	/* the responses still on their way */
	end = now_ms() + drain_ms;
	while (now_ms() < end) {
		drain_responses(0);
		poll_signals();
		sleep_until(now_ms() + TICK_MS);
	}
	drain_responses(1);
	emit("result");
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);

	if (argc == 3 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]));
	if (argc == 9 && !strcmp(argv[1], "query"))
		return query(argv[2], atoi(argv[3]), atof(argv[4]), atof(argv[5]), atoi(argv[6]), atol(argv[7]), atoi(argv[8]));
	fprintf(stderr, "usage: dns-load serve PORT | query IP PORT RATE SECONDS SOCKETS NX_EVERY DRAIN_MS\n");
	return 2;
}
