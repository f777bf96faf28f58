/* tests/test_pretrain.c - being written */
#include <criterion/criterion.h>
