/*
 * Shared by the benchmark's C load generators (bench/tcp-load.c, bench/dns-load.c): the signals the
 * bench sends them (SIGUSR1: print a mark of the counters; SIGTERM: stop and print the totals), the
 * monotonic clock in ms and the process's own CPU time.
 */
#ifndef FOVEA_LOAD_COMMON_H
#define FOVEA_LOAD_COMMON_H
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

static volatile sig_atomic_t want_mark, want_stop;

static void on_usr1(int sig) { (void)sig; want_mark = 1; }
static void on_term(int sig) { (void)sig; want_stop = 1; }

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long long cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

#endif
