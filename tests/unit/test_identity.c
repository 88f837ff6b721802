/*  Unit tests of connection names: registrations, address rules, route file  */
#include "sq_test.h"
#include "sq_identity.h"
#include "sq_routes.h"
#include "sq_log.h"
#include "sq_fake_engine.h"

SQ_TEST_DEFINE

static void
s_name_of (sq_identity_t *identity, sq_side_t side, const char *host, const char *expected)
{
    char name [SQ_NAME_MAX];
    sq_identity_resolve (identity, side, host, name, sizeof name);
    SQ_CHECK_STR (name, expected);
}

static void
test_rules_longest_prefix_wins (void)
{
    sq_identity_t *identity = sq_identity_new ();
    char error [256];
    SQ_CHECK (sq_identity_alias (identity, SQ_BACKEND, "10.0.0.0/8", "wide", error, sizeof error));
    SQ_CHECK (sq_identity_alias (identity, SQ_BACKEND, "10.1.0.0/16", "narrow", error, sizeof error));
    SQ_CHECK (sq_identity_alias (identity, SQ_BACKEND, "10.1.2.3", "host", error, sizeof error));
    SQ_CHECK (sq_identity_alias (identity, SQ_BACKEND, "fd00::/8", "v6", error, sizeof error));
    SQ_CHECK (sq_identity_alias (identity, SQ_FRONTEND, "10.0.0.0/8", "clients", error, sizeof error));
    s_name_of (identity, SQ_BACKEND, "10.9.9.9", "wide");
    s_name_of (identity, SQ_BACKEND, "10.1.9.9", "narrow");
    s_name_of (identity, SQ_BACKEND, "10.1.2.3", "host");
    s_name_of (identity, SQ_BACKEND, "fd12::1", "v6");
    s_name_of (identity, SQ_BACKEND, "11.0.0.1", "11.0.0.1");     //  No rule: the IP
    s_name_of (identity, SQ_FRONTEND, "10.1.2.3", "clients");     //  Sides apart
    //  Replacing and removing rules
    SQ_CHECK (sq_identity_alias (identity, SQ_BACKEND, "10.1.2.3", "renamed", error, sizeof error));
    s_name_of (identity, SQ_BACKEND, "10.1.2.3", "renamed");
    SQ_CHECK (sq_identity_unalias (identity, SQ_BACKEND, "10.1.2.3"));
    SQ_CHECK (!sq_identity_unalias (identity, SQ_BACKEND, "10.1.2.3"));
    s_name_of (identity, SQ_BACKEND, "10.1.2.3", "narrow");
    SQ_CHECK_EQ (sq_identity_alias_count (identity), 4);
    sq_identity_destroy (&identity);
}

static void
test_bad_rules_refused (void)
{
    sq_identity_t *identity = sq_identity_new ();
    char error [256];
    const char *bad [] = { "10.0.0.0/33", "300.1.1.1", "fd00::/129", "host", "10.0.0.0/", "" };
    for (size_t index = 0; index < sizeof bad / sizeof bad [0]; index++) {
        SQ_CHECK (!sq_identity_alias (identity, SQ_BACKEND, bad [index], "x", error, sizeof error));
        SQ_CHECK (strstr (error, bad [index]));
    }
    SQ_CHECK_EQ (sq_identity_alias_count (identity), 0);
    sq_identity_destroy (&identity);
}

static void
test_registrations_wait_then_expire (void)
{
    sq_identity_t *identity = sq_identity_new ();
    char name [SQ_NAME_MAX];
    SQ_CHECK (sq_identity_register (identity, SQ_FRONTEND, "10.0.0.1:5000", "C", 100));
    SQ_CHECK (sq_identity_register (identity, SQ_BACKEND, "10.0.0.1:5000", "W", 200));
    SQ_CHECK_EQ (sq_identity_pending (identity), 2);
    SQ_CHECK_EQ (sq_identity_next_expiry (identity), 100);
    SQ_CHECK (!sq_identity_take (identity, SQ_FRONTEND, "10.0.0.1:5001", name, sizeof name));
    SQ_CHECK (sq_identity_take (identity, SQ_FRONTEND, "10.0.0.1:5000", name, sizeof name));
    SQ_CHECK_STR (name, "C");
    SQ_CHECK (!sq_identity_take (identity, SQ_FRONTEND, "10.0.0.1:5000", name, sizeof name));
    SQ_CHECK_EQ (sq_identity_expire (identity, 199), 0);
    SQ_CHECK_EQ (sq_identity_expire (identity, 200), 1);
    SQ_CHECK_EQ (sq_identity_pending (identity), 0);
    SQ_CHECK_EQ (sq_identity_next_expiry (identity), INT64_MAX);
    sq_identity_destroy (&identity);
}

static sq_core_t *
s_core_new (fake_engine_t **engine)
{
    sq_log_set_level (SQ_LOG_ERROR);
    *engine = calloc (1, sizeof **engine);
    sq_core_config_t config;
    sq_core_config_defaults (&config);
    sq_engine_t ops = fake_engine_ops (*engine);
    return sq_core_new (&config, &ops);
}

static void
test_route_file_all_or_nothing (void)
{
    fake_engine_t *engine;
    sq_core_t *core = s_core_new (&engine);
    char error [256];
    const char *good =
        "# rules\n"
        "ALIAS backend 10.0.0.0/8 W1   # trailing comment\n"
        "\n"
        "ROUTE C W2 W1\n"
        "WEIGHT W1 3\n";
    SQ_CHECK (sq_routes_load (core, good, error, sizeof error, 0));
    sq_balancer_t *balancer = sq_core_balancer (core);
    SQ_CHECK_EQ (sq_balancer_route (balancer, "C")->count, 2);
    SQ_CHECK_EQ (sq_balancer_worker (balancer, "W1")->weight, 3);
    SQ_CHECK_EQ (sq_identity_alias_count (sq_core_identity (core)), 1);
    const char *bad [] = {
        "ROUTE C W1\nROUTE onlyclient\n",
        "ROUTE C W1\nALIAS sideways 10.0.0.0/8 X\n",
        "ROUTE C W1\nALIAS backend 10.0.0.0/99 X\n",
        "ROUTE C W1\nWEIGHT W1 0\n",
        "ROUTE C W1\nFROB x\n",
    };
    for (size_t index = 0; index < sizeof bad / sizeof bad [0]; index++) {
        SQ_CHECK (!sq_routes_load (core, bad [index], error, sizeof error, 0));
        SQ_CHECK_MSG (strncmp (error, "line 2: ", 8) == 0, "%s", error);
        //  The tables in force are untouched
        SQ_CHECK_EQ (sq_balancer_route (balancer, "C")->count, 2);
        SQ_CHECK_EQ (sq_balancer_worker (balancer, "W1")->weight, 3);
    }
    //  A reload replaces: what the new file lacks is gone
    SQ_CHECK (sq_routes_load (core, "ROUTE D W9\n", error, sizeof error, 0));
    SQ_CHECK (sq_balancer_route (balancer, "C") == NULL);
    SQ_CHECK (sq_balancer_route (balancer, "D"));
    SQ_CHECK (sq_balancer_worker (balancer, "W1") == NULL);
    SQ_CHECK_EQ (sq_identity_alias_count (sq_core_identity (core)), 0);
    sq_core_destroy (&core);
    free (engine);
}

int
main (void)
{
    SQ_RUN (test_rules_longest_prefix_wins);
    SQ_RUN (test_bad_rules_refused);
    SQ_RUN (test_registrations_wait_then_expire);
    SQ_RUN (test_route_file_all_or_nothing);
    return sq_test_summary ();
}
