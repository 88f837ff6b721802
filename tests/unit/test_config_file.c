/*  =========================================================================
    test_config_file - the configuration file's reader: options at the top
    level and under services, each service's rules, and what it refuses
    =========================================================================
*/
#include "sq_test.h"
#include "sq_config.h"

SQ_TEST_DEFINE

//  The entry of that option in that service (-1: the top level), or NULL
static const sq_config_entry_t *
s_entry (const sq_config_t *config, int service, const char *option)
{
    for (size_t index = 0; index < sq_config_count (config); index++) {
        const sq_config_entry_t *entry = sq_config_entry (config, index);
        if (entry->service == service && strcmp (entry->option, option) == 0)
            return entry;
    }
    return NULL;
}

//  Options at the top level and in two services, grouped options and
//  flags in a service, and rules of the top level and of one service
static void
test_services (void)
{
    const char *text =
        "max-queue = 7\n"
        "rules\n"
        "    route = \"alice w1\"\n"
        "services\n"
        "    billing\n"
        "        frontend = \"tcp://127.0.0.1:5555\"\n"
        "            allow = \"10.0.0.0/8\"\n"
        "        backend = \"tcp://127.0.0.1:5556\"\n"
        "        rules\n"
        "            route = \"bob b1 b2\"\n"
        "            weight = \"b1 3\"\n"
        "    auth.v2\n"
        "        frontend = \"tcp://127.0.0.1:6555\"\n"
        "        backend = \"tcp://127.0.0.1:6556\"\n"
        "        syslog\n"
        "log-level = debug\n";
    char error [256] = "";
    sq_config_t *config = sq_config_parse (text, error, sizeof error);
    SQ_CHECK_MSG (config, "%s", error);
    if (!config)
        return;
    SQ_CHECK_EQ ((int) sq_config_service_count (config), 2);
    SQ_CHECK_STR (sq_config_service_name (config, 0), "billing");
    SQ_CHECK_STR (sq_config_service_name (config, 1), "auth.v2");
    SQ_CHECK_EQ (sq_config_service_line (config, 0), 5);
    SQ_CHECK (sq_config_service_name (config, 2) == NULL);
    SQ_CHECK (s_entry (config, -1, "max-queue") && s_entry (config, -1, "log-level"));
    SQ_CHECK (s_entry (config, -1, "frontend") == NULL);
    const sq_config_entry_t *allow = s_entry (config, 0, "frontend-allow");
    SQ_CHECK (allow && strcmp (allow->value, "10.0.0.0/8") == 0 && allow->line == 7);
    SQ_CHECK (s_entry (config, 0, "backend") && s_entry (config, 1, "frontend"));
    const sq_config_entry_t *flag = s_entry (config, 1, "syslog");
    SQ_CHECK (flag && flag->value == NULL);
    SQ_CHECK (s_entry (config, 0, "syslog") == NULL);
    SQ_CHECK_STR (sq_config_rules (config), "ROUTE alice w1\n");
    SQ_CHECK_STR (sq_config_service_rules (config, 0), "ROUTE bob b1 b2\nWEIGHT b1 3\n");
    SQ_CHECK_STR (sq_config_service_rules (config, 1), "");
    SQ_CHECK_EQ (sq_config_service_rule_line (config, 0, 2), 11);
    SQ_CHECK_EQ (sq_config_service_rule_line (config, 0, 3), 0);
    SQ_CHECK_EQ (sq_config_rule_line (config, 1), 3);
    sq_config_destroy (&config);
    SQ_CHECK (config == NULL);
}

//  What a file may not say about services, each with its reason
static void
test_services_refused (void)
{
    struct { const char *text, *reason; } cases [] = {
        { "services = x\n", "holds services" },
        { "services\n    billing = 1\n", "holds options" },
        { "services\n    bad/name\n", "not a service" },
        { "services\n    has space\n", "" },
        { "services\n    billing\n    billing\n", "declared twice" },
        { "services\n    billing\n        services\n            x\n", "top level only" },
        { "services\n    billing\n        rules\n            drop = \"x\"\n", "alias, route" },
        { "services\n    a123456789012345678901234567890123456789012345678901234567890123\n",
          "not a service name" },
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        char error [256] = "";
        sq_config_t *config = sq_config_parse (cases [index].text, error, sizeof error);
        SQ_CHECK_MSG (config == NULL, "accepted: %s", cases [index].text);
        SQ_CHECK_MSG (strstr (error, cases [index].reason), "%s: %s", cases [index].text,
                      error);
        sq_config_destroy (&config);
    }
}

//  A file without services has none, and its entries are the top level's
static void
test_no_services (void)
{
    char error [256] = "";
    sq_config_t *config = sq_config_parse ("frontend = \"tcp://127.0.0.1:1\"\n"
                                           "    allow = \"10.0.0.1\"\n", error, sizeof error);
    SQ_CHECK_MSG (config, "%s", error);
    if (!config)
        return;
    SQ_CHECK_EQ ((int) sq_config_service_count (config), 0);
    SQ_CHECK (s_entry (config, -1, "frontend") && s_entry (config, -1, "frontend-allow"));
    SQ_CHECK_STR (sq_config_service_rules (config, 0), "");
    sq_config_destroy (&config);
}

int
main (void)
{
    SQ_RUN (test_services);
    SQ_RUN (test_services_refused);
    SQ_RUN (test_no_services);
    return sq_test_summary ();
}
