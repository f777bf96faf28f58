/* tests/test_tagging.c - being written */
#include <criterion/criterion.h>
