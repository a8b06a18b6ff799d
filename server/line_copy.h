#ifndef SHOAL_SERVER_LINE_COPY_H
#define SHOAL_SERVER_LINE_COPY_H
/* A command line copied out of the input buffer, NUL-terminated for the tokenizer (which writes
 * into it), in a buffer that grows for long lines (a multi-get of many keys) and is let go once a
 * line has made it large, so that an idle connection does not keep it. The struct owns data;
 * line_copy_free frees it. Zero-initialized is empty. */
#include <stddef.h>

struct line_copy {
    char *data;
    size_t cap;
};

/* The first n bytes of text, NUL-terminated, in lc's buffer; NULL when out of memory. */
char *line_copy_set(struct line_copy *lc, const char *text, size_t n);
/* After a line is handled: frees a buffer that grew past what an ordinary line needs. */
void line_copy_trim(struct line_copy *lc);
void line_copy_free(struct line_copy *lc);

#endif
