/*  =========================================================================
    sq_config - the configuration file: command-line options in ZPL

    Every command-line option is a name in the file, without its dashes:

        frontend = "tcp://0.0.0.0:5555"
        max-queue = 1000
        control-open-read = true

    A name with children makes the options "<name>-<child>", so related
    options can be grouped (or written flat, as on the command line):

        frontend = "tcp://0.0.0.0:5555"
            allow = "10.0.0.0/8"            #   --frontend-allow
            mechanisms = CURVE              #   --frontend-mechanisms

    Address rules, routes and weights (the route file's lines) go under
    "rules", one a line, as "alias", "route" and "weight":

        rules
            alias = "backend 10.0.1.0/24 billing"
            route = "alice billing-1 billing-2"
            weight = "billing-1 3"

    Services (see doc/services.md) are declared under "services", each
    with its own options and rules, which override the top level's:
        services
            billing
                frontend = "tcp://0.0.0.0:5555"
                backend = "tcp://127.0.0.1:5556"
                rules
                    route = "alice billing-1"
    This module only reads the file into a list of (option, value, line)
    and the rules' text; the command line decides what the names mean.
    =========================================================================
*/
#ifndef SQ_CONFIG_H_INCLUDED
#define SQ_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *option;               //  "frontend-allow"
    char *value;                //  NULL for a name given alone (a flag)
    int line;
    int service;                //  The index of its service, or -1: the top level
} sq_config_entry_t;

//  The most services a file declares
#define SQ_CONFIG_SERVICES_MAX 64

typedef struct sq_config sq_config_t;

//  Reads a configuration file; NULL with "FILE: line N: reason" in error
sq_config_t *sq_config_load (const char *path, char *error, size_t error_size);

//  The same from text (for tests); NULL with "line N: reason"
sq_config_t *sq_config_parse (const char *text, char *error, size_t error_size);

void sq_config_destroy (sq_config_t **self_p);

//  The options, in the order of the file, those of every service among them
size_t sq_config_count (const sq_config_t *self);
const sq_config_entry_t *sq_config_entry (const sq_config_t *self, size_t index);

//  The rules as route-file text ("ALIAS ...\n"), or "" when there are none
const char *sq_config_rules (const sq_config_t *self);

//  The file's line of rule number `number` (from 1, as the rules' text
//  counts its lines), or 0
int sq_config_rule_line (const sq_config_t *self, size_t number);

//  The services the file declares, in its order: how many, and each one's
//  name, line, and rules as route-file text ("" when it has none); the
//  line in the file of rule `number` of a service, or 0
size_t sq_config_service_count (const sq_config_t *self);
const char *sq_config_service_name (const sq_config_t *self, size_t service);
int sq_config_service_line (const sq_config_t *self, size_t service);
const char *sq_config_service_rules (const sq_config_t *self, size_t service);
int sq_config_service_rule_line (const sq_config_t *self, size_t service, size_t number);

#endif
