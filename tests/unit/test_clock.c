/* Unit tests for server/clock.c: memcached's conversion of client exptimes. */
#include <check.h>
#include <stdlib.h>

#include "server/clock.h"

START_TEST(exptime_conversions)
{
    clock_init();
    clock_set_for_test(1000);
    ck_assert_uint_eq(clock_from_exptime(0), 0);            /* never */
    ck_assert_uint_eq(clock_from_exptime(-1), 1);           /* already expired */
    ck_assert_uint_eq(clock_from_exptime(10), 1010);        /* relative */
    ck_assert_uint_eq(clock_from_exptime(CLOCK_REALTIME_MAXDELTA), 1000 + CLOCK_REALTIME_MAXDELTA);
    time_t start = clock_process_started();
    ck_assert_uint_eq(clock_from_exptime(start + 5000), 5000); /* absolute */
    ck_assert_uint_eq(clock_from_exptime(CLOCK_REALTIME_MAXDELTA + 1), 1); /* absolute, long past */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("clock");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, exptime_conversions);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
