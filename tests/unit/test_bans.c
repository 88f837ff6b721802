/*  =========================================================================
    Unit tests of the ban table and the tally: back-off doubling to its
    cap, clearing, forgetting, and counts by key
    =========================================================================
*/
#include "sq_test.h"
#include "sq_bans.h"
#include "sq_tally.h"

SQ_TEST_DEFINE

static void
test_doubling_to_the_cap (void)
{
    sq_bans_t *bans = sq_bans_new ();
    int64_t now = 1000;
    SQ_CHECK (!sq_bans_refused (bans, "10.0.0.1", now));
    SQ_CHECK_EQ (sq_bans_fail (bans, "10.0.0.1", 30000, 100000, now), 30000);
    SQ_CHECK (sq_bans_refused (bans, "10.0.0.1", now));
    SQ_CHECK (sq_bans_refused (bans, "10.0.0.1", now + 29999));
    SQ_CHECK (!sq_bans_refused (bans, "10.0.0.1", now + 30000));
    SQ_CHECK (!sq_bans_refused (bans, "10.0.0.2", now));
    //  Each further failure doubles it, up to the cap
    now += 30000;
    SQ_CHECK_EQ (sq_bans_fail (bans, "10.0.0.1", 30000, 100000, now), 60000);
    now += 60000;
    SQ_CHECK_EQ (sq_bans_fail (bans, "10.0.0.1", 30000, 100000, now), 100000);
    now += 100000;
    SQ_CHECK_EQ (sq_bans_fail (bans, "10.0.0.1", 30000, 100000, now), 100000);
    SQ_CHECK_EQ (sq_bans_active (bans, now), 1);
    SQ_CHECK_EQ (sq_bans_count (bans), 1);
    sq_bans_destroy (&bans);
    SQ_CHECK (bans == NULL);
}

static void
test_off_and_odd_caps (void)
{
    sq_bans_t *bans = sq_bans_new ();
    //  0: bans are off
    SQ_CHECK_EQ (sq_bans_fail (bans, "a", 0, 1000, 0), 0);
    SQ_CHECK (!sq_bans_refused (bans, "a", 0));
    SQ_CHECK_EQ (sq_bans_count (bans), 0);
    //  A cap below the base: the base holds
    SQ_CHECK_EQ (sq_bans_fail (bans, "b", 5000, 1000, 0), 5000);
    SQ_CHECK_EQ (sq_bans_fail (bans, "b", 5000, 1000, 5000), 5000);
    //  A huge number of failures does not overflow
    for (int index = 0; index < 100; index++)
        sq_bans_fail (bans, "c", 1000, 3600000, 0);
    SQ_CHECK_EQ (sq_bans_fail (bans, "c", 1000, 3600000, 0), 3600000);
    sq_bans_destroy (&bans);
}

static void
test_clear_and_forget (void)
{
    sq_bans_t *bans = sq_bans_new ();
    sq_bans_fail (bans, "client-a", 1000, 8000, 0);
    sq_bans_fail (bans, "client-a", 1000, 8000, 1000);
    sq_bans_fail (bans, "10.0.0.9", 1000, 8000, 0);
    SQ_CHECK (sq_bans_clear (bans, "client-a"));
    SQ_CHECK (!sq_bans_clear (bans, "client-a"));
    SQ_CHECK (!sq_bans_refused (bans, "client-a", 1000));
    //  Cleared: the next failure starts at the base again
    SQ_CHECK_EQ (sq_bans_fail (bans, "client-a", 1000, 8000, 2000), 1000);
    //  Remembered while its ban is over but recent, forgotten after twice
    //  its length
    sq_bans_expire (bans, 1000);
    SQ_CHECK_EQ (sq_bans_count (bans), 2);
    SQ_CHECK_EQ (sq_bans_active (bans, 1000), 1);
    sq_bans_expire (bans, 2999);
    SQ_CHECK_EQ (sq_bans_count (bans), 2);
    sq_bans_expire (bans, 3000);
    SQ_CHECK_EQ (sq_bans_count (bans), 1);          //  10.0.0.9 forgotten
    sq_bans_destroy (&bans);
}

static void
s_count (const sq_ban_t *ban, void *argument)
{
    SQ_CHECK (ban->failures >= 1);
    (*(int *) argument)++;
}

static void
test_each (void)
{
    sq_bans_t *bans = sq_bans_new ();
    for (int index = 0; index < 50; index++) {
        char key [16];
        snprintf (key, sizeof key, "10.0.1.%d", index);
        sq_bans_fail (bans, key, 1000, 8000, 0);
    }
    int seen = 0;
    sq_bans_each (bans, s_count, &seen);
    SQ_CHECK_EQ (seen, 50);
    sq_bans_destroy (&bans);
}

static void
test_tally (void)
{
    sq_tally_t *tally = sq_tally_new ();
    SQ_CHECK_EQ (sq_tally_get (tally, "10.0.0.1"), 0);
    SQ_CHECK (sq_tally_up (tally, "10.0.0.1"));
    SQ_CHECK (sq_tally_up (tally, "10.0.0.1"));
    SQ_CHECK (sq_tally_up (tally, "10.0.0.2"));
    SQ_CHECK_EQ (sq_tally_get (tally, "10.0.0.1"), 2);
    SQ_CHECK_EQ (sq_tally_keys (tally), 2);
    sq_tally_down (tally, "10.0.0.1");
    sq_tally_down (tally, "10.0.0.1");
    sq_tally_down (tally, "10.0.0.1");          //  One too many: no harm
    SQ_CHECK_EQ (sq_tally_get (tally, "10.0.0.1"), 0);
    SQ_CHECK_EQ (sq_tally_keys (tally), 1);
    sq_tally_destroy (&tally);
    SQ_CHECK (tally == NULL);
}

int
main (void)
{
    SQ_RUN (test_doubling_to_the_cap);
    SQ_RUN (test_off_and_odd_caps);
    SQ_RUN (test_clear_and_forget);
    SQ_RUN (test_each);
    SQ_RUN (test_tally);
    return sq_test_summary ();
}
