/* Placeholder until the server lands. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "shoal: not yet\n");
    return 1;
}
