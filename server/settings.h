#ifndef SHOAL_SETTINGS_H
#define SHOAL_SETTINGS_H
/* The server's configuration, filled once at start-up from the command line (server/options.c)
 * and read-only afterwards, except where a field says otherwise. */
#include <stdbool.h>
#include <stddef.h>

#include "server/cluster_options.h"
#include "server/option_list.h"

/* -B: memcached's binding protocols. With auto, a connection whose first byte is 0x80 speaks
 * binary, any other ASCII. */
enum binding_protocol {
    BINDING_AUTO,
    BINDING_ASCII,
    BINDING_BINARY,
};

/* The fields of the options (server/option_list.h: one row each, with its default), then the
 * state that no single option owns. */
#define SETTINGS_FIELD(kind, where, short_name, long_name, arg, help, stat, rank, ...) \
    SETTINGS_FIELD_##kind(__VA_ARGS__)
#define SETTINGS_FIELD_INT(field, type, ...) type field;
#define SETTINGS_FIELD_BOOL(field, ...) bool field;
#define SETTINGS_FIELD_STRING(field, ...) const char *field;
#define SETTINGS_FIELD_CUSTOM(field, type, ...) type field;
#define SETTINGS_FIELD_NO_SETTING(...)

struct settings {
    OPTION_LIST(SETTINGS_FIELD)
    bool detail_enabled;     /* -D turns it on; `stats detail on|off` changes it at run time */
    struct cluster_settings cluster; /* --node-name, --join, ... (server/cluster_options.h) */
};

extern struct settings settings;

/* Sets every field to its default from server/option_list.h: memcached 1.6's, except num_threads,
 * the number of online cores. */
void settings_init(struct settings *s);

#endif
