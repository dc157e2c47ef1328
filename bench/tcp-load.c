// SPDX-License-Identifier: Apache-2.0
/*
 * TCP load for bench part (g), run inside a lab pod. C, not a Node worker: at 10,000 connections/s
 * a Node connect loop and its Node servers need more than the 2 cores of the bench machine (each
 * connection costs ~85-125 µs of their CPU there, against a few µs here beyond the kernel's own
 * work), and whatever the load generator burns is taken from the kernel work being measured.
 * bench/tcp-cost.ts compiles it with clang (already a dependency: it builds the eBPF objects).
 *
 *   tcp-load server PORT HOLD          accept on PORT (backlog 4096); HOLD=0: close each connection at once,
 *                                      HOLD=1: keep it open until the process ends
 *   tcp-load connect IP RATE RESET_EVERY REFUSED_EVERY REFUSED_PORT PORT...
 *                                      paced loop: connection n is due at n / RATE s; each is closed as soon as
 *                                      connect() returns (FIN); every RESET_EVERY-th (0 = none) is closed with a
 *                                      reset instead (SO_LINGER 0); every REFUSED_EVERY-th (0 = none) goes to
 *                                      REFUSED_PORT, where nobody listens. Ports are used round-robin.
 *   tcp-load hold IP COUNT PORT...     opens COUNT connections, round-robin over the ports, and holds them
 *
 * With TCP_LOAD_PORT_LOG=FILE in its environment, the connect loop also writes each connection it made
 * to FILE, in the order of its `connected` counter: 8 bytes, little-endian u16 client port, u16 server
 * port, u32 ms since the loop started (connection n of the counter is record n). The file is flushed
 * before each mark and result line, so a mark's `connected` records are in the file when it is read.
 *
 * Output: one JSON object per line on stdout. {"event":"ready",...} once listening / looping /
 * holding; SIGUSR1 prints {"event":"mark",...} with the cumulative counters, the monotonic clock
 * (atMs) and the process's CPU time (cpuUs); SIGTERM prints {"event":"result",...} and exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "load-common.h"

/* counters of every mode (unused ones stay 0) */
static long long issued, connected, resets, refused, errors, accepted, held, behind;
static int first_errno;
/* TCP_LOAD_PORT_LOG: one record per connection made (the connect loop) */
static FILE *port_log;

static void emit(const char *event)
{
	if (port_log)
		fflush(port_log);
	printf("{\"event\":\"%s\",\"atMs\":%.3f,\"cpuUs\":%lld,\"issued\":%lld,\"connected\":%lld,\"resets\":%lld,"
	       "\"refused\":%lld,\"errors\":%lld,\"accepted\":%lld,\"held\":%lld,\"skipped\":%lld",
	       event, now_ms(), cpu_us(), issued, connected, resets, refused, errors, accepted, held, behind);
	if (first_errno)
		printf(",\"firstError\":\"%s\"", strerror(first_errno));
	printf("}\n");
	fflush(stdout);
}

/* SIGUSR1 / SIGTERM handled between blocking calls (no SA_RESTART: they return EINTR) */
static void poll_signals(void)
{
	if (want_mark) {
		want_mark = 0;
		emit("mark");
	}
	if (want_stop) {
		emit("result");
		exit(0);
	}
}

static void fail(int err)
{
	errors++;
	if (!first_errno)
		first_errno = err;
}

static struct sockaddr_in addr_of(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "tcp-load: bad address %s\n", ip);
		exit(2);
	}
	return a;
}

static int server(int port, int hold)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) || bind(l, (void *)&a, sizeof(a)) ||
	    listen(l, 4096)) {
		fprintf(stderr, "tcp-load server: port %d: %s\n", port, strerror(errno));
		return 1;
	}
	emit("ready");
	for (;;) {
		int c = accept(l, NULL, NULL);

		poll_signals();
		if (c < 0) {
			if (errno != EINTR)
				fail(errno);
			continue;
		}
		accepted++;
		if (hold)
			held++;
		else
			close(c);
	}
}

static int connect_loop(const char *ip, double rate, long reset_every, long refused_every, int refused_port,
			int nports, char **ports)
{
	struct sockaddr_in refused_addr = addr_of(ip, refused_port);
	struct sockaddr_in *addrs = calloc(nports, sizeof(*addrs));
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	double t0;

	for (int i = 0; i < nports; i++)
		addrs[i] = addr_of(ip, atoi(ports[i]));
	if (getenv("TCP_LOAD_PORT_LOG")) {
		port_log = fopen(getenv("TCP_LOAD_PORT_LOG"), "w");
		if (!port_log) {
			fprintf(stderr, "tcp-load: %s: %s\n", getenv("TCP_LOAD_PORT_LOG"), strerror(errno));
			exit(2);
		}
	}
	emit("ready");
	t0 = now_ms();
	for (long long n = 0;; n++) {
		double due = t0 + n * 1000.0 / rate, late;
		int refuse = refused_every && n % refused_every == refused_every - 1;
		int reset = !refuse && reset_every && n % reset_every == reset_every - 1;
		struct sockaddr_in *to = refuse ? &refused_addr : &addrs[n % nports];
		int s;

		poll_signals();
		late = now_ms() - due;
		if (late < 0) {
			double ms = -late;
			struct timespec d = { .tv_sec = (time_t)(ms / 1000) };

			d.tv_nsec = (long)((ms - d.tv_sec * 1000.0) * 1e6);
			nanosleep(&d, NULL);
		}
		/* connects due but not issued yet: the loop is behind its pace (for the report) */
		behind = (long long)((now_ms() - t0) * rate / 1000.0) - n;
		if (behind < 0)
			behind = 0;
		issued++;
		s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) {
			fail(errno);
			continue;
		}
		if (connect(s, (void *)to, sizeof(*to))) {
			if (errno == ECONNREFUSED)
				refused++;
			else if (errno != EINTR)
				fail(errno);
			close(s);
			continue;
		}
		if (port_log) {
			struct sockaddr_in me;
			socklen_t len = sizeof(me);
			unsigned char rec[8];
			unsigned cport = 0, sport = ntohs(to->sin_port), ms = (unsigned)(now_ms() - t0);

			if (!getsockname(s, (void *)&me, &len))
				cport = ntohs(me.sin_port);
			rec[0] = cport & 0xff, rec[1] = cport >> 8, rec[2] = sport & 0xff, rec[3] = sport >> 8;
			rec[4] = ms & 0xff, rec[5] = (ms >> 8) & 0xff, rec[6] = (ms >> 16) & 0xff, rec[7] = ms >> 24;
			fwrite(rec, sizeof(rec), 1, port_log);
		}
		connected++;
		if (reset) {
			setsockopt(s, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
			resets++;
		}
		close(s);
	}
}

static int hold(const char *ip, long count, int nports, char **ports)
{
	struct sockaddr_in *addrs = calloc(nports, sizeof(*addrs));
	double t0 = now_ms();

	for (int i = 0; i < nports; i++)
		addrs[i] = addr_of(ip, atoi(ports[i]));
	for (long n = 0; n < count && !want_stop; n++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);

		issued++;
		if (s < 0) {
			fail(errno);
			continue;
		}
		if (connect(s, (void *)&addrs[n % nports], sizeof(addrs[0]))) {
			fail(errno);
			close(s);
			continue;
		}
		connected++;
		held++;
	}
	printf("{\"event\":\"ready\",\"held\":%lld,\"errors\":%lld,\"openMs\":%.0f", held, errors, now_ms() - t0);
	if (first_errno)
		printf(",\"firstError\":\"%s\"", strerror(first_errno));
	printf("}\n");
	fflush(stdout);
	for (;;) {
		pause();
		poll_signals();
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (argc == 4 && !strcmp(argv[1], "server"))
		return server(atoi(argv[2]), atoi(argv[3]));
	if (argc >= 8 && !strcmp(argv[1], "connect"))
		return connect_loop(argv[2], atof(argv[3]), atol(argv[4]), atol(argv[5]), atoi(argv[6]), argc - 7, argv + 7);
	if (argc >= 5 && !strcmp(argv[1], "hold"))
		return hold(argv[2], atol(argv[3]), argc - 4, argv + 4);
	fprintf(stderr, "usage: tcp-load server PORT HOLD | connect IP RATE RESET_EVERY REFUSED_EVERY REFUSED_PORT PORT... | "
			"hold IP COUNT PORT...\n");
	return 2;
}
