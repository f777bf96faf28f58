/* tests/test_error.c - the error object and log level parsing. */
#include <criterion/criterion.h>
#include <string.h>

#include "socfw/error.h"
#include "socfw/log.h"

Test(error, set_returns_code_and_formats_location)
{
        socfw_error err = {0};
        int rc = socfw_error_set_at(&err, SOCFW_ESCHEMA, "p.yaml", 3, 7,
                                    "unknown key '%s'", "lr");
        cr_assert_eq(rc, SOCFW_ESCHEMA);
        char buf[256];
        cr_assert_str_eq(socfw_error_string(&err, buf, sizeof buf),
                         "p.yaml:3:7: unknown key 'lr'");
}

Test(error, first_error_wins_and_prefix_adds_context)
{
        socfw_error err = {0};
        socfw_error_set(&err, SOCFW_EIO, "cannot open x");
        socfw_error_set(&err, SOCFW_EINVAL, "later");
        cr_assert_eq(err.code, SOCFW_EIO);
        socfw_error_prefix(&err, SOCFW_EINVAL, "loading model");
        cr_assert_str_eq(err.message, "loading model: cannot open x");
        cr_assert_eq(err.code, SOCFW_EIO);
}

Test(error, null_error_is_allowed)
{
        cr_assert_eq(socfw_error_set(NULL, SOCFW_ENOMEM, "x"), SOCFW_ENOMEM);
}

Test(error, messages_stay_on_one_line)
{
        socfw_error err = {0};
        socfw_error_set(&err, SOCFW_EINVAL, "a\nb");
        cr_assert_str_eq(err.message, "a b");
}

Test(log, level_names_parse)
{
        cr_assert_eq(socfw_log_level_parse("debug"), SOCFW_LOG_LEVEL_DEBUG);
        cr_assert_eq(socfw_log_level_parse("WARN"), SOCFW_LOG_LEVEL_WARN);
        cr_assert_eq(socfw_log_level_parse("loud"), -1);
        cr_assert_eq(socfw_log_level_parse(NULL), -1);
}
