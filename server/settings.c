#include "server/settings.h"

#include <unistd.h>

struct settings settings;

/* -t's default (server/option_list.h). */
static int settings_online_cores(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (int)cores : 4;
}

#define SETTINGS_DEFAULT(kind, where, short_name, long_name, arg, help, stat, rank, ...) \
    SETTINGS_DEFAULT_##kind(__VA_ARGS__)
#define SETTINGS_DEFAULT_INT(field, type, value, min, max, scale, ...) \
    .field = (type)(value) * (scale),
#define SETTINGS_DEFAULT_BOOL(field, set_to, ...) .field = !(set_to),
#define SETTINGS_DEFAULT_STRING(field, ...) .field = NULL,
#define SETTINGS_DEFAULT_CUSTOM(field, type, value, ...) .field = (value),
#define SETTINGS_DEFAULT_NO_SETTING(...)

void settings_init(struct settings *s)
{
    *s = (struct settings){OPTION_LIST(SETTINGS_DEFAULT)};
}
