/* Placeholder until the stats module lands: answers every `stats` with an empty list. */
#include "server/stats.h"

#include "server/outbuf.h"

void stats_command(struct session *s, const char *args, size_t nargs, struct outbuf *out)
{
    (void)s;
    (void)args;
    (void)nargs;
    outbuf_append_str(out, "END\r\n");
}
