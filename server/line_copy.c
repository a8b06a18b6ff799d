/* A growable, NUL-terminated copy of one command line (server/line_copy.h). */
#include "server/line_copy.h"

#include <stdlib.h>
#include <string.h>

#define LINE_COPY_FIRST 256   /* bytes: most command lines fit */
#define LINE_COPY_KEEP 16384  /* a buffer larger than this is freed after its line */

char *line_copy_set(struct line_copy *lc, const char *text, size_t n)
{
    if (n + 1 > lc->cap) {
        size_t cap = lc->cap ? lc->cap : LINE_COPY_FIRST;
        while (cap < n + 1)
            cap *= 2;
        char *p = realloc(lc->data, cap);
        if (!p)
            return NULL;
        lc->data = p;
        lc->cap = cap;
    }
    memcpy(lc->data, text, n);
    lc->data[n] = '\0';
    return lc->data;
}

void line_copy_trim(struct line_copy *lc)
{
    if (lc->cap > LINE_COPY_KEEP)
        line_copy_free(lc);
}

void line_copy_free(struct line_copy *lc)
{
    free(lc->data);
    lc->data = NULL;
    lc->cap = 0;
}
