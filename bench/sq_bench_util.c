/*  =========================================================================
    sq_bench_util - time, /proc readings, STATS and limits for the benchmark
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>
#include <sys/resource.h>
#include <zmq.h>
#include "sq_bench.h"

//  Children listed per process, at most; socat has one per connection
#define S_CHILDREN_MAX 512

int64_t
sq_bench_now_ns (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
}

bool
sq_bench_parse_long (const char *text, long max, long *value)
{
    char *end;
    errno = 0;
    long number = strtol (text, &end, 10);
    if (errno || end == text || *end || number < 1 || number > max)
        return false;
    *value = number;
    return true;
}

//  Reads the direct children of pid from /proc/PID/task/*/children (a
//  child is listed under the thread that forked it). Returns the count.
static size_t
s_children (int pid, int *children, size_t max)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/task", pid);
    DIR *tasks = opendir (path);
    if (!tasks)
        return 0;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (tasks)) && count < max) {
        if (entry->d_name [0] == '.')
            continue;
        char file [128];
        snprintf (file, sizeof file, "/proc/%d/task/%.16s/children", pid, entry->d_name);
        FILE *list = fopen (file, "r");
        if (!list)
            continue;
        int child;
        while (count < max && fscanf (list, "%d", &child) == 1)
            children [count++] = child;
        fclose (list);
    }
    closedir (tasks);
    return count;
}

//  utime + stime of one process, in seconds, or -1. These are sampled at
//  timer ticks: a process that runs in short bursts between ticks (a socat
//  child, an idle proxy) can show far less than it used.
static double
s_cpu_ticks (int pid)
{
    char path [64], line [1024];
    snprintf (path, sizeof path, "/proc/%d/stat", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    size_t size = fread (line, 1, sizeof line - 1, file);
    fclose (file);
    line [size] = '\0';
    //  The command name may hold spaces and parentheses: skip to the last ')'
    char *rest = strrchr (line, ')');
    unsigned long long utime, stime;
    //  After ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt
    //  majflt cmajflt utime(14) stime(15)
    if (!rest || sscanf (rest + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                         &utime, &stime) != 2)
        return -1;
    return (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
}

//  CPU time of one process in seconds: the exact run time the scheduler
//  keeps per thread (/proc/PID/task/TID/schedstat, first field, ns),
//  summed over its threads; utime + stime where that is not available
static double
s_cpu_one (int pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/task", pid);
    DIR *tasks = opendir (path);
    if (!tasks)
        return -1;
    double total = 0;
    bool found = false;
    struct dirent *entry;
    while ((entry = readdir (tasks))) {
        if (entry->d_name [0] == '.')
            continue;
        char file [128];
        snprintf (file, sizeof file, "/proc/%d/task/%.16s/schedstat", pid, entry->d_name);
        FILE *stat = fopen (file, "r");
        unsigned long long run_ns;
        if (stat && fscanf (stat, "%llu", &run_ns) == 1) {
            total += (double) run_ns / 1e9;
            found = true;
        }
        if (stat)
            fclose (stat);
    }
    closedir (tasks);
    return found? total: s_cpu_ticks (pid);
}

double
sq_bench_proc_cpu (int pid)
{
    double total = s_cpu_one (pid);
    if (total < 0)
        return -1;
    int children [S_CHILDREN_MAX];
    size_t count = s_children (pid, children, S_CHILDREN_MAX);
    for (size_t index = 0; index < count; index++) {
        double cpu = s_cpu_one (children [index]);
        if (cpu > 0)
            total += cpu;
    }
    return total;
}

//  One "Field:   N kB" line of /proc/PID/status, or -1
static long
s_kib_one (int pid, const char *field)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    long value = -1;
    size_t length = strlen (field);
    while (fgets (line, sizeof line, file))
        if (strncmp (line, field, length) == 0 && line [length] == ':') {
            value = strtol (line + length + 1, NULL, 10);
            break;
        }
    fclose (file);
    return value;
}

long
sq_bench_proc_kib (int pid, const char *field)
{
    long total = s_kib_one (pid, field);
    if (total < 0)
        return -1;
    int children [S_CHILDREN_MAX];
    size_t count = s_children (pid, children, S_CHILDREN_MAX);
    for (size_t index = 0; index < count; index++) {
        long kib = s_kib_one (children [index], field);
        if (kib > 0)
            total += kib;
    }
    return total;
}

//  Returns where the value of key starts among the members of the object
//  that opens at object, or NULL. Only that object's own members count:
//  the same key inside a nested object (frontend.refused.rate) is skipped.
static const char *
s_json_member (const char *object, const char *key)
{
    size_t length = strlen (key);
    int depth = 0;
    for (const char *cursor = object; *cursor; cursor++) {
        if (*cursor == '"') {
            const char *start = ++cursor;
            while (*cursor && *cursor != '"')
                cursor += cursor [0] == '\\' && cursor [1]? 2: 1;
            if (!*cursor)
                return NULL;
            if (depth == 1 && cursor [1] == ':' && (size_t) (cursor - start) == length
            &&  memcmp (start, key, length) == 0)
                return cursor + 2;
        }
        else
        if (*cursor == '{' || *cursor == '[')
            depth++;
        else
        if ((*cursor == '}' || *cursor == ']') && --depth == 0)
            return NULL;
    }
    return NULL;
}

long long
sq_bench_json_int (const char *json, const char *group, const char *key)
{
    const char *object = s_json_member (json, group);
    if (!object || *object != '{')
        return -1;
    const char *value = s_json_member (object, key);
    if (!value || (*value != '-' && (*value < '0' || *value > '9')))
        return -1;
    return strtoll (value, NULL, 10);
}

int
sq_bench_stats_text (void *context, const char *control, char *reply, size_t size)
{
    //  A fresh REQ each time: after a timeout a REQ could not send again
    void *request = zmq_socket (context, ZMQ_REQ);
    int linger = 0;
    zmq_setsockopt (request, ZMQ_LINGER, &linger, sizeof linger);
    int length = -1;
    if (zmq_connect (request, control) == 0 && zmq_send (request, "STATS", 5, 0) == 5) {
        zmq_pollitem_t item = { request, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 2000) == 1)
            length = zmq_recv (request, reply, size - 1, 0);
    }
    zmq_close (request);
    if (length < 0)
        return -1;
    //  zmq_recv truncates silently to the buffer
    if ((size_t) length > size - 1)
        length = (int) (size - 1);
    reply [length] = '\0';
    return length;
}

long long
sq_bench_stats (void *context, const char *control, const char *group, const char *key)
{
    char reply [8192];
    if (sq_bench_stats_text (context, control, reply, sizeof reply) <= 0)
        return -1;
    return sq_bench_json_int (reply, group, key);
}

long
sq_bench_raise_nofile (long want)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
        return -1;
    if ((long) limit.rlim_cur < want) {
        struct rlimit wanted = { (rlim_t) want, limit.rlim_max };
        if ((long) limit.rlim_max < want)
            wanted.rlim_max = (rlim_t) want;
        //  Raising the hard limit needs privilege; fall back to the hard one
        if (setrlimit (RLIMIT_NOFILE, &wanted) != 0) {
            wanted.rlim_cur = limit.rlim_max;
            wanted.rlim_max = limit.rlim_max;
            setrlimit (RLIMIT_NOFILE, &wanted);
        }
        getrlimit (RLIMIT_NOFILE, &limit);
    }
    return (long) limit.rlim_cur;
}
