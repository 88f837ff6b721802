/*  =========================================================================
    test_admission - CIDR blocks, allow/deny lists, connection limits and
    the per-IP rate, as pure functions with a synthetic clock
    =========================================================================
*/
#include "sq_test.h"
#include "sq_cidr.h"
#include "sq_access.h"
#include "sq_admission.h"
#include <arpa/inet.h>

SQ_TEST_DEFINE

static bool
s_in (const char *block, const char *host)
{
    sq_cidr_t cidr;
    char error [128];
    int family;
    uint8_t address [16];
    return sq_cidr_parse (block, &cidr, error, sizeof error)
        && sq_cidr_host (host, &family, address)
        && sq_cidr_contains (&cidr, family, address);
}

static void
test_cidr (void)
{
    SQ_CHECK (s_in ("10.0.0.0/8", "10.200.3.4"));
    SQ_CHECK (!s_in ("10.0.0.0/8", "11.0.0.1"));
    SQ_CHECK (s_in ("192.168.1.7", "192.168.1.7"));
    SQ_CHECK (!s_in ("192.168.1.7", "192.168.1.6"));
    SQ_CHECK (s_in ("172.16.0.0/12", "172.31.255.255"));
    SQ_CHECK (!s_in ("172.16.0.0/12", "172.32.0.0"));
    SQ_CHECK (s_in ("0.0.0.0/0", "8.8.8.8"));
    SQ_CHECK (s_in ("fd00::/8", "fd12:3456::1"));
    SQ_CHECK (!s_in ("fd00::/8", "fe80::1"));
    SQ_CHECK (s_in ("::1", "::1"));
    SQ_CHECK (s_in ("2001:db8::/33", "2001:db8:7fff::1"));
    SQ_CHECK (!s_in ("2001:db8::/33", "2001:db8:8000::1"));
    //  Families never match each other; a mapped IPv6 peer is IPv4
    SQ_CHECK (!s_in ("::/0", "10.0.0.1"));
    SQ_CHECK (!s_in ("0.0.0.0/0", "::1"));
    SQ_CHECK (s_in ("10.1.2.3", "::ffff:10.1.2.3"));
    SQ_CHECK (s_in ("10.0.0.0/8", "::FFFF:10.9.9.9"));
    //  Bad blocks say why
    sq_cidr_t cidr;
    char error [128];
    SQ_CHECK (!sq_cidr_parse ("10.0.0.0/33", &cidr, error, sizeof error));
    SQ_CHECK (strstr (error, "prefix"));
    SQ_CHECK (!sq_cidr_parse ("10.0.0.0/", &cidr, error, sizeof error));
    SQ_CHECK (!sq_cidr_parse ("::1/129", &cidr, error, sizeof error));
    SQ_CHECK (!sq_cidr_parse ("example.com", &cidr, error, sizeof error));
    SQ_CHECK (strstr (error, "not an IP"));
    SQ_CHECK (!sq_cidr_parse ("", &cidr, error, sizeof error));
}

static void
test_access_lists (void)
{
    sq_access_t *access = sq_access_new ();
    char error [128];
    SQ_CHECK (sq_access_open (access));
    SQ_CHECK (sq_access_permits (access, "203.0.113.9"));
    SQ_CHECK (sq_access_permits (access, "unknown"));
    SQ_CHECK (sq_access_add (access, false, "203.0.113.0/24", error, sizeof error));
    SQ_CHECK (!sq_access_permits (access, "203.0.113.9"));
    SQ_CHECK (sq_access_permits (access, "198.51.100.1"));
    //  With an allow list, only its blocks; a deny still wins
    SQ_CHECK (sq_access_add (access, true, "203.0.0.0/16,fd00::/8", error, sizeof error));
    SQ_CHECK (!sq_access_permits (access, "198.51.100.1"));
    SQ_CHECK (sq_access_permits (access, "203.0.5.5"));
    SQ_CHECK (!sq_access_permits (access, "203.0.113.9"));
    SQ_CHECK (sq_access_permits (access, "fd00::5"));
    SQ_CHECK (!sq_access_permits (access, "unknown"));
    //  A bad entry adds nothing
    SQ_CHECK (!sq_access_add (access, true, "10.0.0.0/8,bad", error, sizeof error));
    SQ_CHECK (strstr (error, "bad"));
    SQ_CHECK (!sq_access_permits (access, "10.1.1.1"));
    SQ_CHECK (!sq_access_add (access, false, ",,", error, sizeof error));
    sq_access_destroy (&access);
    SQ_CHECK (access == NULL);
}

static void
test_connection_limits (void)
{
    sq_admission_t *admission = sq_admission_new ();
    sq_admission_limits_t limits = { .max_connections = { 3, 0 }, .max_per_ip = 2 };
    int64_t now = 1000;
    //  Side limit, from the live count the caller gives
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.0.0.9", 3, now),
                 SQ_REFUSED_MAX_CONNECTIONS);
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_BACKEND, "10.0.0.9", 3, now),
                 SQ_ADMITTED);
    //  Per IP and side
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.0.0.1", 0, now),
                 SQ_ADMITTED);
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.0.0.1", 1, now),
                 SQ_ADMITTED);
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.0.0.1", 2, now),
                 SQ_REFUSED_PER_IP);
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.0.0.2", 2, now),
                 SQ_ADMITTED);
    sq_admission_left (admission, SQ_FRONTEND, "10.0.0.1", now);
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.0.0.1", 2, now),
                 SQ_ADMITTED);
    //  Records (one per side and IP checked past the side limit) go once
    //  an IP has no connection left and a second passed
    SQ_CHECK_EQ (sq_admission_tracked (admission), 3);
    sq_admission_left (admission, SQ_FRONTEND, "10.0.0.1", now);
    sq_admission_left (admission, SQ_FRONTEND, "10.0.0.1", now);
    sq_admission_left (admission, SQ_FRONTEND, "10.0.0.1", now);     //  One too many: harmless
    sq_admission_tick (admission, now + 999);
    SQ_CHECK_EQ (sq_admission_tracked (admission), 3);
    sq_admission_tick (admission, now + 1000);
    SQ_CHECK_EQ (sq_admission_tracked (admission), 2);
    sq_admission_destroy (&admission);
}

static void
test_rate (void)
{
    sq_admission_t *admission = sq_admission_new ();
    sq_access_t *access = sq_access_new ();
    char error [64];
    SQ_CHECK (sq_access_add (access, false, "10.6.6.6", error, sizeof error));
    sq_admission_limits_t limits = { .rate_per_ip = 4, .access = { access, NULL } };
    int64_t now = 5000;
    //  A burst of 4, then refused; other IPs have their own bucket
    for (int index = 0; index < 4; index++)
        SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.0.0.1", 0, now),
                     SQ_ADMITTED);
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.0.0.1", 0, now),
                 SQ_REFUSED_RATE);
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.0.0.2", 0, now),
                 SQ_ADMITTED);
    //  One token every 250 ms
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.0.0.1", 0, now + 249),
                 SQ_REFUSED_RATE);
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.0.0.1", 0, now + 250),
                 SQ_ADMITTED);
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.0.0.1", 0, now + 250),
                 SQ_REFUSED_RATE);
    //  Access lists come first, and never use a token
    SQ_CHECK_EQ (sq_admission_check (admission, &limits, SQ_FRONTEND, "10.6.6.6", 0, now),
                 SQ_REFUSED_DENIED);
    SQ_CHECK_STR (sq_refusal_name (SQ_REFUSED_RATE), "rate");
    SQ_CHECK_STR (sq_refusal_name (SQ_REFUSED_DENIED), "denied");
    sq_admission_destroy (&admission);
    sq_access_destroy (&access);
}

int
main (void)
{
    SQ_RUN (test_cidr);
    SQ_RUN (test_access_lists);
    SQ_RUN (test_connection_limits);
    SQ_RUN (test_rate);
    return sq_test_summary ();
}
